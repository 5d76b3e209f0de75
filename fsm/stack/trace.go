package stack

import (
	"time"

	"github.com/netspec/netspec/fsm/fsmrt"
	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/link"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// MaxTraceRows is how many fired spec rows one Trace keeps; later rows are
// counted in Trace.RowsLost.
const MaxTraceRows = 24

// maxTraceSent is how many sent TCP segments one Trace names.
const maxTraceSent = 8

// Trace is the journey of one received frame through the layers: the
// link's classification, the spec rows of ipv4.fsm, frag.fsm, arp.fsm and
// tcp.fsm that fired for it (each with its spec line and RFC clause), the
// first typed drop reason, and what the stack sent in answer while it
// processed the frame. Stack.SetTracer hands one to its function after each
// Input; the record is reused, so it and Frame are valid only during that
// call.
type Trace struct {
	ID    uint64    // the frame's number: Stack's FramesIn, from 1 (package netspec numbers several loops' frames from one counter)
	Time  time.Time // the driver's receive time (Input's now)
	Len   int       // the frame's length in octets
	Frame []byte    // the frame as received (valid during the call only)

	// Link: the Ethernet classification (link.Receive).
	EtherType wire.EtherType
	VLAN      bool // an 802.1Q tag was stripped

	// The headers the frame claims, read whatever the verdict: HasIP for
	// an IPv4 header of at least 20 octets, HasPorts when a TCP or UDP
	// header's ports follow it (Flags: the TCP control bits).
	HasIP, HasPorts  bool
	Src, Dst         wire.Addr
	Proto            uint8
	SrcPort, DstPort uint16
	Flags            wire.TCPFlags
	Payload          int // TCP payload octets the segment claims

	Rows     []TraceRow // the rows that fired, in order (at most MaxTraceRows)
	RowsLost int        // rows fired beyond MaxTraceRows

	// Drop is the first drop decided for the frame: Layer is "eth",
	// "arp", "ip", "frag", "stack" or "tcp" and Reason the typed reason's
	// name (link.Reason, ip.RxReason, ip.FragReason, link.ARPReason,
	// tcp.Reason). Both empty when nothing dropped it.
	Drop TraceDrop

	// Sent: the flags of the TCP segments sent while the frame was
	// processed (the first maxTraceSent), and how many frames were
	// queued for the driver meanwhile (TCP, ICMP, ARP alike). ACKs a
	// batch holds (BeginBatch) leave at EndBatch and are not counted.
	Sent       [maxTraceSent]wire.TCPFlags
	NSent      int
	SentFrames int
}

// TraceRow is one spec row that fired, recorded as numbers while the frame
// is processed: its machine, its index in that machine's generated rules
// (tcp.Rules, ip.RxRules, ip.FragRules, link.ARPRules), the states of its
// cell and after it, and its outcome. Its methods read the row's spec line,
// RFC clause and names from the generated tables when a line is written.
type TraceRow struct {
	machine     traceMachine
	acts        bool // the row has actions
	state, next uint8
	outcome     fsmrt.Outcome
	id          uint16
}

// traceMachine names the machine of a TraceRow.
type traceMachine uint8

const (
	traceIPv4 traceMachine = iota
	traceFrag
	traceARP
	traceTCP
)

var traceMachineNames = [...]string{traceIPv4: "ipv4", traceFrag: "frag", traceARP: "arp", traceTCP: "tcp"}

// Machine returns the row's machine: "ipv4", "frag", "arp" or "tcp".
func (w TraceRow) Machine() string { return traceMachineNames[w.machine&3] }

// ID returns the row's index in its machine's generated rules (its ID).
func (w TraceRow) ID() uint16 { return w.id }

// Outcome returns what the row did with the input.
func (w TraceRow) Outcome() fsmrt.Outcome { return w.outcome }

// Src returns the row's spec line ("spec/tcp.fsm:118").
func (w TraceRow) Src() string { return w.text(false).src }

// Anchor returns the row's RFC clause ("RFC9293:3.10.7.2").
func (w TraceRow) Anchor() string { return w.text(false).anchor }

// State returns the state of the row's cell, as the spec names it.
func (w TraceRow) State() string { return w.text(true).state }

// Event returns the event of the row's cell, as the spec names it.
func (w TraceRow) Event() string { return w.text(true).event }

// Next returns the state the row moves to, as the spec names it.
func (w TraceRow) Next() string { return w.text(true).next }

// Reason returns the drop reason of a drop row, "" for any other.
func (w TraceRow) Reason() string { return w.text(true).reason }

// changes reports whether the row moves its machine to another state.
func (w TraceRow) changes() bool { return w.state != w.next }

// rowText is what a generated row says, as its strings.
type rowText struct{ src, anchor, state, event, next, reason string }

// text looks the row up in its machine's generated rules: its spec line
// and RFC clause, and with names its state, event, next and reason names.
func (w TraceRow) text(names bool) rowText {
	switch w.machine {
	case traceIPv4:
		return textOf(ip.RxRules[:], w.id, names)
	case traceFrag:
		return textOf(ip.FragRules[:], w.id, names)
	case traceARP:
		return textOf(link.ARPRules[:], w.id, names)
	case traceTCP:
		return textOf(tcp.Rules[:], w.id, names)
	}
	return rowText{}
}

// textOf returns the strings of rules[id] (none for an id beyond them).
func textOf[S, E, G, A, R, P fsmrt.Enum](rules []fsmrt.Rule[S, E, G, A, R, P], id uint16, names bool) rowText {
	if int(id) >= len(rules) {
		return rowText{}
	}
	r := &rules[id]
	t := rowText{src: r.Src, anchor: r.Anchor}
	if names {
		t.state, t.event, t.next = r.State.String(), r.Event.String(), r.Next.String()
		if r.Outcome == fsmrt.OutDrop {
			t.reason = r.Reason.String()
		}
	}
	return t
}

// TraceDrop is a typed drop reason and the layer that decided it.
type TraceDrop struct{ Layer, Reason string }

// Dropped reports whether the frame was dropped.
func (t *Trace) Dropped() bool { return t.Drop.Reason != "" }

// tracer feeds the Trace of the frame being processed from the layers'
// hooks; on is set only during a traced Input, so rows fired by timers and
// user calls are not recorded.
type tracer struct {
	fn    func(*Trace)
	on    bool
	qlen  int // output queue length when Input began
	t     Trace
	nrows int                    // rows recorded for the frame (Trace.Rows is set at its end)
	rows  [MaxTraceRows]TraceRow // Trace.Rows' array
}

// SetTracer makes the stack record every received frame's journey and pass
// it to fn at the end of each Input (fn must not keep the *Trace nor call
// the stack); nil stops it. The layers' hooks are installed only while a
// tracer is set, so without one tracing costs a comparison per hook site
// and allocates nothing (BenchmarkInputTrace).
func (s *Stack) SetTracer(fn func(*Trace)) {
	if fn == nil {
		s.tr = nil
		s.port.SetClassify(nil)
		s.port.ARP().SetHooks(link.ARPMachineHooks{})
		s.ipRx.SetHooks(ip.RxHooks{}, ip.FragHooks{})
		s.tcp.SetHooks(tcp.Hooks{})
		return
	}
	tr := &tracer{fn: fn}
	s.tr = tr
	s.port.SetClassify(tr.classify)
	s.port.ARP().SetHooks(link.ARPMachineHooks{
		Row:  func(r *link.ARPRule) { addRow(tr, traceARP, r) },
		Drop: func(r link.ARPReason) { dropOf(tr, "arp", r) },
	})
	s.ipRx.SetHooks(ip.RxHooks{
		Row:  func(r *ip.RxRule) { addRow(tr, traceIPv4, r) },
		Drop: func(r ip.RxReason) { dropOf(tr, "ip", r) },
	}, ip.FragHooks{
		Row:  func(r *ip.FragRule) { addRow(tr, traceFrag, r) },
		Drop: func(r ip.FragReason) { dropOf(tr, "frag", r) },
	})
	s.tcp.SetHooks(tcp.Hooks{
		Row: func(r *tcp.Rule) { addRow(tr, traceTCP, r) },
		Drop: func(r tcp.Reason) {
			if r != tcp.ReasonNone {
				dropOf(tr, "tcp", r)
			}
		},
	})
}

// inputTraced is Input with the frame's Trace recorded and handed over.
func (s *Stack) inputTraced(now time.Time, frame []byte, meta RxMeta) {
	tr := s.tr
	t := &tr.t
	*t = Trace{ID: s.ctr.FramesIn, Time: now, Len: len(frame), Frame: frame}
	tr.qlen = s.port.Queue().Len()
	tr.nrows = 0
	tr.on = true
	s.input(now, frame, meta)
	tr.on = false
	t.Rows = tr.rows[:tr.nrows]
	t.SentFrames = max(0, s.port.Queue().Len()-tr.qlen)
	tr.fn(t)
	t.Frame = nil
}

// classify records the link's verdict and the headers the frame claims.
func (tr *tracer) classify(f link.Frame) {
	if !tr.on {
		return
	}
	t := &tr.t
	t.EtherType, t.VLAN = f.Type, f.VLAN
	if f.Reason != link.ReasonNone {
		tr.drop("eth", f.Reason.String())
		return
	}
	p := wire.IPv4(f.Payload)
	if f.Type != wire.EtherTypeIPv4 || len(p) < wire.IPv4MinHeaderLen {
		return
	}
	t.HasIP, t.Src, t.Dst, t.Proto = true, p.Src(), p.Dst(), p.Protocol()
	hl := p.IHL()
	if p.FragOffset() != 0 || hl < wire.IPv4MinHeaderLen || len(p) < hl+4 {
		return
	}
	if t.Proto == wire.ProtoTCP || t.Proto == wire.ProtoUDP {
		h := p[hl:]
		t.HasPorts = true
		t.SrcPort, t.DstPort = uint16(h[0])<<8|uint16(h[1]), uint16(h[2])<<8|uint16(h[3])
		if t.Proto == wire.ProtoTCP && len(h) > 13 {
			t.Flags = wire.TCPFlags(h[13])
			t.Payload = max(0, min(int(p.TotalLen()), len(p))-hl-int(h[12]>>4)*4)
		}
	}
}

// drop records the first drop of the frame.
func (tr *tracer) drop(layer, reason string) {
	if tr.on && tr.t.Drop.Reason == "" {
		tr.t.Drop = TraceDrop{layer, reason}
	}
}

// sent records a TCP segment sent while the frame is processed.
func (tr *tracer) sent(seg []byte) {
	if t := &tr.t; tr.on && t.NSent < len(t.Sent) && len(seg) > 13 {
		t.Sent[t.NSent] = wire.TCPFlags(seg[13])
		t.NSent++
	}
}

// addRow records a row of any machine: its numbers only, into the
// tracer's array (no pointer is written, nothing formatted).
func addRow[S, E, G, A, R, P fsmrt.Enum](tr *tracer, m traceMachine, r *fsmrt.Rule[S, E, G, A, R, P]) {
	if !tr.on {
		return
	}
	n := tr.nrows
	if n >= len(tr.rows) {
		tr.t.RowsLost++
		return
	}
	tr.rows[n] = TraceRow{machine: m, id: r.ID, state: uint8(r.State), next: uint8(r.Next), outcome: r.Outcome, acts: len(r.Actions) > 0}
	tr.nrows = n + 1
}

// dropOf records reason as the frame's drop if it is the first; the
// reason's name is looked up only then.
func dropOf[R fsmrt.Enum](tr *tracer, layer string, reason R) {
	if tr.on && tr.t.Drop.Reason == "" {
		tr.t.Drop = TraceDrop{layer, reason.String()}
	}
}

// traceDrop records a drop the stack's dispatch decides (layer "stack").
func (s *Stack) traceDrop(reason string) {
	if s.tr != nil {
		s.tr.drop("stack", reason)
	}
}
