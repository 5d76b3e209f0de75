package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// sender is the sending half of a connection (RFC 9293 §3.7, §3.8, §3.10.7.4
// step 5): the send buffer and the transmit records, the window the peer
// offers, the retransmission timer (RFC 6298), congestion control (RFC 5681,
// cc.go), loss recovery (the SACK scoreboard, RFC 6675; RACK-TLP, RFC 8985;
// undo, undo.go) and the user timeout. Its fields are written only by its
// own methods and by the actions of actions.go that queue user data.
type sender struct {
	c *Conn // the connection that owns it

	buf       sndBuf       // the octets from bufSeq on, sent or not (sndbuf.go)
	bufSeq    seqnum.Value // sequence number of buf's first octet
	locked    bool         // SetSendBuffer fixed buf.limit: no auto-tuning
	full      bool         // a Send found the send buffer full since the last ACK
	finQueued bool         // CLOSE given: FIN follows the queued data
	finSent   bool         // our FIN has been sent (it occupies SND.NXT-1 once sent)
	shift     uint8        // the peer's window scale shift (RFC 7323); zero unless both sides sent WS
	maxWnd    uint32       // the largest window the peer offered (sender SWS avoidance)
	mss       int          // effective send MSS (MUST-15, MUST-16; mss.go)
	peerMSS   int          // the peer's MSS option (536 without one)
	pathMSS   int          // path MTU less 40 from ICMP (RFC 1191); 0: none learnt
	noDelay   bool         // Nagle off (MUST-17)
	tlpArmed  bool         // an ACK or new data asks to (re)schedule the PTO (rack.go)
	smlEnd    seqnum.Value // end of the last sub-MSS segment sent (Minshall's Nagle, §3.7.4)

	// Retransmission (RFC 6298) and the user timeout (RFC 9293 §3.8.3 R2
	// as a time, RFC 5482 semantics).
	rto, srtt, rttvar time.Duration
	hasRTT            bool
	rttValid          bool // a segment is being timed (Karn: never a retransmitted one)
	rttSeq            seqnum.Value
	rttAt             tick
	tsRTOFloor        uint32       // our TSval at the last timeout; older echoes give no sample
	rtxMark           seqnum.Value // end of the highest octet ever retransmitted: ACKs below it give no timer sample (Karn)
	rtxAt             tick         // retransmission / persist deadline; zero = stopped
	retries           int32
	retrying          bool          // R1 reached: retransmissions persist (RFC 9293 §3.8.3, SHLD-9)
	rtxNxt            seqnum.Value  // go-back-N cursor after a timeout
	persist           bool          // rtxAt is the persist timer (zero window, nothing in flight)
	forceOne          bool          // send one octet even into a zero window (probe)
	userTimeout       time.Duration // 0: only MaxRetries limits retransmission
	rtxSince          tick          // since when data has waited unacknowledged without progress; zero: none

	// Congestion control (RFC 5681, cc.go) and loss recovery (recovery.go).
	cc      ccState   // cwnd, ssthresh and the algorithm's state (cc.go)
	ecn     ecnSender // the reaction to ECE (RFC 3168 §6.1.2, ecn.go)
	dupAcks int32     // duplicate ACKs in a row (RFC 5681 §3.2)
	rec     recovery  // fast recovery and the SACK scoreboard

	// RACK-TLP (RFC 8985, rack.go) and undo (undo.go).
	txq      txQueue    // per-segment transmit records, SND.UNA to SND.NXT
	rack     rackState  // RACK.xmit_ts, RACK.rtt, reordering window
	tlp      tlpState   // the outstanding loss probe
	rackAt   tick       // RACK reordering timer; zero = stopped
	tlpAt    tick       // probe timeout (PTO); zero = stopped
	lastXmit int64      // Segment.xmit_ts of the latest transmission: each later one is stamped after it (rack.go txRecord)
	undo     *undoState // congestion state saved by the loss episode (allocated at the first)
	bbr      *bbrState  // BBR's model and delivery rate state (Config.CC = BBR; allocated at the first send)
}

