package observe

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netspec/netspec/fsm/stack"
)

// LiveOptions bound a Live; each zero field takes its default.
type LiveOptions struct {
	// Interval is the time between two events of a stream (default 1 s).
	Interval time.Duration
	// MaxClients is how many streams may run at once (default 16); one
	// more is refused with 503 and counted (Live.Refused).
	MaxClients int
	// TraceLines is how many of the last frames' traces are kept and sent
	// as lines (default 64, at most 1024).
	TraceLines int
	// MaxSockets is how many sockets one event lists (default 256); the
	// rest are counted in LiveEvent.MoreSockets.
	MaxSockets int
	// WriteTimeout bounds the write of one event: a client that stops
	// reading is dropped after it (default 10 s).
	WriteTimeout time.Duration
}

func (o LiveOptions) withDefaults() LiveOptions {
	def := func(v *int, d, most int) {
		if *v <= 0 {
			*v = d
		}
		*v = min(*v, most)
	}
	def(&o.MaxClients, 16, 1<<10)
	def(&o.TraceLines, 64, 1<<10)
	def(&o.MaxSockets, 256, 1<<14)
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	return o
}

// topRules is how many of the most fired spec rows an event names.
const topRules = 12

// LiveEvent is the data of one server-sent event of a Live stream: a
// snapshot cut to what a page shows (the counters that are not zero, the
// sockets, the sockets per state, the most fired spec rows) and the last
// trace lines.
type LiveEvent struct {
	Time        time.Time      `json:"time"`
	Addr        string         `json:"addr"`
	States      map[string]int `json:"states"`  // TCP sockets by state (tcp.State's name)
	Sockets     []Socket       `json:"sockets"` // at most LiveOptions.MaxSockets
	MoreSockets int            `json:"more_sockets,omitempty"`
	Counters    []Counter      `json:"counters"` // those not zero, in the snapshot's order
	Groups      []string       `json:"groups"`   // the counters' groups in netstat -s order
	Rules       []RuleHits     `json:"rules"`    // the most fired spec rows, most first
	Trace       []string       `json:"trace"`    // the last trace lines, oldest first
	Traced      uint64         `json:"traced"`   // frames traced while a stream watched
	Clients     int            `json:"clients"`  // streams open now
}

// Live serves a live view of a stack as server-sent events
// (text/event-stream): every Interval an event "snapshot" whose data is a
// LiveEvent in JSON. The snapshot comes from snap (Stack.Snapshot); the
// trace lines from watch (Stack.WatchTrace), which Live calls only while a
// stream is open, so that a stack nobody watches does not trace. Streams
// are bounded in number, and each ends when its client leaves, when a
// write stalls past WriteTimeout, or at Close.
type Live struct {
	snap  func() (Snapshot, error)
	watch func(func(*stack.Trace)) (func(), error)
	opt   LiveOptions
	ring  traceRing

	mu        sync.Mutex
	clients   int
	stopWatch func() // while clients > 0 and watch is set
	closed    bool
	done      chan struct{}
	wg        sync.WaitGroup // the open streams
	refused   atomic.Uint64

	evMu   sync.Mutex
	ev     []byte // the last event's data
	evTime time.Time
}

// NewLive returns a Live reading snap and, if watch is not nil, the trace.
func NewLive(snap func() (Snapshot, error), watch func(func(*stack.Trace)) (func(), error), opt LiveOptions) *Live {
	opt = opt.withDefaults()
	l := &Live{snap: snap, watch: watch, opt: opt, done: make(chan struct{})}
	l.ring.slots = make([]traceSlot, opt.TraceLines)
	return l
}

// ErrLiveClosed is the 503 of a stream asked for after Close.
var ErrLiveClosed = errors.New("live view closed")

// ServeHTTP streams events to one client until it leaves, a write fails
// or stalls, or Close.
func (l *Live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	if err := l.join(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer l.leave()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	tick := time.NewTicker(l.opt.Interval)
	defer tick.Stop()
	for {
		if err := l.send(w, rc); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-l.done:
			return
		case <-tick.C:
		}
	}
}

// errTooMany is the 503 of a stream beyond MaxClients.
var errTooMany = errors.New("too many live streams open")

// join counts a new stream, and starts watching the trace for the first.
func (l *Live) join() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrLiveClosed
	}
	if l.clients >= l.opt.MaxClients {
		l.refused.Add(1)
		return errTooMany
	}
	l.clients++
	l.wg.Add(1)
	if l.clients == 1 && l.watch != nil {
		if stop, err := l.watch(l.ring.add); err == nil {
			l.stopWatch = stop
		}
	}
	return nil
}

