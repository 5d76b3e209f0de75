package model

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/netspec/netspec/fsm/tcp"
)

// Kind is the kind of a transition.
type Kind uint8

// Transition kinds.
const (
	KCall    Kind = iota // a user call (RFC 9293 §3.10.1-§3.10.6)
	KTimeout             // a timer fires (RFC 9293 §3.10.8)
	KDeliver             // the channel delivers a segment (SEGMENT ARRIVES, §3.10.7)
	KLose                // the channel loses a segment
	KDup                 // the channel duplicates a segment
	KInject              // the environment delivers an injected segment (inject.go)
)

// Descriptor slots a user call can address.
const (
	SlotConn     uint8 = iota // the endpoint's connection
	SlotListener              // the endpoint's listener
)

// Step is one labelled transition of the global state.
type Step struct {
	Kind Kind
	EP   uint8     // the acting endpoint; for channel steps, the sender
	Slot uint8     // SlotConn or SlotListener (calls)
	Ev   tcp.Event // the user call or timeout event
	Full bool      // for Close: a full close (Conn.Close), else CloseWrite
	Idx  uint8     // channel position (channel steps); the kind (KInject)
}

// graceful reports whether s belongs to a fault-free, cooperative
// continuation: in-order delivery, timers other than the R2 user timeout,
// and user calls other than ABORT. With eager set (Bounds.Eager: premature
// retransmission timeouts, which are faults that spend the retry budget
// without limit) R2 counts as cooperative too: once premature timeouts have
// used up an embryo's retries, the SYN,ACK retransmission that would have
// drawn the vanished peer's RST is cut by the model's bound, and R2 is how
// the protocol ends the embryo then.
func (s Step) graceful(eager bool) bool {
	switch s.Kind {
	case KCall:
		return s.Ev != tcp.EvAbort
	case KTimeout:
		return s.Ev != tcp.EvTimeoutUser || eager
	case KDeliver:
		return s.Idx == 0
	}
	return false
}

// String renders s in the trace format ("A call conn Close", "B timeout Rtx",
// "A->B deliver 0").
func (s Step) String() string {
	a := epName(int(s.EP))
	switch s.Kind {
	case KCall:
		slot := "conn"
		if s.Slot == SlotListener {
			slot = "listener"
		}
		name := s.Ev.String()
		if s.Ev == tcp.EvClose && !s.Full {
			name = "CloseWrite"
		}
		return a + " call " + slot + " " + name
	case KTimeout:
		return a + " timeout " + strings.TrimPrefix(s.Ev.String(), "Timeout")
	case KInject:
		if s.Idx < numInject {
			return a + " inject " + injectNames[s.Idx]
		}
		return a + " inject ?"
	}
	verb := map[Kind]string{KDeliver: "deliver", KLose: "lose", KDup: "dup"}[s.Kind]
	return a + "->" + epName(1-int(s.EP)) + " " + verb + " " + strconv.Itoa(int(s.Idx))
}

