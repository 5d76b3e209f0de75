package model

import "github.com/netspec/netspec/fsm/tcp"

// absRun is the context of one step of an abstract endpoint: the runner,
// the endpoint e, its abstract TCB c and the segment context g. Its methods
// are the abstract guards and actions of spec/tcp.fsm (tcp.Impl): each
// mirrors fsm/tcp's on small integers (no wrap-around: every number of a run
// fits the encoding). Effects the abstraction drops (the windows are
// constant, data is read at once, signals to the user change no protocol
// state) are explicit no-ops. A guard or action added to the spec without a
// method here does not compile (tcp.Impl); the rows the endpoints run are the
// generated table's (or a test's mutated copy), stepped by fsmrt.
type absRun struct {
	r *runner
	e int
	c *TCB
	g *segCtx
}

// absFuncs are absRun's guards and actions indexed by tcp.Guard and
// tcp.Action, as every runner's machine calls them.
var absFuncs = tcp.Funcs[absRun]()

func (x absRun) GuardHasSYN() bool { return x.g.flags&fSYN != 0 }

func (x absRun) GuardHasACK() bool { return x.g.flags&fACK != 0 }

func (x absRun) GuardHasRST() bool { return x.g.flags&fRST != 0 }

func (x absRun) GuardHasFIN() bool { return x.g.flags&fFIN != 0 }

func (x absRun) GuardHasURG() bool { return x.g.flags&fURG != 0 }

func (x absRun) GuardHasText() bool { return x.g.text > 0 }

// GuardSeqAcceptable: RFC 9293 §3.10.7.4 step 1: the four cases of SEG.LEN and
// RCV.WND.
func (x absRun) GuardSeqAcceptable() bool {
	nxt, wnd, seq := int(x.c.RcvNxt), max(0, int(x.c.RcvEdge)-int(x.c.RcvNxt)), x.g.origSeq
	in := func(v int) bool { return nxt <= v && v < nxt+wnd }
	switch {
	case x.g.segLen == 0 && wnd == 0:
		return seq == nxt
	case x.g.segLen == 0:
		return in(seq)
	case wnd == 0:
		return false
	}
	return in(seq) || in(seq+x.g.segLen-1)
}

// GuardSeqAtRightEdge: A zero-length segment exactly at the right edge of an
// open window.
func (x absRun) GuardSeqAtRightEdge() bool {
	return x.g.segLen == 0 && x.c.RcvEdge > x.c.RcvNxt && x.g.origSeq == int(x.c.RcvEdge)
}

func (x absRun) GuardSeqIsIrs() bool { return x.g.seq == int(x.c.Irs) }

// GuardRstExact: RFC 5961 §3.2: only a RST exactly at RCV.NXT resets.
func (x absRun) GuardRstExact() bool { return x.g.seq == int(x.c.RcvNxt) }

// GuardAckAcceptable: RFC 9293 §3.10.7.3: SND.UNA < SEG.ACK =< SND.NXT.
func (x absRun) GuardAckAcceptable() bool {
	return int(x.c.SndUna) < x.g.ack && x.g.ack <= int(x.c.SndNxt)
}

func (x absRun) GuardAckTooNew() bool { return x.g.ack > int(x.c.SndNxt) }

// GuardAckTooOld: RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND (the peer's
// window is the constant Window).
func (x absRun) GuardAckTooOld() bool { return x.g.ack < int(x.c.SndUna)-x.r.b.Window }

func (x absRun) GuardOurFinAcked() bool {
	return x.c.has(tFinSent) && (x.c.SndUna == x.c.SndNxt || (x.g.flags&fACK != 0 && x.g.ack == int(x.c.SndNxt)))
}

func (x absRun) GuardFinInOrder() bool { return x.g.seq+x.g.text == int(x.c.RcvNxt) }

func (x absRun) GuardPassiveOpen() bool { return x.c.has(tPassive) }

// GuardBacklogFull: One connection per endpoint: the accept queue never fills.
func (x absRun) GuardBacklogFull() bool { return false }

// GuardSynQueueFull: One connection per endpoint: neither the SYN queue nor
// the accept queue fills.
func (x absRun) GuardSynQueueFull() bool { return false }

func (x absRun) GuardAcceptQueueFull() bool { return false }