// leave uncounts a stream, and stops watching the trace after the last.
func (l *Live) leave() {
	l.mu.Lock()
	l.clients--
	if l.clients == 0 && l.stopWatch != nil {
		l.stopWatch()
		l.stopWatch = nil
	}
	l.mu.Unlock()
	l.wg.Done()
}

// send writes one event, bounded by WriteTimeout.
func (l *Live) send(w http.ResponseWriter, rc *http.ResponseController) error {
	data, err := l.event()
	if err != nil {
		return err
	}
	// Not every ResponseWriter has deadlines (a recorder); the stream
	// still ends with its client or Close.
	if err := rc.SetWriteDeadline(time.Now().Add(l.opt.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	buf := make([]byte, 0, len(data)+32)
	buf = append(append(append(buf, "event: snapshot\ndata: "...), data...), "\n\n"...)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	return rc.Flush()
}

// event returns the data of the current event: taken anew at most once per
// half Interval, whatever the number of streams, so that streams cost the
// event loop one snapshot per interval.
func (l *Live) event() ([]byte, error) {
	l.evMu.Lock()
	defer l.evMu.Unlock()
	if l.ev != nil && time.Since(l.evTime) < l.opt.Interval/2 {
		return l.ev, nil
	}
	s, err := l.snap()
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(l.cut(s))
	if err != nil {
		return nil, err
	}
	l.ev, l.evTime = data, time.Now()
	return data, nil
}

// cut makes the event of snapshot s.
func (l *Live) cut(s Snapshot) LiveEvent {
	e := LiveEvent{Time: s.Time, Addr: s.Addr, States: map[string]int{}, Counters: []Counter{}, Rules: []RuleHits{},
		Groups: append(Groups[:len(Groups):len(Groups)], "Other")}
	for _, so := range s.Sockets {
		e.States[so.State]++
	}
	e.Sockets = s.Sockets[:min(len(s.Sockets), l.opt.MaxSockets)]
	e.MoreSockets = len(s.Sockets) - len(e.Sockets)
	if e.Sockets == nil {
		e.Sockets = []Socket{}
	}
	for _, c := range s.Counters {
		if c.Value != 0 {
			e.Counters = append(e.Counters, c)
		}
	}
	for _, r := range s.Rules {
		if r.Hits != 0 {
			e.Rules = append(e.Rules, r)
		}
	}
	slices.SortStableFunc(e.Rules, func(a, b RuleHits) int { return cmp.Compare(b.Hits, a.Hits) })
	e.Rules = e.Rules[:min(len(e.Rules), topRules)]
	e.Trace, e.Traced = l.ring.last()
	l.mu.Lock()
	e.Clients = l.clients
	l.mu.Unlock()
	return e
}

// Clients returns how many streams are open.
func (l *Live) Clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clients
}

// Refused returns how many streams were refused for MaxClients.
func (l *Live) Refused() uint64 { return l.refused.Load() }

// Close ends every stream and waits until their handlers returned; later
// streams are refused (503). Idempotent.
func (l *Live) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// traceRing keeps the last traces in slots that are reused. A frame's
// record is copied (its rows are numbers, fsm/stack TraceRow) and its line
// formatted only when an event is made, so that a watched stack pays a copy
// per traced frame and allocates nothing (BenchmarkSegmentWatched in the
// root package).
type traceRing struct {
	mu    sync.Mutex
	slots []traceSlot
	n     uint64 // traces added
	line  []byte // last's scratch
}

// traceSlot is one kept trace: the record without its frame, and its rows.
type traceSlot struct {
	t    stack.Trace
	rows [stack.MaxTraceRows]stack.TraceRow
}

// add keeps a copy of t; it runs inside the event loop.
func (r *traceRing) add(t *stack.Trace) {
	r.mu.Lock()
	sl := &r.slots[r.n%uint64(len(r.slots))]
	sl.t = *t
	sl.t.Frame = nil // the driver's buffer, valid during the call only
	sl.t.Rows = sl.rows[:copy(sl.rows[:], t.Rows)]
	r.n++
	r.mu.Unlock()
}

// last returns the lines of the traces kept, oldest first, and how many
// were added.
func (r *traceRing) last() ([]string, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := uint64(len(r.slots))
	out := make([]string, 0, min(r.n, k))
	for i := r.n - min(r.n, k); i < r.n; i++ {
		r.line = r.slots[i%k].t.AppendLine(r.line[:0])
		out = append(out, string(r.line))
	}
	return out, r.n
}