// start sets the send sequence variables of a new connection: ISS, and
// SND.UNA = SND.NXT = una (ISS, or ISS+1 when the SYN is already
// acknowledged, as for a SYN cookie); the send buffer's first octet
// follows the SYN (RFC 9293 §3.4.1).
func (snd *sender) start(iss, una seqnum.Value) {
	t := &snd.c.tcb
	t.Iss = iss
	t.SndUna, t.SndNxt = una, una
	snd.bufSeq = iss + 1
	snd.rtxNxt, snd.smlEnd, snd.rtxMark, snd.rec.point = una, una, una, una
}

// stopTimers stops the retransmission, persist, RACK and probe timers.
func (snd *sender) stopTimers() {
	snd.rtxAt, snd.rackAt, snd.tlpAt = 0, 0, 0
	if snd.bbr != nil {
		snd.bbr.paceWake = 0
	}
	snd.persist = false
}

// flush drops everything queued and in flight and stops the timers: the
// connection is released (RFC 9293 §3.10.4, §3.10.7).
func (snd *sender) flush() {
	snd.buf.reset()
	snd.stopTimers()
	snd.txq.reset()
	snd.rtxSince = 0
}

// onAck processes an ACK (RFC 9293 §3.10.7.4 step 5): the SACK blocks
// update the scoreboard (RFC 2018); an ACK that does not advance SND.UNA
// may be a duplicate (dupAck); an advancing one moves SND.UNA (newAck).
func (snd *sender) onAck(s *segment) {
	c := snd.c
	t := &c.tcb
	c.snd.ecnAck(s)
	snd.rack.probeDup = false
	c.l.bbrRS = bbrSample{} // this ACK's rate sample starts empty (bbr.go)
	newSACK, dsack := false, false
	if c.sackOK && s.opts.NumSACK > 0 {
		var d seqRange
		if d, dsack = dsackBlock(&s.opts, s.ack); dsack {
			snd.gotDSACK(s, d)
		}
		newSACK = snd.rec.sb.update(&c.l.oooPool, &s.opts, t.SndUna, t.SndNxt, dsack)
	}
	if !t.SndUna.LessThan(s.ack) {
		snd.dupAck(s, newSACK, dsack)
	} else {
		snd.newAck(s, dsack)
	}
	if snd.bbrOn() {
		snd.bbrOnAck(s.now)
	}
}

// dupAck handles an ACK at or below SND.UNA: RACK takes its SACK blocks; a
// duplicate ACK counts toward fast retransmit (RFC 5681 §3.2).
func (snd *sender) dupAck(s *segment, newSACK, dsack bool) {
	t := &snd.c.tcb
	rack := snd.rackOn()
	if rack && s.ack == t.SndUna && t.SndUna != t.SndNxt && (newSACK || dsack) {
		snd.rackOnAck(s, dsack)
		snd.tlpArmed = true // tlpArm decides (RFC 8985 §7.2: not while segments are SACKed, unless in recovery)
	}
	// A duplicate ACK (RFC 5681 §2): same ACK, no data, no SYN/FIN, data
	// outstanding, and the same window; with SACK, an ACK that SACKs new
	// octets counts whatever its window (RFC 6675 §2). A receiver whose
	// window grows with each ACK (Linux autotuning) otherwise never
	// triggers fast retransmit, and every loss waits for the RTO. An
	// ACK that only reports a D-SACK tells of a duplicate, not a loss
	// (RFC 2883 §4, RFC 6675 §2).
	if s.ack == t.SndUna && s.textLen() == 0 && s.flags&(wire.FlagSYN|wire.FlagFIN) == 0 &&
		t.SndUna != t.SndNxt && (newSACK || !dsack && t.SndWnd > 0 && snd.scaledWnd(s) == t.SndWnd) {
		snd.dupAcks++
		snd.lossDetect(s.now)
	}
	if s.ack == t.SndUna && t.SndWnd == 0 {
		// MUST-37: an answered zero-window probe keeps the connection, and
		// the path works: R1's report ends too (SHLD-9).
		snd.retries, snd.retrying = 0, false
	}
	if rack {
		snd.tlpAck(s, false)
	}
	if s.ack == t.SndUna {
		snd.undoCheck(s, false)
	}
}