// GuardSynCookies: The SYN queue never fills, so no cookie is ever sent or
// checked.
func (x absRun) GuardSynCookies() bool { return true }

func (x absRun) GuardCookieValid() bool { return false }

// GuardPeerUnresolved: The model has no link layer: every peer is
// resolved, so no SYN is answered with a cookie for want of one.
func (x absRun) GuardPeerUnresolved() bool { return false }

func (x absRun) GuardCookiesPending() bool { return false }

// GuardSendQueued: Data in the send buffer not yet acknowledged: [max(SND.UNA,
// ISS+1), end of data).
func (x absRun) GuardSendQueued() bool {
	return int(x.c.DataEnd) > max(int(x.c.SndUna), int(x.c.Iss)+1)
}

// GuardZeroWindowAck: A closed receive window still takes a plain ACK at
// RCV.NXT or one past it (the peer's probe octet).
func (x absRun) GuardZeroWindowAck() bool {
	return int(x.c.RcvEdge)-int(x.c.RcvNxt) <= 0 && x.g.flags&(fACK|fSYN|fRST) == fACK &&
		(x.g.origSeq == int(x.c.RcvNxt) || x.g.origSeq == int(x.c.RcvNxt)+1)
}

// GuardZeroWindowFin: A closed receive window takes a bare FIN at RCV.NXT
// (linux profile).
func (x absRun) GuardZeroWindowFin() bool {
	return int(x.c.RcvEdge)-int(x.c.RcvNxt) <= 0 && x.g.flags&(fACK|fSYN|fRST|fFIN) == fACK|fFIN &&
		x.g.segLen == 1 && x.g.origSeq == int(x.c.RcvNxt)
}

// GuardPawsReject: RFC 7323 §5.3: only injected segments carry a timestamp
// older than TS.Recent; the others are not PAWS-checked (or pass).
func (x absRun) GuardPawsReject() bool { return x.g.flags&fOldTS != 0 }

// GuardDisorderedAck: a pure ACK at RCV.NXT acknowledging SND.UNA whose
// old timestamp is within the replay window (only injected reorder
// segments); the windows are constant, so it never updates the window.
func (x absRun) GuardDisorderedAck() bool {
	return x.g.flags&fReorder != 0 && x.g.flags&(fACK|fSYN|fFIN|fRST) == fACK && x.g.text == 0 &&
		x.g.origSeq == int(x.c.RcvNxt) && x.g.ack == int(x.c.SndUna)
}

func (x absRun) GuardFinQueued() bool { return x.c.has(tFinQueued) }

func (x absRun) GuardUserClosed() bool { return x.c.has(tUserClosed) }

func (x absRun) GuardSynNewer() bool { return x.g.seq > int(x.c.RcvNxt) }

func (x absRun) GuardFinRetransmit() bool {
	return x.c.has(tFinRcvd) && x.g.flags&fFIN != 0 && x.g.origSeq+x.g.segLen == int(x.c.RcvNxt)
}

// ActChooseISS: RFC 9293 §3.4.1: each incarnation's ISS lies beyond the last
// one's space.
func (x absRun) ActChooseISS() {
	ep := &x.r.s.E[x.e]
	if ep.NextISS > maxISS {
		x.r.trunc = "incarnations beyond the encoding"
		return
	}
	x.c.Iss = ep.NextISS
	ep.NextISS += issStep
	x.c.SndUna, x.c.SndNxt, x.c.RtxNxt, x.c.DataEnd = x.c.Iss, x.c.Iss, x.c.Iss, x.c.Iss+1
}

func (x absRun) ActSendSyn() { sendSyn(x.r, x.e, x.c, fSYN) }

func (x absRun) ActSendSynAck() { sendSyn(x.r, x.e, x.c, fSYN|fACK) }

func (x absRun) ActSendAck() { x.c.set(tAckNow, true) }

// ActChallengeAck: A challenge ACK (RFC 5961); its per-connection rate limit
// depends on. time, which the abstraction does not have: modelled as always
// sent.
func (x absRun) ActChallengeAck() { x.c.set(tAckNow, true) }

// ActOowAck: The ACK of an unacceptable segment. With Bounds.OowLimit, the
// rate. limit of Config.OOWAckInterval: a segment with SEG.LEN = 0 (no text,
// no FIN), or with SYN, gets at most one such ACK until the connection's next
// timer fires (the abstraction's stand-in for the interval passing).
func (x absRun) ActOowAck() {
	if x.r.b.OowLimit > 0 && (x.g.segLen == 0 || x.g.flags&fSYN != 0) {
		if x.c.has(tOowSent) {
			return
		}
		x.c.set(tOowSent, true)
	}
	x.c.set(tAckNow, true)
}