// ParseStep reads a step written by Step.String.
func ParseStep(text string) (Step, error) {
	f := strings.Fields(text)
	bad := fmt.Errorf("model: bad step %q", text)
	ep := func(s string) (uint8, bool) {
		if s == "A" || s == "B" {
			return s[0] - 'A', true
		}
		return 0, false
	}
	if len(f) == 4 && f[1] == "call" {
		e, ok := ep(f[0])
		if !ok || (f[2] != "conn" && f[2] != "listener") {
			return Step{}, bad
		}
		st := Step{Kind: KCall, EP: e}
		if f[2] == "listener" {
			st.Slot = SlotListener
		}
		name := f[3]
		if name == "CloseWrite" {
			st.Ev = tcp.EvClose
			return st, nil
		}
		for ev := tcp.EvOpenPassive; ev <= tcp.EvAbort; ev++ {
			if ev.String() == name {
				st.Ev, st.Full = ev, ev == tcp.EvClose
				return st, nil
			}
		}
		return Step{}, bad
	}
	if len(f) == 3 && f[1] == "timeout" {
		e, ok := ep(f[0])
		if !ok {
			return Step{}, bad
		}
		for _, ev := range []tcp.Event{tcp.EvTimeoutRtx, tcp.EvTimeoutTimeWait, tcp.EvTimeoutUser, tcp.EvTimeoutFinWait2} {
			if ev.String() == "Timeout"+f[2] {
				return Step{Kind: KTimeout, EP: e, Ev: ev}, nil
			}
		}
		return Step{}, bad
	}
	if len(f) == 3 && f[1] == "inject" {
		e, ok := ep(f[0])
		if !ok {
			return Step{}, bad
		}
		for k, n := range injectNames {
			if n == f[2] {
				return Step{Kind: KInject, EP: e, Idx: uint8(k)}, nil
			}
		}
		return Step{}, bad
	}
	if len(f) == 3 && len(f[0]) == 4 && f[0][1:3] == "->" {
		e, ok := ep(f[0][:1])
		o, ok2 := ep(f[0][3:])
		k, ok3 := map[string]Kind{"deliver": KDeliver, "lose": KLose, "dup": KDup}[f[1]]
		i, err := strconv.Atoi(f[2])
		if !ok || !ok2 || o == e || !ok3 || err != nil || i < 0 || i >= MaxCap {
			return Step{}, bad
		}
		return Step{Kind: k, EP: e, Idx: uint8(i)}, nil
	}
	return Step{}, bad
}

// segCtx is the context of one table run: an arriving segment (trimmed by
// TrimToWindow from step 1 on), or nothing for a user call or timeout.
type segCtx struct {
	flags   uint8
	seq     int // SEG.SEQ; after TrimToWindow, that of the first text octet
	origSeq int // SEG.SEQ as received
	ack     int
	segLen  int // SEG.LEN as received
	text    int // data units (trimmed)
	reopen  bool
}

// runner applies steps to a working copy of a state.
type runner struct {
	t           *Table
	m           tcp.Machine[absRun] // runs t
	b           Bounds
	s           State
	fired       []uint16  // rules fired by the current step
	impossible  *tcp.Rule // the first impossible row the current step fired (impossible-row-fired), or nil
	trunc       string    // non-empty: the step ran past a bound and is not explored
	err         error     // the table cannot be interpreted: the check stops
	unilateral  [2]bool   // the endpoint ended its connection on its own in this step
	embryoCalls bool      // user calls reach passive SYN-RECEIVED connections
	symmetric   bool      // both endpoints may open actively and passively
}

