package cover

import (
	"strings"

	"github.com/netspec/netspec/fsm/tcp"
)

// Allowance names rows of spec/tcp.fsm that no test can fire, with the
// reason. Cell is "States/Event" (states comma-separated) and, when given,
// Conds the row's condition list as tcp.Rule.String writes it ("HasSYN,
// PassiveOpen") or "-" for the cell's unconditional row; an Allowance
// without Conds matches every row of its cells.
type Allowance struct{ Cell, Conds, Why string }

// TCPAllow lists the rows of spec/tcp.fsm that neither a scenario script nor
// the simulator can fire, outside the SEGMENT ARRIVES cells the pipeline
// never runs (ReachableCells). fuzz/scenario's TestEveryRowFires fails on an
// entry that matches no unfired row or matches a row that fired, so the list
// cannot go stale silently; rulecov prints each unfired row with its reason.
var TCPAllow = []Allowance{
	// User calls the socket API never makes.
	{"Listen,SynSent,SynReceived,Established,FinWait1,FinWait2,CloseWait,Closing,LastAck,TimeWait/OpenPassive", "", "OPEN on an existing TCB (MUST-41): Listen and Connect make a fresh TCB for every OPEN, and a second Listen on a port fails before the table; the CLOSED row fires for every listener"},
	{"Listen,SynSent,SynReceived,Established,FinWait1,FinWait2,CloseWait,Closing,LastAck,TimeWait/OpenActive", "", "as above: Connect never runs OPEN on a live TCB"},
	{"Listen/Send", "", "a Listener has no Send: the socket API rejects SEND on a listening descriptor before the table"},
	{"Listen/Receive", "", "a Listener has no Recv: the socket API rejects RECEIVE on a listening descriptor before the table (MUST-12)"},
	{"Listen/Abort", "", "a Listener has no Abort: Listener.Close runs CLOSE (the Listen/Close row) and aborts its embryos"},
	{"Closed/Close", "", "Conn.Close returns before the table once the connection is CLOSED (the descriptor is simply released, as close(2) on a reset socket)"},
	// Rows whose state can never hold their condition.
	{"Established,CloseWait/Send", "FinQueued", "CLOSE moves ESTABLISHED and CLOSE-WAIT on at once (FIN-WAIT-1, LAST-ACK); a FIN is only queued in SYN-SENT or SYN-RECEIVED, whose completing rows then go to FIN-WAIT-1"},
	{"Established/SegText", "HasText,UserClosed", "the user cannot have closed an ESTABLISHED connection: CLOSE there moves to FIN-WAIT-1, a CLOSE before the handshake completes queues the FIN and the completing rows go to FIN-WAIT-1, and Close with unread data aborts"},
	{"SynReceived/SegAck", "AckAcceptable,PassiveOpen,FinQueued", "a passively opened TCB reaches the user (accept) only once ESTABLISHED, so nothing can CLOSE it in SYN-RECEIVED; the model checker, which issues CLOSE in any state, fires this row"},
	{"SynReceived/SegSeq", "ZeroWindowAck", "SYN-RECEIVED has received nothing but the SYN (its text is not taken), so its receive window is the whole buffer, never zero"},
	// Rows whose condition comes from below TCP.
	{"Listen/SegPre", "HasSYN,PeerUnresolved,SynCookies", "a scenario script runs TCP with no link layer, so no peer is ever unresolved (tcp.SegMeta.Unresolved comes from the stack's ARP); fsm/tcp TestSynCookieUnresolvedPeer and fsm/stack TestSynFloodLegitimateClientServed fire the row"},
	// Timers that are never running in the state (the cells of the other
	// timers that cannot run are impossible rows in the spec).
	{"FinWait2,TimeWait/TimeoutUser", "", "R2 and the user timeout are checked when the retransmission timer fires and keep-alive only runs in ESTABLISHED and CLOSE-WAIT; FIN-WAIT-2 and TIME-WAIT run no retransmission timer (their TimeoutRtx cells are impossible), so they cannot expire (MUST-20); the row is Open's, shared with the states that run it"},
}

// Match reports whether a names r.
func (a Allowance) Match(r *tcp.Rule) bool {
	states, ev, ok := strings.Cut(a.Cell, "/")
	if !ok || ev != r.Event.String() {
		return false
	}
	in := false
	for _, s := range strings.Split(states, ",") {
		in = in || strings.TrimSpace(s) == r.State.String()
	}
	if !in {
		return false
	}
	switch a.Conds {
	case "":
		return true
	case "-":
		return len(r.Conds) == 0
	}
	return strings.ReplaceAll(a.Conds, " ", "") == r.CondString()
}

// SegEvents are the SEGMENT ARRIVES stages (RFC 9293 §3.10.7), SegPre first.
var SegEvents = []tcp.Event{tcp.EvSegPre, tcp.EvSegSeq, tcp.EvSegRst, tcp.EvSegSec, tcp.EvSegSyn,
	tcp.EvSegAck, tcp.EvSegUrg, tcp.EvSegText, tcp.EvSegFin}

