package tcp

import (
	"fmt"
	"io"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// The actions of spec/tcp.fsm, methods of tcpRun (Impl), on the TCB x.c and
// the segment or user call x.s. One the spec names without a method here
// does not compile.

func (x tcpRun) ActChooseISS() { chooseISS(x.c, x.s) }

func (x tcpRun) ActSendSyn() { x.c.snd.sendSyn(x.s.now, false) }

func (x tcpRun) ActSendSynAck() { x.c.snd.sendSyn(x.s.now, true) }

// ActSendAck: The ACK is owed, not sent: output piggybacks it on data or sends
// it once the whole input is processed (MUST-58, MUST-59).
func (x tcpRun) ActSendAck() { x.c.rcv.ackNow = true }

// ActSendRst: RFC 9293 §3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST> (with ACK, as
// Linux).
func (x tcpRun) ActSendRst() {
	x.c.l.sendRst(x.c.key, x.c.rstMeta(), x.c.tcb.SndNxt, x.c.tcb.RcvNxt, wire.FlagRST|wire.FlagACK)
}

// ActSendRstR1: R1: <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.1).
func (x tcpRun) ActSendRstR1() { x.c.l.sendRst(x.c.key, x.c.rstMeta(), x.s.ack, 0, wire.FlagRST) }

// ActSendRstR2: R2: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> (RFC 9293
// §3.10.7.1).
func (x tcpRun) ActSendRstR2() {
	x.c.l.sendRst(x.c.key, x.c.rstMeta(), 0, x.s.origSeq.Add(seqnum.Size(x.s.segLen)), wire.FlagRST|wire.FlagACK)
}

func (x tcpRun) ActSetIRS() { setIRS(x.c, x.s) }

func (x tcpRun) ActTrimSyn() { x.s.seq++; x.s.flags &^= wire.FlagSYN }

func (x tcpRun) ActTrimToWindow() { x.c.rcv.trim(x.s) }

func (x tcpRun) ActWindowInit() { x.c.snd.windowInit(x.s) }

func (x tcpRun) ActAckAdvance() { ackAdvance(x.c, x.s) }

func (x tcpRun) ActWindowUpdate() { x.c.snd.windowUpdate(x.s) }

func (x tcpRun) ActDeliver() { x.c.rcv.deliver(x.s) }

func (x tcpRun) ActUrgentAdvance() { x.c.rcv.urgentAdvance(x.s) }

func (x tcpRun) ActRcvFin() { x.c.rcv.finArrived() }

func (x tcpRun) ActQueueSend() { x.c.snd.queue(x.s) }

func (x tcpRun) ActQueueFin() {
	x.c.snd.finQueued = true
}

func (x tcpRun) ActRecvData() { x.c.rcv.read(x.s) }

func (x tcpRun) ActQueueAccept() {
	ln := x.c.ln
	if ln == nil {
		return
	}
	for i, e := range ln.embryos {
		if e == x.c {
			copy(ln.embryos[i:], ln.embryos[i+1:])
			ln.embryos[len(ln.embryos)-1] = nil
			ln.embryos = ln.embryos[:len(ln.embryos)-1]
			break
		}
	}
	ln.queue = append(ln.queue, x.c)
	x.c.queued = true
	x.c.l.out.Notify(ln.id, sock.Acceptable)
}

func (x tcpRun) ActSignalConnected() { x.c.notify(sock.Connected | sock.Writable) }

func (x tcpRun) ActSignalReset() { x.c.fail(sock.ErrReset) }

func (x tcpRun) ActSignalRefused() { x.c.fail(sock.ErrRefused) }

func (x tcpRun) ActSignalTimeout() { signalTimeout(x.c, x.s) }

// ActStartTimeWait: RFC 9293 §3.10.7.4 step 8 / §3.6.1: TIME-WAIT lasts 2*MSL
// (MUST-13); the other timers stop.
func (x tcpRun) ActStartTimeWait() {
	x.c.twAt = x.s.at.Add(2 * x.c.l.cfg.MSL)
	x.c.snd.stopTimers()
	// Nothing more is sent or received in TIME-WAIT: give the buffers
	// back (unread data stays readable).
	x.c.giveBackBuffers()
}

// ActStartFinWait2: RFC 9293 §3.6: an orphaned connection (its user closed it)
// waits in FIN-WAIT-2 for the peer's FIN at most Config.FinWait2Timeout
// (Linux's tcp_fin_timeout); a connection its user still holds waits as long
// as the user likes (a half close).
func (x tcpRun) ActStartFinWait2() {
	if x.c.userClosed {
		x.c.twAt = x.s.at.Add(x.c.l.cfg.FinWait2Timeout)
	}
}

func (x tcpRun) ActRetransmit() { x.c.snd.retransmit(x.s) }

func (x tcpRun) ActRelease() { release(x.c, x.s) }

func (x tcpRun) ActReopen() {
	release(x.c, x.s)
	x.s.reopen = true
}

func (x tcpRun) ActHoldFin() { x.c.rcv.holdFin(x.s) }

func (x tcpRun) ActFailExists() { x.s.err = sock.ErrExists }

func (x tcpRun) ActFailNotExist() {
	x.s.err = sock.ErrNotExist
	if x.c.err != nil {
		x.s.err = x.c.err
	}
}

func (x tcpRun) ActFailClosing() { x.s.err = sock.ErrClosing }

func (x tcpRun) ActUpdateTSRecent() { x.c.rcv.updateTSRecent(x.s) }

func (x tcpRun) ActChallengeAck() { challengeAck(x.c, x.s) }

func (x tcpRun) ActOowAck() { oowAck(x.c, x.s) }

func (x tcpRun) ActOowSynAck() { oowSynAck(x.c, x.s) }

// ActSendCookieSynAck: RFC 4987 §3.6 SYN cookies (cookie.go).
func (x tcpRun) ActSendCookieSynAck() { sendCookieSynAck(x.c, x.s) }

func (x tcpRun) ActCookieAccept() { cookieAccept(x.c, x.s) }

// ActZeroWindowTrim: A segment let through a zero window for its ACK: its text
// and FIN cannot be taken, and are ACKed as unacceptable (RFC 9293 §3.10.7.4
// step 1).
func (x tcpRun) ActZeroWindowTrim() {
	if x.s.textLen() > 0 || x.s.flags&wire.FlagFIN != 0 {
		x.c.rcv.ackNow = true
	}
	x.s.clearText()
	x.s.flags &^= wire.FlagFIN
	x.s.seq = x.s.origSeq
}

// chooseISS picks the initial send sequence number (RFC 9293 §3.4.1) and
// sets SND.UNA = SND.NXT = ISS (the SYN advances SND.NXT when sent).
func chooseISS(c *Conn, s *segment) {
	iss := c.l.isn(s.now, c.key)
	c.snd.start(iss, iss)
	c.tsOffset = c.l.tsOffsetFor(c.key)
}

// setIRS records the peer's SYN: IRS, RCV.NXT = SEG.SEQ+1, and its options
// (MSS: MUST-14, MUST-15; window scale: RFC 7323 §2.2).
func setIRS(c *Conn, s *segment) {
	t := &c.tcb
	t.Irs = s.seq
	t.RcvNxt = s.seq + 1
	t.RcvUp = t.RcvNxt // no urgent data yet
	// Our SYN (or SYN,ACK) offers an unscaled window of up to 64 KiB.
	c.rcv.edge = t.RcvNxt.Add(seqnum.Size(min(c.rcv.limit, 0xffff)))
	mss := 536
	if s.opts.HasMSS && s.opts.MSS > 0 {
		mss = int(s.opts.MSS)
	}
	c.snd.peerMSS = mss
	c.snd.mss = min(mss, int(c.l.cfg.MSS))
	if s.opts.HasWScale {
		c.snd.shift = min(s.opts.WScale, wire.MaxWScale)
	} else {
		c.snd.shift, c.rcv.shift = 0, 0
		c.rcv.buf.size = c.rcv.ringSize(c.rcv.limit, 0)
	}
	c.negotiateOptions(s)
	c.ecnNegotiate(s)
	c.snd.cc.start(c.snd.mss) // RFC 6928 initial window
}

// windowInit sets SND.WND, SND.WL1, SND.WL2 from the segment that
// synchronizes us (RFC 9293 §3.10.7.3 step 4, §3.10.7.4 step 5 SYN-RECEIVED).
// A SYN's window is never scaled (RFC 7323 §2.2).
func (snd *sender) windowInit(s *segment) {
	c := snd.c
	snd.setWnd(s)
	c.tcb.SndWl1, c.tcb.SndWl2 = s.origSeq, s.ack
}

func (snd *sender) setWnd(s *segment) {
	c := snd.c
	w := uint32(s.wnd)
	if s.flags&wire.FlagSYN == 0 {
		w <<= snd.shift
	}
	c.tcb.SndWnd = w
	snd.maxWnd = max(snd.maxWnd, w)
}

// windowUpdate is the SND.WND update of RFC 9293 §3.10.7.4 step 5: from a
// segment newer than the last update (WL1, WL2), or, as Linux does
// (tcp_may_update_window), from any segment whose ACK moved SND.UNA. The
// RFC's test alone rejects the window of a retransmitted segment (its SEQ is
// older than WL1) while its ACK still advances SND.UNA; SND.UNA+SND.WND then
// runs past the edge the peer offered, and we sent beyond its window.
func (snd *sender) windowUpdate(s *segment) {
	c := snd.c
	t := &c.tcb
	if t.SndUna.LessThanEq(s.ack) && s.ack.LessThanEq(t.SndNxt) &&
		(s.advanced || t.SndWl1.LessThan(s.origSeq) || (t.SndWl1 == s.origSeq && t.SndWl2.LessThanEq(s.ack))) {
		old := t.SndWnd
		snd.setWnd(s)
		t.SndWl1, t.SndWl2 = s.origSeq, s.ack
		if old == 0 && t.SndWnd > 0 {
			// The window reopened: stop probing, resend the probe octet (the
			// peer dropped it) and forget the probes' backoff.
			if snd.persist {
				snd.persist = false
				snd.rtxAt = 0
			}
			snd.rtxNxt = t.SndUna
			snd.resetRTO()
		}
	}
}

// trim cuts the segment text to [RCV.NXT, RCV.NXT+RCV.WND)
// (RFC 9293 §3.10.7.4 step 1). Afterwards s.seq is the sequence number of
// the first text octet; a FIN past the right edge is dropped. A SYN still
// on the segment occupies s.seq; after TrimSyn s.seq is already past it.
func (rcv *receiver) trim(s *segment) {
	c := rcv.c
	start := s.seq
	if s.flags&wire.FlagSYN != 0 {
		start++
	}
	nxt := c.tcb.RcvNxt
	if start.LessThan(nxt) {
		cut := min(uint32(nxt-start), uint32(s.textLen()))
		s.cutFront(int(cut))
		start = start.Add(seqnum.Size(cut))
	}
	s.seq = start
	// A FIN needs no buffer space: it is kept unless text was cut off before it.
	edge := rcv.edge
	if !start.LessThan(edge) {
		if s.textLen() > 0 {
			s.clearText()
			s.flags &^= wire.FlagFIN
			rcv.ackNow = true
		}
		return
	}
	if room := uint32(edge - start); uint32(s.textLen()) > room {
		s.keep(int(room))
		s.flags &^= wire.FlagFIN
		rcv.ackNow = true // the sender overran the window: tell it at once
	}
}

// ackAdvance processes an ACK (RFC 9293 §3.10.7.4 step 5) in the sender
// (sender.go). The segment passed the sequence and ACK checks: the peer
// is heard, and the keep-alive idle period restarts (MUST-26; a segment
// dropped before step 5, one a blind sender could forge, does not).
func ackAdvance(c *Conn, s *segment) {
	c.kaHeard(s.now)
	c.snd.onAck(s)
}

// deliver places the segment text (RFC 9293 §3.10.7.4 step 7): in order, it
// extends the readable data and pulls in any held segments it reaches, and its
// ACK may be delayed (SHLD-18); early, it is held (SHLD-31) and a duplicate
// ACK goes out at once (MAY-13, RFC 5681 §4.2).
func (rcv *receiver) deliver(s *segment) {
	c := rcv.c
	t := &c.tcb
	rcv.ecnRcv(s)
	off := int(s.seq - t.RcvNxt)
	n := s.textLen()
	end := s.seq.Add(seqnum.Size(n))
	if off == 0 {
		gap := len(rcv.buf.ooo) > 0 // it may fill (part of) a hole
		rcv.buf.writeText(rcv.buf.unread, s)
		rcv.buf.unread += n
		t.RcvNxt = rcv.buf.advance(end)
		c.notify(sock.Readable)
		rcv.rttMeasure(s)
		if gap {
			rcv.syncOOO()
			rcv.ackNow = true // RFC 5681 §4.2: ACK a segment filling a gap at once
			return
		}
		rcv.delayAck(s.now, n, s.pieceLen())
		return
	}
	rcv.noteDuplicateOOO(s.seq, end)
	if l := c.l; l.oooBytes+n > l.cfg.MaxOOOBytes {
		l.ctr.OOOStackDrops++
		l.m.Drop(DropOOOFull)
		s.flags &^= wire.FlagFIN
	} else if !rcv.buf.addOOO(s.seq, end) {
		c.l.ctr.OOODrops++
		c.l.m.Drop(DropOOOFull)
		s.flags &^= wire.FlagFIN
	} else {
		rcv.buf.writeText(rcv.buf.unread+off, s)
		c.l.ctr.OOOSegs++
		rcv.sackLast = seqRange{s.seq, end}
		rcv.syncOOO()
	}
	rcv.ackNow = true
}

// urgentAdvance records the urgent pointer (RFC 9293 §3.10.7.4 step 6,
// MUST-30); urgent data is delivered inline. When the pointer advances the
// application is told asynchronously (§3.8.5, MUST-32): sock.Urgent, and
// Conn.Urgent says how much is pending (MUST-33).
func (rcv *receiver) urgentAdvance(s *segment) {
	c := rcv.c
	up := s.origSeq.Add(seqnum.Size(s.up))
	if c.tcb.RcvUp.LessThan(up) {
		c.tcb.RcvUp = up
		if rcv.readSeq().LessThan(up) {
			c.notify(sock.Urgent)
		}
	}
}

// readSeq returns the sequence number of the next octet RECEIVE returns.
func (rcv *receiver) readSeq() seqnum.Value {
	c := rcv.c
	seq := c.tcb.RcvNxt - seqnum.Value(rcv.buf.unread)
	if rcv.finRcvd {
		seq-- // the FIN occupies RCV.NXT-1
	}
	return seq
}

// Urgent reports whether urgent data is pending and how much (RFC 9293
// §3.8.5, MUST-33): the octets from the next one Recv returns up to the
// peer's urgent pointer RCV.UP, which points at the octet after the urgent
// data (MUST-62). Urgent data stays in line (as with SO_OOBINLINE): Recv
// returns it in sequence, and pending drops as it is read. It may count
// octets that have not arrived yet (a pointer beyond the data received).
func (c *Conn) Urgent() (pending int, ok bool) {
	if c.twGen != 0 || c.state == StateClosed && c.rcv.buf.unread == 0 {
		return 0, false
	}
	if d := int32(c.tcb.RcvUp - c.rcv.readSeq()); d > 0 {
		return int(d), true
	}
	return 0, false
}

// queue copies user data into the send buffer (RFC 9293 §3.10.2).
func (snd *sender) queue(s *segment) {
	c := snd.c
	if c.err != nil {
		s.err = c.err
		return
	}
	s.n = snd.buf.write(s.buf)
	if s.n < len(s.buf) {
		snd.full = true // the application wants more room (autotune.go)
	}
	if s.n == 0 && len(s.buf) > 0 {
		s.err = sock.ErrWouldBlock
	}
}

// read satisfies RECEIVE (RFC 9293 §3.10.3): data first, then end of
// file after the peer's FIN, then the error that ended the connection.
func (rcv *receiver) read(s *segment) {
	c := rcv.c
	before := rcv.offer()
	if s.n = rcv.buf.read(s.buf); s.n > 0 {
		rcv.copied += uint64(s.n)
		rcv.spaceAdjust(s.now)
		rcv.readAck(before)
		return
	}
	switch {
	case len(s.buf) == 0 && c.err == nil && !rcv.finRcvd:
		s.err = nil
	case rcv.finRcvd:
		s.err = io.EOF
	case c.err != nil:
		s.err = c.err
	case c.state == StateClosed:
		s.err = sock.ErrNotExist
	default:
		s.err = sock.ErrWouldBlock
	}
}

// retransmit handles the retransmission timeout (RFC 6298 §5.4-5.6): back off
// the RTO, stop timing (Karn), and resend from SND.UNA with a window of one
// segment (RFC 5681 §3.1), skipping SACKed octets (rtoRecovery). The persist timer shares the deadline: it sends a
// one-octet window probe instead (MUST-36, SHLD-29, SHLD-30).
func (snd *sender) retransmit(s *segment) {
	c := snd.c
	l := c.l
	snd.rto = min(2*snd.rto, l.cfg.RTOMax)
	snd.rtxAt = s.at.Add(snd.rto)
	snd.clampUserTimeout()
	snd.rttValid = false
	if snd.persist {
		snd.persist = false
		snd.forceOne = true
		return
	}
	// Echoes of timestamps sent before this timeout answer the original
	// transmission or a copy: no sample from them (RFC 7323 §4.3 case C).
	// Set in SYN-SENT too, before the option is agreed: a retransmitted
	// SYN,ACK echoing our first SYN would otherwise time the whole backoff.
	snd.tsRTOFloor = c.tsClock(s.now) | 1
	snd.retries++
	l.ctr.Timeouts++
	snd.r1Check()
	switch c.state {
	case StateSynSent:
		c.ecn.req = false // RFC 3168 §6.1.1.1: fall back to a non-ECN SYN, as Linux
		c.emitSyn(false)
		l.ctr.Retransmits++
		return
	case StateSynReceived:
		c.emitSyn(true)
		l.ctr.Retransmits++
		return
	}
	snd.rtoRecovery(s.now)
	if c.tcb.SndWnd == 0 {
		snd.forceOne = true
	}
}

// release is the spec's Release: the one place a connection's life in the
// layer ends (RFC 9293 §3.10.4-8, "delete the TCB"). Queues flushed, timers
// stopped, out of the connection table, the demultiplexing map, the timer
// heap and its listener's queues, rings given back; a listener's own TCB
// (CLOSE in LISTEN) leaves the listeners table. Every row that moves a
// connection to CLOSED names it; the state change itself frees nothing, so
// a row that forgets it leaves a CLOSED connection in the table, which
// Layer.CheckInvariants reports. Received data stays readable if the close
// was graceful.
func release(c *Conn, s *segment) {
	if c.state == StateListen {
		c.l.unlisten(c) // a listener's own TCB: it is in no connection table
	}
	c.snd.flush()
	c.twAt, c.rcv.delackAt = 0, 0
	if c.ka != nil {
		c.ka.at = 0
	}
	if c.ln != nil {
		c.ln.detach(c)
	}
	c.l.remove(c)
	c.giveBack(true)
	c.notify(sock.Closed | sock.Readable | sock.Writable)
}

// fail records err as the end of the connection and flushes the queues
// (RFC 9293 §3.10.7.4 step 2: RECEIVEs and SENDs get "reset").
func (c *Conn) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	c.snd.buf.reset()
	c.rcv.flush()
}