// newAck handles an ACK that advances SND.UNA: it frees the acknowledged
// octets, takes an RTT sample, restarts the retransmission timer (RFC 6298
// §5.3) and grows the congestion window or advances loss recovery.
func (snd *sender) newAck(s *segment, dsack bool) {
	c := snd.c
	t := &c.tcb
	acked := uint32(s.ack - t.SndUna)
	synTimedOut := t.SndUna == t.Iss && snd.retries > 0
	snd.advanceUna(s)
	if synTimedOut && !snd.hasRTT {
		snd.rto = snd.synFallbackRTO()
	}
	snd.retries = 0
	snd.retrying = false
	if snd.rec.rtoRec && !t.SndUna.LessThan(snd.rec.point) {
		snd.rec.rtoRec = false
		snd.rackRecoveryEnded()
		if snd.bbrOn() {
			snd.bbrRecovered()
		}
	}
	rack := snd.rackOn()
	if rack {
		snd.rackOnAck(s, dsack)
		snd.tlpArmed = true
	} else {
		snd.txq.reset()
	}
	if snd.rec.active {
		snd.recoveryAck(s)
	} else {
		snd.dupAcks = 0
		if !c.snd.ecnHold(s) {
			snd.ccAck(acked, s.now)
		}
		snd.lossDetect(s.now)
	}
	if snd.full {
		snd.full = false
		snd.expand()
	}
	if rack {
		snd.tlpAck(s, true)
	}
	snd.undoCheck(s, true)
	if t.SndUna == t.SndNxt {
		snd.rtxAt = 0
		snd.rtxSince = 0
		snd.rackAt = 0
	} else {
		snd.rtxAt = s.at.Add(snd.rto)
		snd.rtxSince = s.at // progress: the user timeout starts over
		snd.clampUserTimeout()
	}
}

// advanceUna moves SND.UNA to SEG.ACK: the acknowledged octets leave the
// send buffer and the scoreboard, and the ACK gives an RTT sample from its
// timestamp echo, or from the timed segment under Karn's rule (MUST-18).
func (snd *sender) advanceUna(s *segment) {
	c := snd.c
	t := &c.tcb
	if s.ack.GreaterThan(snd.bufSeq) {
		d := min(int(s.ack-snd.bufSeq), snd.buf.n)
		snd.buf.discard(d)
		snd.bufSeq = snd.bufSeq.Add(seqnum.Size(d))
		if d > 0 {
			c.notify(sock.Writable)
		}
	}
	s.advanced = true
	flight := uint32(t.SndNxt - t.SndUna)
	// Karn (MUST-18): an ACK covering retransmitted octets cannot time
	// anything by the clock, not even a later segment it also covers (its
	// ACK waited for the repair).
	karn := t.SndUna.LessThan(snd.rtxMark)
	t.SndUna = s.ack
	snd.rec.sb.trim(t.SndUna)
	if snd.rtxNxt.LessThan(t.SndUna) {
		snd.rtxNxt = t.SndUna
	}
	if snd.tsRTT(s, flight) {
		snd.rttValid = false
	} else if snd.rttValid && snd.rttSeq.LessThan(s.ack) {
		snd.rttValid = false
		if !karn {
			snd.rttSample(s.at.Sub(snd.rttAt), 1)
		}
	}
}

// rackOnAck runs RACK on an ACK (RFC 8985 §6.2): deliver the newly ACKed
// and SACKed segments, adapt the reordering window to D-SACKs, and detect
// losses when RACK.xmit_ts advanced.
func (snd *sender) rackOnAck(s *segment, dsack bool) {
	snd.rackAck(s)
	snd.rackDSACKRound(dsack)
	if snd.rack.advanced {
		snd.rackDetect(s.now)
	}
}

// gotDSACK handles a D-SACK block (RFC 2883 §4-5): counted, matched
// against the loss episode's retransmissions (undo.go) and the outstanding
// loss probe (RFC 8985 §7.4.2).
func (snd *sender) gotDSACK(s *segment, d seqRange) {
	c := snd.c
	c.l.ctr.DSACKsRcvd++
	snd.undoDSACK(s, d)
	if p := &snd.tlp; p.active && p.isRtx && d.start.LessThan(p.endSeq) && !d.end.Add(1).LessThan(p.endSeq) {
		p.dsacks = min(p.dsacks+1, 255)
		snd.rack.probeDup = true
	}
}

// scaledWnd returns SEG.WND in octets.
func (snd *sender) scaledWnd(s *segment) uint32 {
	if s.flags&wire.FlagSYN != 0 {
		return uint32(s.wnd)
	}
	return uint32(s.wnd) << snd.shift
}
