package netspec

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/netspec/netspec/fsm/stack"
)

// traceTo installs the stack's journey tracer when anything wants the
// records: Options.Trace (a line per frame to the Logger), Options.Tracer,
// or the capture (Options.Pcap: each received frame is captured after the
// stack processed it, its trace line as the packet comment). It runs before
// the event loops start. WatchTrace adds to it later.
func (s *Stack) traceTo(o *Options) {
	capture, log, user := s.capture, s.log, o.Tracer
	if capture == nil && !o.Trace && user == nil {
		return
	}
	if capture != nil {
		capture.InAfter = true
	}
	if user != nil && len(s.shards) > 1 {
		// Several loops trace at once; the caller's function is called
		// by one at a time.
		var mu sync.Mutex
		one := user
		user = func(t *stack.Trace) {
			mu.Lock()
			defer mu.Unlock()
			one(t)
		}
	}
	s.watch.bases = make([]func(*stack.Trace), len(s.shards))
	for i := range s.shards {
		line := make([]byte, 0, 256)
		s.watch.bases[i] = func(t *stack.Trace) {
			if capture != nil || o.Trace { // the line is formatted only for them
				line = t.AppendLine(line[:0])
			}
			if capture != nil {
				capture.CaptureIn(t.Time, t.Frame, string(line))
			}
			if o.Trace {
				log.Info("trace", "frame", string(line))
			}
			if user != nil {
				user(t)
			}
		}
	}
	for i, sh := range s.shards {
		sh.st.SetTracer(s.watch.tracer(i))
	}
}

// TraceRecord is the JSON form of one frame's journey (stack.Trace) that
// AppendTraceJSON writes, one object per line (serve --trace-json).
type TraceRecord struct {
	ID      uint64      `json:"id"`
	Time    time.Time   `json:"time"`
	Len     int         `json:"len"`
	Line    string      `json:"line"`
	Src     string      `json:"src,omitempty"`
	Dst     string      `json:"dst,omitempty"`
	Proto   uint8       `json:"proto,omitempty"`
	SrcPort uint16      `json:"sport,omitempty"`
	DstPort uint16      `json:"dport,omitempty"`
	Flags   string      `json:"flags,omitempty"`
	Payload int         `json:"payload,omitempty"`
	Rows    []TraceStep `json:"rows"`
	Drop    *TraceDrop  `json:"drop,omitempty"`
	Sent    []string    `json:"sent,omitempty"` // flags of the TCP segments sent in answer
	Frames  int         `json:"frames_sent,omitempty"`
}

// TraceStep is one spec row that fired, in TraceRecord.
type TraceStep struct {
	Machine string `json:"machine"`
	Src     string `json:"spec"`
	Anchor  string `json:"rfc"`
	State   string `json:"state"`
	Event   string `json:"event"`
	Next    string `json:"next"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// TraceDrop is the typed drop reason of a frame and the layer that decided it.
type TraceDrop struct {
	Layer  string `json:"layer"`
	Reason string `json:"reason"`
}

// NewTraceRecord converts t (valid only during the tracer's call) into a
// record that stays valid.
func NewTraceRecord(t *stack.Trace) TraceRecord {
	r := TraceRecord{ID: t.ID, Time: t.Time, Len: t.Len, Line: string(t.AppendLine(nil)), Rows: make([]TraceStep, len(t.Rows)), Frames: t.SentFrames}
	if t.HasIP {
		r.Src, r.Dst, r.Proto = t.Src.String(), t.Dst.String(), t.Proto
	}
	if t.HasPorts {
		r.SrcPort, r.DstPort = t.SrcPort, t.DstPort
	}
	if t.Flags != 0 {
		r.Flags, r.Payload = strings.ReplaceAll(t.Flags.String(), "|", ","), t.Payload
	}
	for i, w := range t.Rows {
		r.Rows[i] = TraceStep{w.Machine(), w.Src(), w.Anchor(), w.State(), w.Event(), w.Next(), w.Outcome().String(), w.Reason()}
	}
	if t.Dropped() {
		r.Drop = &TraceDrop{t.Drop.Layer, t.Drop.Reason}
	}
	for _, f := range t.Sent[:t.NSent] {
		r.Sent = append(r.Sent, strings.ReplaceAll(f.String(), "|", ","))
	}
	return r
}

// AppendTraceJSON appends t as one line of JSON (a TraceRecord and a
// newline) to b.
func AppendTraceJSON(b []byte, t *stack.Trace) []byte {
	j, err := json.Marshal(NewTraceRecord(t))
	if err != nil { // a TraceRecord always marshals
		return b
	}
	return append(append(b, j...), '\n')
}
