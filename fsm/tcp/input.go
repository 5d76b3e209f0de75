package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// segment is the context of one table run: an arriving segment (after
// parsing and, from step 1 on, trimming to the window) or a user call.
type segment struct {
	now      time.Time
	at       tick // now in the layer's ticks (tick.go)
	src, dst wire.Addr
	sport    uint16
	dport    uint16
	seq      seqnum.Value // SEG.SEQ; after TrimToWindow, that of the first text octet
	origSeq  seqnum.Value // SEG.SEQ as received
	ack      seqnum.Value // SEG.ACK
	segLen   uint32       // SEG.LEN as received (SYN and FIN count)
	flags    wire.TCPFlags
	wnd      uint16   // SEG.WND field, unscaled
	up       uint16   // SEG.UP
	text     []byte   // segment text; trimmed to the window by TrimToWindow
	more     [][]byte // a coalesced segment's text after text, in order (gro.go); nil for a segment received alone
	moreLen  int      // octets in more
	maxPiece int      // a coalesced segment's largest text as received (pieceLen)
	opts     wire.TCPOptions
	tos      uint8 // the IP TOS octet it arrived with (SegMeta.TOS)
	unres    bool  // the next hop back is not resolved yet (SegMeta.Unresolved)
	reopen   bool  // Reopen: hand the segment to the listener after the TCB is gone
	advanced bool  // AckAdvance moved SND.UNA: the segment's window is current

	// User calls.
	buf []byte
	n   int
	err error
}

// run applies event ev to c through the layer's machine (fsmrt): the first
// rule of the (state, event) cell, in the layer's profile (Config.Profile),
// whose conditions all hold performs its actions and is counted (RuleHits, and
// Drops under its reason); c moves to its next state and the rule's outcome
// is returned.
func (l *Layer) run(c *Conn, ev Event, s *segment) Outcome {
	if r := l.m.Step(tcpRun{c, s}, c.state, ev); r != nil {
		c.setState(r.Next)
		c.rule = r.ID + 1
		return r.Outcome
	}
	// Unreachable: spec.Check proves every cell ends in an unconditional rule.
	l.m.Drop(ReasonNone)
	return OutDrop
}

// tcpRun is the context of one step of the table: the connection and the
// segment (or user call) being processed. Its methods are the guards
// (guards.go) and actions (actions.go) of spec/tcp.fsm (Impl).
type tcpRun struct {
	c *Conn
	s *segment
}

// unsynchronized reports whether SEGMENT ARRIVES starts at SegPre in st
// (RFC 9293 §3.10.7.1-3: CLOSED, LISTEN, SYN-SENT).
func unsynchronized(st State) bool {
	return st == StateClosed || st == StateListen || st == StateSynSent
}

// FirstStage returns the event SEGMENT ARRIVES (RFC 9293 §3.10.7) starts at
// in state st: SegPre in the unsynchronized states, SegSeq (step 1 of
// §3.10.7.4) in the others. The model checker runs the pipeline with it and
// NextStage.
func FirstStage(st State) Event {
	if unsynchronized(st) {
		return EvSegPre
	}
	return EvSegSeq
}

// NextStage returns the stage that runs after ev when ev's row says
// continue: SegPre resumes at SegUrg (§3.10.7.3 step 4: "continue processing
// at the sixth step"), SegSeq..SegText go on in order (§3.10.7.4 steps 1-8),
// and after SegFin the pipeline ends (ok false).
func NextStage(ev Event) (next Event, ok bool) {
	switch ev {
	case EvSegPre:
		return EvSegUrg, true
	case EvSegFin:
		return ev, false
	}
	return ev + 1, true
}

// decisiveRank ranks a row that fired in state from as the row that decided
// a segment, as the journey trace names it (fsm/stack Trace.AppendLine): a
// drop row first, then one that changed the state, then one with actions,
// then any; of equal ranks the last.
func decisiveRank(r *Rule, from State) int8 {
	switch {
	case r.Outcome == OutDrop:
		return 3
	case r.Next != from:
		return 2
	case len(r.Actions) > 0:
		return 1
	}
	return 0
}