// enabled appends the steps enabled in s to out.
func (r *runner) enabled(s *State, out []Step) []Step {
	b := &r.b
	for e := range 2 {
		ep := &s.E[e]
		u := uint8(e)
		c := &ep.Conn
		call := func(slot uint8, ev tcp.Event, full bool) {
			out = append(out, Step{Kind: KCall, EP: u, Slot: slot, Ev: ev, Full: full})
		}
		// Calls on the connection descriptor. A passively opened connection
		// has no descriptor before the handshake completes (it is accepted
		// from ESTABLISHED), unless EmbryoCalls says otherwise.
		embryo := c.St == tcp.StateSynReceived && c.has(tPassive) && !r.embryoCalls
		active := r.symmetric || e == 0  // may OPEN actively
		passive := r.symmetric || e == 1 // may OPEN passively
		closes := int(ep.Closes) < b.Closes
		if embryo {
			goto listener
		}
		if c.St != tcp.StateClosed || (active && int(ep.Opens) < b.Opens) {
			call(SlotConn, tcp.EvOpenActive, false)
		}
		if c.St != tcp.StateClosed {
			call(SlotConn, tcp.EvOpenPassive, false)
			if !c.has(tUserClosed) {
				call(SlotConn, tcp.EvClose, true)
			}
		}
		if int(ep.Sends) < b.Data {
			call(SlotConn, tcp.EvSend, false)
		}
		call(SlotConn, tcp.EvReceive, false)
		if closes || c.St == tcp.StateClosed {
			call(SlotConn, tcp.EvClose, false)
		}
		if int(ep.Aborts) < b.Aborts {
			call(SlotConn, tcp.EvAbort, false)
		}
	listener:
		// Calls on the listener descriptor.
		if ep.Lsn == tcp.StateClosed {
			if passive && int(ep.Opens) < b.Opens {
				call(SlotListener, tcp.EvOpenPassive, false)
			}
		} else {
			call(SlotListener, tcp.EvOpenPassive, false)
			call(SlotListener, tcp.EvOpenActive, false)
			call(SlotListener, tcp.EvSend, false)
			call(SlotListener, tcp.EvReceive, false)
			call(SlotListener, tcp.EvClose, true)
			if int(ep.Aborts) < b.Aborts {
				call(SlotListener, tcp.EvAbort, false)
			}
		}
		// Timers. TIME-WAIT and FIN-WAIT-2 expire only once nothing is in
		// flight (2*MSL outlives every segment); the retransmission timer
		// too, unless Eager allows premature timeouts.
		quiet := s.C[0].N == 0 && s.C[1].N == 0
		if c.has(tRtx) && (quiet || b.Eager > 0) {
			if int(c.Retries) < b.Rtx {
				out = append(out, Step{Kind: KTimeout, EP: u, Ev: tcp.EvTimeoutRtx})
			} else {
				out = append(out, Step{Kind: KTimeout, EP: u, Ev: tcp.EvTimeoutUser})
			}
		}
		if c.has(tTW) && quiet {
			ev := tcp.EvTimeoutTimeWait
			if c.St == tcp.StateFinWait2 {
				ev = tcp.EvTimeoutFinWait2
			}
			out = append(out, Step{Kind: KTimeout, EP: u, Ev: ev})
		}
		// Injected segments to e.
		if int(s.Inject) < b.Inject {
			for k := range numInject {
				if injectable(k, ep) {
					out = append(out, Step{Kind: KInject, EP: u, Idx: k})
				}
			}
		}
		// The channel from e.
		ch := &s.C[e]
		for i := range int(ch.N) {
			k := uint8(i)
			if i == 0 || int(s.Reorder) < b.Reorder {
				out = append(out, Step{Kind: KDeliver, EP: u, Idx: k})
			}
			if int(s.Loss) < b.Loss {
				out = append(out, Step{Kind: KLose, EP: u, Idx: k})
			}
			if int(s.Dup) < b.Dup && int(ch.N) < b.Cap {
				out = append(out, Step{Kind: KDup, EP: u, Idx: k})
			}
		}
	}
	return out
}

// isEnabled reports whether st is among the steps enabled in s.
func (r *runner) isEnabled(s *State, st Step) bool {
	for _, x := range r.enabled(s, nil) {
		if x == st {
			return true
		}
	}
	return false
}

// apply performs st on s (which must enable it) and returns the successor.
// r.trunc and r.err report a cut-off step and a fatal problem.
func (r *runner) apply(s *State, st Step) State {
	r.s = *s
	r.fired = r.fired[:0]
	r.trunc = ""
	r.err = nil
	r.impossible = nil
	r.unilateral = [2]bool{}
	prev := [2]tcp.State{s.E[0].Conn.St, s.E[1].Conn.St}
	e := int(st.EP)
	ep := &r.s.E[e]
	switch st.Kind {
	case KCall:
		r.call(e, st)
	case KTimeout:
		c := &ep.Conn
		c.set(tOowSent, false) // time passed: the OowLimit interval is over
		switch st.Ev {
		case tcp.EvTimeoutUser, tcp.EvTimeoutRtx:
			if st.Ev == tcp.EvTimeoutUser {
				c.set(tRtx, false) // R2 exceeded: the timer stops (MUST-20)
			}
		default:
			c.set(tTW, false)
			if st.Ev == tcp.EvTimeoutFinWait2 {
				r.unilateral[e] = true
			}
		}
		var g segCtx
		r.run(c, e, st.Ev, &g)
		r.output(c, e)
	case KDeliver:
		if st.Idx > 0 {
			r.s.Reorder++
		}
		g := r.s.C[e].remove(int(st.Idx))
		r.dispatch(1-e, g)
	case KInject:
		r.inject(e, st.Idx)
	case KLose:
		r.s.C[e].remove(int(st.Idx))
		r.s.Loss++
	case KDup:
		ch := &r.s.C[e]
		ch.S[ch.N] = ch.S[st.Idx]
		ch.N++
		r.s.Dup++
	}
	// Canonical form: a CLOSED connection is gone (its TCB is deleted).
	for i := range 2 {
		x := &r.s.E[i]
		if x.Conn.St == tcp.StateClosed {
			if prev[i] != tcp.StateClosed {
				x.GaveUp = r.unilateral[i]
				x.LastISS = s.E[i].Conn.Iss
			}
			x.Conn = TCB{}
		} else {
			x.GaveUp = false
			x.LastISS = 0
		}
	}
	return r.s
}