// ActOowSynAck: The SYN,ACK again for a retransmitted SYN in SYN-RECEIVED
// (linux), under the same rate limit as OowAck (a SYN is always subject to
// it).
func (x absRun) ActOowSynAck() {
	if x.r.b.OowLimit > 0 {
		if x.c.has(tOowSent) {
			return
		}
		x.c.set(tOowSent, true)
	}
	sendSyn(x.r, x.e, x.c, fSYN|fACK)
}

// ActSendCookieSynAck: never reached (the SYN queue never fills).
func (x absRun) ActSendCookieSynAck() {}

// ActCookieAccept: never reached (CookieValid is false).
func (x absRun) ActCookieAccept() {}

// ActSendRst: RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST> (with ACK, as fsm/tcp).
func (x absRun) ActSendRst() {
	x.r.emit(x.e, fRST|fACK, int(x.c.SndNxt), int(x.c.RcvNxt), 0)
	x.r.unilateral[x.e] = true
}

// ActSendRstR1: RFC 9293 §3.10.7.1 R1: <SEQ=SEG.ACK><CTL=RST>.
func (x absRun) ActSendRstR1() { x.r.emit(x.e, fRST, x.g.ack, 0, 0) }

// ActSendRstR2: R2: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
func (x absRun) ActSendRstR2() { x.r.emit(x.e, fRST|fACK, 0, x.g.origSeq+x.g.segLen, 0) }

func (x absRun) ActSetIRS() {
	x.c.Irs = int8(x.g.seq)
	x.c.RcvNxt = int8(x.g.seq + 1)
	x.c.RcvEdge = int8(min(127, x.g.seq+1+x.r.b.Window))
}

func (x absRun) ActTrimSyn() { x.g.seq++; x.g.flags &^= fSYN }

// ActTrimToWindow: RFC 9293 §3.10.7.4 step 1: cut the text to [RCV.NXT, edge).
func (x absRun) ActTrimToWindow() {
	start := x.g.origSeq
	if x.g.flags&fSYN != 0 {
		start++
	}
	nxt := int(x.c.RcvNxt)
	if start < nxt {
		cut := min(nxt-start, x.g.text)
		x.g.text -= cut
		start += cut
	}
	x.g.seq = start
	edge := int(x.c.RcvEdge)
	if start >= edge {
		if x.g.text > 0 {
			x.g.text = 0
			x.g.flags &^= fFIN
		}
		return
	}
	if room := edge - start; x.g.text > room {
		x.g.text = room
		x.g.flags &^= fFIN
	}
}

// ActWindowInit: SND.WND is the constant Window.
func (x absRun) ActWindowInit() {}

// ActWindowUpdate has no effect on the abstract state.
func (x absRun) ActWindowUpdate() {}

// ActAckAdvance: RFC 9293 §3.10.7.4 step 5: SND.UNA advances; the
// retransmission timer. restarts or stops (RFC 6298 §5.2-5.3). Duplicate ACKs
// are not modelled.
func (x absRun) ActAckAdvance() {
	if x.g.ack <= int(x.c.SndUna) {
		return
	}
	x.c.SndUna = int8(x.g.ack)
	if x.c.RtxNxt < x.c.SndUna {
		x.c.RtxNxt = x.c.SndUna
	}
	x.c.Retries = 0
	x.c.set(tRtx, x.c.SndUna != x.c.SndNxt)
}

// ActDeliver: RFC 9293 §3.10.7.4 step 7: in order, RCV.NXT advances (through a
// held. range it reaches); early, the range is held (one range; a second one
// that does not touch it is dropped, as a full out-of-order queue).
func (x absRun) ActDeliver() {
	seq, end := x.g.seq, x.g.seq+x.g.text
	if seq == int(x.c.RcvNxt) {
		x.c.RcvNxt = int8(end)
		if x.c.has(tOOO) && int(x.c.OooBeg) <= end {
			x.c.RcvNxt = max(x.c.RcvNxt, x.c.OooEnd)
			x.c.set(tOOO, false)
			x.c.OooBeg, x.c.OooEnd = 0, 0
		}
	} else {
		switch {
		case !x.c.has(tOOO):
			x.c.set(tOOO, true)
			x.c.OooBeg, x.c.OooEnd = int8(seq), int8(end)
		case seq <= int(x.c.OooEnd) && end >= int(x.c.OooBeg):
			x.c.OooBeg, x.c.OooEnd = min(x.c.OooBeg, int8(seq)), max(x.c.OooEnd, int8(end))
		default:
			x.g.flags &^= fFIN
		}
	}
	x.c.set(tAckNow, true)
}