// isSegEvent reports whether e is a SEGMENT ARRIVES stage.
func isSegEvent(e tcp.Event) bool {
	for _, s := range SegEvents {
		if s == e {
			return true
		}
	}
	return false
}

// Impossible is the reason for a row the spec marks impossible: the cell
// cannot happen. Firing it counts an internal error (tcp.Internal,
// ip.Internal, ip.FragInternal, arp.Internal), which every invariant check
// reports, and for tcp the model checker proves it unreachable
// (impossible-row-fired); so no allow-list entry names such a row.
const Impossible = "impossible: the spec says the cell cannot happen (an internal error if it fires)"

// UnreachableCell is Unfireable's reason for a row in a SEGMENT ARRIVES cell
// the pipeline never runs.
const UnreachableCell = "the SEGMENT ARRIVES pipeline never runs this (state, stage) cell (cover.ReachableCells)"

// Unfireable returns why no test can fire r: the spec marks it impossible,
// its SEGMENT ARRIVES cell is one the pipeline never runs, or a TCPAllow
// entry names it. It returns "" for a row some test should fire.
func Unfireable(r *tcp.Rule) string {
	if r.Outcome == tcp.OutImpossible {
		return Impossible
	}
	if isSegEvent(r.Event) && !reachable[[2]int{int(r.State), int(r.Event)}] {
		return UnreachableCell
	}
	for _, a := range TCPAllow {
		if a.Match(r) {
			return a.Why
		}
	}
	return ""
}

var reachable = ReachableCells()

// ReachableCells is the set of SEGMENT ARRIVES (state, stage) cells the
// pipeline (fsm/tcp input.go segmentArrives) can run, from the rule table:
// CLOSED, LISTEN and SYN-SENT start at SegPre, the synchronized states at
// SegSeq, and a row that continues leads to the next stage (after SegPre, the
// sixth step, SegUrg: RFC 9293 §3.10.7.3 step 4) in the row's next state. So
// SYN-RECEIVED's steps 6-8 are not reachable: every SYN-RECEIVED step 5 row
// leaves the state or drops, and text or FIN arriving with the completing ACK
// runs them in ESTABLISHED (or FIN-WAIT-1). The replay of a held FIN (step 8
// once a hole fills) runs SegFin in a state whose SegFin cell held it or one
// entered later from it, which this walk reaches through the normal path.
func ReachableCells() map[[2]int]bool {
	next := func(ev tcp.Event) (tcp.Event, bool) {
		switch ev {
		case tcp.EvSegPre:
			return tcp.EvSegUrg, true
		case tcp.EvSegFin:
			return 0, false
		}
		return ev + 1, true
	}
	seen := map[[2]int]bool{}
	var work [][2]int
	add := func(st tcp.State, ev tcp.Event) {
		k := [2]int{int(st), int(ev)}
		if !seen[k] {
			seen[k] = true
			work = append(work, k)
		}
	}
	for st := tcp.State(0); st < tcp.NumStates; st++ {
		switch st {
		case tcp.StateClosed, tcp.StateListen, tcp.StateSynSent:
			add(st, tcp.EvSegPre)
		default:
			add(st, tcp.EvSegSeq)
		}
	}
	for len(work) > 0 {
		k := work[len(work)-1]
		work = work[:len(work)-1]
		c := tcp.Cells[k[0]][k[1]]
		for i := c.Start; i < c.End; i++ {
			r := &tcp.Rules[i]
			if r.Outcome != tcp.OutContinue {
				continue
			}
			if ev, ok := next(tcp.Event(k[1])); ok {
				add(r.Next, ev)
			}
		}
	}
	return seen
}

// IPAllowance names rows of spec/frag.fsm that no test can fire: Cell is
// "States/Event" (states comma-separated), every row of those cells.
type IPAllowance struct{ Cell, Why string }

// FragAllow lists reassembly rows ip.Receiver never runs (fsm/ip reasm.go)
// that the spec does not mark impossible. It is empty: the cells Poll,
// evict and release never step (Poll and evict step only Partial and
// Poisoned slots, release only the Complete slot of the datagram the
// previous call delivered, an Expired slot is released within the Poll that
// expired it) are impossible rows of spec/frag.fsm. TestAllowListsCurrent
// fails on an entry that names only impossible rows.
var FragAllow = []IPAllowance{}

// Why returns why no test can fire the row (Impossible for a row the spec
// marks impossible, Unfireable for tcp rows, FragAllow for frag rows), or ""
// for a row some test should fire.
func (r Row) Why() string {
	if r.Impossible {
		return Impossible
	}
	switch r.Machine {
	case "tcp":
		if r.Rule != nil {
			return Unfireable(r.Rule)
		}
	case "frag":
		state, event, _ := strings.Cut(r.Cell, " ")
		for _, a := range FragAllow {
			states, ev, _ := strings.Cut(a.Cell, "/")
			if ev != event {
				continue
			}
			for _, s := range strings.Split(states, ",") {
				if s == state {
					return a.Why
				}
			}
		}
	}
	return ""
}