// call performs a user call.
func (r *runner) call(e int, st Step) {
	ep := &r.s.E[e]
	var g segCtx
	if st.Slot == SlotListener {
		l := TCB{St: ep.Lsn}
		r.run(&l, e, st.Ev, &g)
		if l.St != tcp.StateClosed && l.St != tcp.StateListen {
			r.err = fmt.Errorf("model: listener call %s moved it to %s", st.Ev, l.St)
			return
		}
		if ep.Lsn == tcp.StateClosed && l.St == tcp.StateListen {
			ep.Opens++
		}
		if st.Ev == tcp.EvAbort && ep.Lsn != l.St {
			ep.Aborts++
		}
		ep.Lsn = l.St
		return
	}
	c := &ep.Conn
	prev := c.St
	if st.Ev == tcp.EvClose && st.Full {
		// Conn.Close: the user gives the connection up; nobody reads any more.
		c.set(tUserClosed, true)
	}
	r.run(c, e, st.Ev, &g)
	if st.Ev == tcp.EvClose && !st.Full && prev != tcp.StateClosed {
		ep.Closes++
	}
	switch {
	case st.Ev == tcp.EvOpenActive && prev == tcp.StateClosed && c.St != tcp.StateClosed:
		ep.Opens++
	case st.Ev == tcp.EvAbort && prev != c.St:
		ep.Aborts++
		r.unilateral[e] = true
	}
	r.output(c, e)
}

// run applies event ev to c through the runner's machine (fsmrt, the
// interpreter of fsm/tcp's Layer.run): the first row of the (state, event)
// cell whose conditions hold under the abstract guards fires its abstract
// actions and moves c to its next state.
func (r *runner) run(c *TCB, e int, ev tcp.Event, g *segCtx) tcp.Outcome {
	if r.err != nil {
		return tcp.OutDrop
	}
	rule := r.m.Step(absRun{r, e, c, g}, c.St, ev)
	if rule == nil {
		r.err = fmt.Errorf("model: no rule of cell (%s, %s) holds", c.St, ev)
		return tcp.OutDrop
	}
	r.fired = append(r.fired, rule.ID)
	if rule.Outcome == tcp.OutImpossible && r.impossible == nil {
		r.impossible = rule
	}
	if rule.Next != c.St {
		c.St = rule.Next
	}
	return rule.Outcome
}

// segmentArrives runs the SEGMENT ARRIVES pipeline of fsm/tcp (RFC 9293
// §3.10.7), in fsm/tcp's stage order (tcp.FirstStage, tcp.NextStage). A FIN
// held beyond a hole is processed once the hole fills (step 8).
func (r *runner) segmentArrives(c *TCB, e int, g *segCtx) {
	ev := tcp.FirstStage(c.St)
	for r.run(c, e, ev, g) == tcp.OutContinue && r.err == nil {
		var more bool
		if ev, more = tcp.NextStage(ev); !more {
			return
		}
	}
	if c.has(tFinHeld) && !c.has(tFinRcvd) && c.RcvNxt == c.FinSeq && tcp.FirstStage(c.St) == tcp.EvSegSeq {
		c.set(tFinHeld, false)
		f := segCtx{flags: fFIN | fACK, seq: int(c.FinSeq), origSeq: int(c.FinSeq), ack: int(c.SndUna), segLen: 1}
		r.run(c, e, tcp.EvSegFin, &f)
	}
}