// challengeAck owes a challenge ACK (RFC 5961 §3.2, §4.2, §5.2) unless the
// connection has sent ChallengeACKLimit of them in the current
// ChallengeACKInterval (RFC 5961 §7). Only the challenge is limited: an ACK
// already owed for data, or data to send, goes out regardless.
func challengeAck(c *Conn, s *segment) {
	cfg := &c.l.cfg
	if s.at.Sub(c.lim.chalStart) >= cfg.ChallengeACKInterval || s.at.Before(c.lim.chalStart) {
		c.lim.chalStart, c.lim.chalN = s.at, 0
	}
	if c.lim.chalN >= cfg.ChallengeACKLimit {
		c.l.ctr.ChallengeLimited++
		return
	}
	c.lim.chalN++
	c.l.ctr.ChallengeACKs++
	c.rcv.ackNow = true
}

// oowAck owes the ACK that answers an unacceptable segment (RFC 9293
// §3.10.7.4 step 1: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>; RFC 7323 §5.3 for a
// PAWS reject), unless Config.OOWAckInterval holds it back: as Linux's
// tcp_oow_rate_limited, a segment with SEG.LEN = 0 (no text, no FIN; Linux's
// seq == end_seq) or with SYN gets at most one per interval per connection
// (the time is per connection, as Linux's tp->last_oow_ack_time); one with
// text or FIN is not part of an ACK loop and always gets it.
func oowAck(c *Conn, s *segment) {
	if c.oowLimited(s) {
		return
	}
	c.rcv.ackNow = true
}