// ActUrgentAdvance: RCV.UP is not modelled (only injected segments carry URG).
func (x absRun) ActUrgentAdvance() {}

func (x absRun) ActRcvFin() {
	x.c.RcvNxt++
	x.c.set(tFinRcvd, true)
}

func (x absRun) ActQueueSend() {
	x.c.DataEnd++
	x.r.s.E[x.e].Sends++
}

func (x absRun) ActQueueFin() { x.c.set(tFinQueued, true) }

// ActRecvData: data is read as it arrives.
func (x absRun) ActRecvData() {}

// ActQueueAccept: accepted at once.
func (x absRun) ActQueueAccept() {}

// ActSignalConnected has no effect on the abstract state.
func (x absRun) ActSignalConnected() {}

// ActSignalReset has no effect on the abstract state.
func (x absRun) ActSignalReset() {}

// ActSignalRefused has no effect on the abstract state.
func (x absRun) ActSignalRefused() {}

func (x absRun) ActSignalTimeout() { x.r.unilateral[x.e] = true }

// ActStartFinWait2: RFC 9293 §3.6: an orphan's FIN-WAIT-2 is timed.
func (x absRun) ActStartFinWait2() {
	if x.c.has(tUserClosed) {
		x.c.set(tTW, true)
	}
}

// ActStartTimeWait: RFC 9293 §3.10.7.4 step 8: TIME-WAIT runs (MUST-13); other
// timers stop.
func (x absRun) ActStartTimeWait() {
	x.c.set(tTW, true)
	x.c.set(tRtx, false)
}

// ActRetransmit: RFC 6298 §5.4-5.6: count the timeout, resend the SYN (or
// SYN,ACK), or. go back to SND.UNA.
func (x absRun) ActRetransmit() {
	x.c.Retries++
	switch x.c.St {
	case tcp.StateSynSent:
		x.r.emitTCB(x.c, x.e, fSYN, int(x.c.Iss), 0)
	case tcp.StateSynReceived:
		x.r.emitTCB(x.c, x.e, fSYN|fACK, int(x.c.Iss), 0)
	default:
		x.c.RtxNxt = x.c.SndUna
	}
}

func (x absRun) ActRelease() { x.c.set(tRtx|tTW, false) }

func (x absRun) ActReopen() {
	x.c.set(tRtx|tTW, false)
	x.g.reopen = true
}

func (x absRun) ActHoldFin() {
	x.c.set(tFinHeld, true)
	x.c.FinSeq = int8(x.g.seq + x.g.text)
}

// ActFailExists has no effect on the abstract state.
func (x absRun) ActFailExists() {}

// ActFailNotExist has no effect on the abstract state.
func (x absRun) ActFailNotExist() {}

// ActFailClosing has no effect on the abstract state.
func (x absRun) ActFailClosing() {}

// ActUpdateTSRecent: no timestamps in the abstraction.
func (x absRun) ActUpdateTSRecent() {}

// ActZeroWindowTrim: The text (and FIN) of a segment taken into a zero window
// is discarded. and ACKed; its ACK is processed.
func (x absRun) ActZeroWindowTrim() {
	if x.g.text > 0 || x.g.flags&fFIN != 0 {
		x.c.set(tAckNow, true)
	}
	x.g.text = 0
	x.g.flags &^= fFIN
	x.g.seq = x.g.origSeq
}

// sendSyn sends SYN or SYN,ACK <SEQ=ISS> and starts the retransmission timer.
func sendSyn(r *runner, e int, c *TCB, flags uint8) {
	r.emitTCB(c, e, flags, int(c.Iss), 0)
	if c.SndNxt == c.Iss {
		c.SndNxt = c.Iss + 1
	}
	c.set(tRtx, true)
}