// segmentArrives runs the SEGMENT ARRIVES pipeline (RFC 9293 §3.10.7) on c.
func (l *Layer) segmentArrives(c *Conn, s *segment) {
	ev := FirstStage(c.state)
	rank := int8(-1) // of the row c.rule names: the one that decided s so far
	for {
		// l.run, written out: this loop runs a step per stage of every
		// segment, and a call less per step is measurable (BenchmarkSegment).
		from := c.state
		r := l.m.Step(tcpRun{c, s}, from, ev)
		if r == nil {
			l.m.Drop(ReasonNone) // unreachable, as in run
			break
		}
		c.setState(r.Next)
		if k := decisiveRank(r, from); k >= rank {
			rank, c.rule = k, r.ID+1
		}
		if r.Outcome != OutContinue {
			break
		}
		var more bool
		if ev, more = NextStage(ev); !more {
			return
		}
	}
	// A FIN held beyond a hole is processed once the hole fills (step 8).
	if c.rcv.finHeld && !c.rcv.finRcvd && c.tcb.RcvNxt == c.rcv.finHeldSeq && !unsynchronized(c.state) {
		c.rcv.finHeld = false
		f := segment{now: s.now, at: s.at, seq: c.rcv.finHeldSeq, origSeq: c.rcv.finHeldSeq, ack: c.tcb.SndUna, segLen: 1, flags: wire.FlagFIN | wire.FlagACK}
		l.run(c, EvSegFin, &f)
	}
}

// Input processes one received TCP segment (header and payload; may exceed
// the MSS). csumOK says the checksum was already verified (or is pending from
// a local sender's offload); otherwise Input verifies it (MUST-3).
func (l *Layer) Input(now time.Time, src, dst wire.Addr, seg []byte, csumOK bool) {
	l.InputIP(now, src, dst, SegMeta{}, seg, csumOK)
}

func (l *Layer) input(now time.Time, src, dst wire.Addr, meta SegMeta, seg []byte, csumOK bool) {
	l.now = now
	l.ctr.SegsIn++
	t, err := wire.ParseTCP(seg)
	if err != nil {
		l.m.Drop(DropMalformed)
		return
	}
	if !csumOK && !wire.TCPChecksumValid(seg, src, dst) {
		l.m.Drop(DropChecksum)
		return
	}
	if t.Validate() != nil || t.SrcPort() == 0 || t.DstPort() == 0 {
		l.m.Drop(DropMalformed)
		return
	}
	s := &l.seg
	*s = segment{
		now:     now,
		at:      l.tick(now),
		src:     src,
		dst:     dst,
		sport:   t.SrcPort(),
		dport:   t.DstPort(),
		seq:     seqnum.Value(t.Seq()),
		origSeq: seqnum.Value(t.Seq()),
		ack:     seqnum.Value(t.Ack()),
		segLen:  uint32(t.SegLen()),
		flags:   t.Flags(),
		wnd:     t.Window(),
		up:      t.Urgent(),
		text:    t.Payload(),
		tos:     meta.TOS,
		unres:   meta.Unresolved,
	}
	if wire.ParseTCPOptions(t.Options(), &s.opts) != nil { // MUST-7
		l.m.Drop(DropMalformed)
		return
	}
	// MUST-57, MUST-63: no connection from or to a broadcast or multicast address.
	if src.IsMulticast() || src.IsLimitedBroadcast() || src.IsUnspecified() || dst.IsMulticast() || dst.IsLimitedBroadcast() {
		l.m.Drop(DropBadAddress)
		return
	}
	if meta.Stable && l.groStart(s, seg[:t.DataOffset()]) {
		return // held: the next segments of its run may join it (gro.go)
	}
	l.dispatch(now, s)
}