// dispatch hands a segment to endpoint e: its connection, else its
// listener (on a fresh copy of the listening TCB, §3.10.7.2), else a
// CLOSED TCB (§3.10.7.1), as fsm/tcp.Layer.dispatch does.
func (r *runner) dispatch(e int, sg Seg) {
	g := segCtx{flags: sg.Flags, seq: int(sg.Seq), origSeq: int(sg.Seq), ack: int(sg.Ack), segLen: sg.segLen(), text: int(sg.Len)}
	ep := &r.s.E[e]
	if ep.Conn.St != tcp.StateClosed {
		r.segmentArrives(&ep.Conn, e, &g)
		r.output(&ep.Conn, e)
		if g.reopen {
			g.reopen = false
			if ep.Lsn == tcp.StateListen {
				ep.Conn = TCB{}
				r.listenInput(e, &g)
			}
		}
		return
	}
	if ep.Lsn == tcp.StateListen {
		r.listenInput(e, &g)
		return
	}
	var scratch TCB
	r.segmentArrives(&scratch, e, &g)
}

// listenInput runs SEGMENT ARRIVES in LISTEN on a copy of the listener's
// TCB; if the copy reaches SYN-RECEIVED it becomes the connection.
func (r *runner) listenInput(e int, g *segCtx) {
	c := TCB{St: tcp.StateListen, Flags: tPassive}
	r.segmentArrives(&c, e, g)
	if c.St != tcp.StateSynReceived {
		return
	}
	ep := &r.s.E[e]
	ep.Conn = c
	r.output(&ep.Conn, e)
}

// sendsData mirrors fsm/tcp: the states in which output sends data and FIN.
func sendsData(st tcp.State) bool {
	switch st {
	case tcp.StateEstablished, tcp.StateCloseWait, tcp.StateFinWait1, tcp.StateClosing, tcp.StateLastAck:
		return true
	}
	return false
}

// output sends what c may send now, as fsm/tcp's Conn.output: data and FIN
// from the go-back-N cursor within the peer's window (one segment: the
// abstract MSS is unbounded), then an owed ACK.
func (r *runner) output(c *TCB, e int) {
	if r.err != nil {
		return
	}
	if sendsData(c.St) {
		for range 4 {
			seq, rtx := int(c.SndNxt), false
			if c.RtxNxt < c.SndNxt {
				seq, rtx = int(c.RtxNxt), true
			}
			end := int(c.DataEnd)
			n := max(0, min(end-seq, int(c.SndUna)+r.b.Window-seq))
			fin := c.has(tFinQueued) && seq+n == end && (rtx || !c.has(tFinSent))
			if n == 0 && !fin {
				break
			}
			fl := fACK
			if fin {
				fl |= fFIN
			}
			r.emitTCB(c, e, fl, seq, n)
			nxt := seq + n
			if fin {
				nxt++
			}
			c.RtxNxt = int8(nxt)
			if int(c.SndNxt) < nxt {
				c.SndNxt = int8(nxt)
			}
			if fin {
				c.set(tFinSent, true)
			}
			c.set(tRtx, true)
		}
	}
	if c.has(tAckNow) && c.St != tcp.StateClosed && c.St != tcp.StateListen && c.St != tcp.StateSynSent {
		r.emitTCB(c, e, fACK, int(c.SndNxt), 0)
	}
	c.set(tAckNow, false)
}

// emitTCB sends a segment from connection c; an ACK carries RCV.NXT and
// advertises the window (moving the right edge, never left).
func (r *runner) emitTCB(c *TCB, e int, flags uint8, seq, n int) {
	ack := 0
	if flags&fACK != 0 {
		ack = int(c.RcvNxt)
		if flags&fSYN == 0 {
			if edge := int(c.RcvNxt) + r.b.Window; edge > int(c.RcvEdge) && edge <= 127 {
				c.RcvEdge = int8(edge)
			}
		}
		c.set(tAckNow, false)
	}
	r.emit(e, flags, seq, ack, n)
}

// emit puts a segment into the channel from e.
func (r *runner) emit(e int, flags uint8, seq, ack, n int) {
	if seq < -128 || seq > 127 || ack < -128 || ack > 127 {
		r.trunc = "sequence number beyond the encoding"
		return
	}
	ch := &r.s.C[e]
	if int(ch.N) >= r.b.Cap {
		r.trunc = "channel full"
		return
	}
	ch.S[ch.N] = Seg{Flags: flags, Len: uint8(n), Seq: int8(seq), Ack: int8(ack)}
	ch.N++
}