// oowSynAck answers a retransmitted SYN in SYN-RECEIVED with the SYN,ACK
// again (the linux profile's DupSyn row), unless Config.OOWAckInterval
// holds it back: Linux's tcp_check_req asks tcp_oow_rate_limited (the
// request's last_oow_ack_time) before it retransmits the SYN,ACK for a
// "pure retransmitted SYN", so a flood of one SYN gets one SYN,ACK per
// interval.
func oowSynAck(c *Conn, s *segment) {
	if c.oowLimited(s) {
		return
	}
	c.snd.sendSyn(s.now, true)
}

// oowLimited reports whether the rate limit of Config.OOWAckInterval holds
// back the reply to s (counting it), and otherwise starts a new interval
// when s is subject to it (SEG.LEN = 0 or SYN; Linux's tcp_oow_rate_limited).
func (c *Conn) oowLimited(s *segment) bool {
	iv := c.l.cfg.OOWAckInterval
	if iv <= 0 || (s.segLen != 0 && s.flags&wire.FlagSYN == 0) {
		return false
	}
	if d := s.at.Sub(c.lim.oowLast); !c.lim.oowLast.IsZero() && d >= 0 && d < iv {
		c.l.ctr.OOWAckLimited++
		return true
	}
	c.lim.oowLast = s.at
	return false
}

// signalTimeout ends the connection with "connection aborted due to user
// timeout" (RFC 9293 §3.10.8); when an ICMP soft error arrived meanwhile,
// the error names it too (RFC 1122 §4.2.3.9), as Linux reports
// EHOSTUNREACH rather than ETIMEDOUT.
func signalTimeout(c *Conn, s *segment) {
	if c.softErr != nil {
		c.fail(fmt.Errorf("%w (last ICMP error: %w)", sock.ErrTimeout, c.softErr))
		return
	}
	c.fail(sock.ErrTimeout)
}