// dispatch finds the TCB for s: a connection, else a listener, else CLOSED.
func (l *Layer) dispatch(now time.Time, s *segment) {
	if c := l.demux[connKey{s.dst, s.src, s.dport, s.sport}]; c != nil {
		c.rcv.tos = s.tos // MAY-9
		c.rcv.noteDuplicate(s)
		l.segmentArrives(c, s)
		l.finish(c, now)
		l.reopen(now, s)
		return
	}
	if r := l.tw[connKey{s.dst, s.src, s.dport, s.sport}]; r != nil {
		l.twInput(now, r, s)
		l.reopen(now, s)
		return
	}
	if ln := l.listener(s.dst, s.dport); ln != nil {
		l.listenInput(now, ln, s)
		return
	}
	c := &l.scratch
	l.initConn(c)
	c.key = connKey{s.dst, s.src, s.dport, s.sport}
	l.segmentArrives(c, s)
}

// reopen hands s to the listener once a TIME-WAIT TCB released the 4-tuple
// for it (RFC 9293 §3.10.7.4 TIME-WAIT, MAY-2; the Reopen action).
func (l *Layer) reopen(now time.Time, s *segment) {
	if !s.reopen {
		return
	}
	s.reopen = false
	if ln := l.listener(s.dst, s.dport); ln != nil {
		l.listenInput(now, ln, s)
	}
}

// listener returns the listener for (addr, port), exact address first.
func (l *Layer) listener(addr wire.Addr, port uint16) *Listener {
	if ln := l.listeners[listenKey{addr, port}]; ln != nil {
		return ln
	}
	return l.listeners[listenKey{wire.Addr{}, port}]
}

// listenInput runs SEGMENT ARRIVES in LISTEN on a copy of the listener's TCB
// with the foreign socket filled in (RFC 9293 §3.10.7.2). If the copy reaches
// SYN-RECEIVED it becomes a new connection.
func (l *Layer) listenInput(now time.Time, ln *Listener, s *segment) {
	full := s.flags&(wire.FlagSYN|wire.FlagRST|wire.FlagACK) == wire.FlagSYN && l.nconns() >= l.cfg.MaxConns
	if full && len(l.twHeap) == 0 {
		l.m.Drop(DropTooManyConns)
		return
	}
	c := &l.scratch
	l.initConn(c)
	c.state = StateListen
	c.key = connKey{s.dst, s.src, s.dport, s.sport}
	c.ln = ln
	c.passive = true
	c.tos, c.ttl = ln.tcb.tos, ln.tcb.ttl // SHLD-21: children inherit the listener's
	c.rcv.tos = s.tos
	if full && !l.twRecycle(now, c, s) {
		l.m.Drop(DropTooManyConns)
		return
	}
	l.segmentArrives(c, s)
	if c.state == StateListen || c.state == StateClosed {
		return
	}
	nc := new(Conn)
	*nc = *c
	nc.bindParts()
	l.insert(nc)
	l.ctr.PassiveOpens++
	if nc.state == StateSynReceived {
		ln.embryos = append(ln.embryos, nc)
	} else {
		// A valid SYN cookie (RFC 4987 §3.6): synchronized already, so it
		// goes straight to the accept queue (CookieValid checked for room).
		ln.queue = append(ln.queue, nc)
		nc.queued = true
		l.out.Notify(ln.id, sock.Acceptable)
	}
	l.finish(nc, now)
}

// Poll fires the timers that are due at now. Only the connections whose
// earliest deadline has passed are visited (timerheap.go); each is polled
// once, even if its handling arms another timer that is already due.
func (l *Layer) Poll(now time.Time) {
	l.now = now
	due := l.due[:0]
	at := l.tick(now)
	for len(l.timers) > 0 && !l.timers[0].due.After(at) {
		c := l.timers[0]
		l.timers.remove(c)
		due = append(due, c)
	}
	for i, c := range due {
		due[i] = nil
		if c.idx < 0 {
			continue // released by an earlier connection's event
		}
		c.poll(now)
		l.finish(c, now)
	}
	l.due = due[:0]
	l.twPoll(now)
}

// NextDeadline returns the earliest pending timer, or the zero time. The
// loop asks after every call, so the two heaps' tops are compared as
// ticks and only the earlier is converted.
func (l *Layer) NextDeadline() time.Time {
	var d tick
	if len(l.timers) > 0 {
		d = l.timers[0].due
	}
	if len(l.twHeap) > 0 && (d.IsZero() || l.twHeap[0].at.Before(d)) {
		d = l.twHeap[0].at
	}
	return l.time(d)
}
