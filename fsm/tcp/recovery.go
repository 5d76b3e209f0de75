package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
)

// recovery is the loss-recovery state of a connection: fast retransmit and
// fast recovery driven by SACK (RFC 6675) or, without SACK, by duplicate ACKs
// and partial ACKs (NewReno, RFC 6582).
type recovery struct {
	active  bool
	point   seqnum.Value // RecoveryPoint / "recover": SND.NXT when it started
	highRxt seqnum.Value // HighRxt: end of the highest retransmitted octet
	force   bool         // retransmit the next hole whatever the pipe says
	rtoRec  bool         // after a timeout, until SND.UNA passes point (RFC 8985 "RTO recovery")
	sb      scoreboard
}

// dupThresh is the duplicate-ACK threshold (RFC 5681 §3.2, RFC 6675 §2).
const dupThresh = 3

// lossDetect enters loss recovery when a segment is deemed lost: with
// RACK-TLP, any segment RACK marked lost (RFC 8985 §7.4: RACK replaces the
// DupThresh trigger for SACK connections); otherwise DupThresh duplicate
// ACKs, or (with SACK) IsLost(SND.UNA) (RFC 6675 §5 step 4). Not while
// recovering, and not for losses within the window of an earlier recovery
// or timeout (RFC 6582 §3.2 step 2: SND.UNA must be beyond "recover"); the
// segments RACK marks then are retransmitted as they are found.
func (snd *sender) lossDetect(now time.Time) {
	c := snd.c
	t := &c.tcb
	if snd.rec.active || t.SndUna == t.SndNxt || !sendsData(c.state) || !t.SndUna.GreaterThan(snd.rec.point) {
		return
	}
	if !snd.lossRecovery().lost(snd) {
		return
	}
	snd.undoArm(false)
	snd.tlpAt = 0
	snd.tlp = tlpState{probes: snd.tlp.probes} // the probe drew its answer; recovery probes take over (rack.go probeAllowed), counted on
	bbr := snd.bbrOn()
	if bbr {
		snd.bbrLoss()
	}
	snd.rec.active = true
	snd.rec.point = t.SndNxt
	snd.rec.highRxt = t.SndUna
	snd.rec.force = true // RFC 6675 §5 step 4.3 / RFC 5681 §3.2 step 2: the first hole goes now
	if !bbr {
		snd.ccLoss(now)
		snd.cc.enterRecovery()
	}
	snd.rttValid = false
	snd.rtxNxt = t.SndNxt
	c.l.ctr.FastRetransmits++
}

// recoveryAck handles an ACK that advanced SND.UNA during recovery: a full
// ACK (at or beyond the recovery point) ends it with cwnd = ssthresh (RFC
// 6582 §3.2 step 3, ccState.exitRecovery); a partial ACK without SACK
// retransmits the next segment at once (step 4).
func (snd *sender) recoveryAck(s *segment) {
	if !s.ack.LessThan(snd.rec.point) {
		snd.rec.active = false
		if snd.bbrOn() {
			snd.bbrRecovered()
		} else {
			snd.cc.exitRecovery(snd.mss)
		}
		snd.dupAcks = 0
		snd.rackRecoveryEnded()
		snd.undoRecoveryEnd(s)
		return
	}
	snd.dupAcks = 0
	snd.lossRecovery().partialAck(snd)
}

// lossRecovery is how a connection detects losses and chooses what to
// retransmit in fast recovery: RACK-TLP (RFC 8985, rack.go) when SACK is in
// use and RACK is on, the SACK scoreboard (RFC 6675, sack.go) otherwise
// with SACK, and NewReno (RFC 6582) without SACK. Implementations are
// stateless values; the state they read and write is the sender's (rec,
// txq, rack, dupAcks). Entering and leaving recovery, the window reaction
// and timeouts are shared (lossDetect, recoveryAck, rtoRecovery).
type lossRecovery interface {
	// lost reports whether a segment is deemed lost, so recovery starts.
	lost(snd *sender) bool
	// nextSeg returns the octets to retransmit next in recovery (RFC 6675
	// §4 NextSeg): from seq, at most maxN octets. newData reports whether
	// new data could go instead. ok is false when nothing is to be
	// retransmitted.
	nextSeg(snd *sender, newData bool) (seq seqnum.Value, maxN int, ok bool)
	// pipe estimates the octets in the network (RFC 6675 §4 SetPipe).
	pipe(snd *sender) uint32
	// partialAck handles an ACK that advanced SND.UNA during recovery
	// without reaching the recovery point.
	partialAck(snd *sender)
}

// lossRecovery returns the connection's loss recovery.
func (snd *sender) lossRecovery() lossRecovery {
	switch {
	case snd.rackOn():
		return rackRecovery{}
	case snd.c.sackOK:
		return sackRecovery{}
	}
	return renoRecovery{}
}

// renoRecovery is NewReno (RFC 6582, RFC 5681 §3.2) for a connection
// without SACK.
type renoRecovery struct{}

// lost: DupThresh duplicate ACKs (RFC 5681 §3.2 step 2).
func (renoRecovery) lost(snd *sender) bool { return snd.dupAcks >= dupThresh }

// nextSeg is the segment at SND.UNA, once per partial ACK (RFC 6582 §3.2
// step 4).
func (renoRecovery) nextSeg(snd *sender, newData bool) (seqnum.Value, int, bool) {
	t := &snd.c.tcb
	una := t.SndUna
	if snd.rec.force || !una.LessThan(snd.rec.highRxt) {
		return una, int(t.SndNxt - una), una.LessThan(t.SndNxt)
	}
	return 0, 0, false
}

// pipe is the flight less one MSS per duplicate ACK, plus the
// retransmitted octets.
func (renoRecovery) pipe(snd *sender) uint32 {
	t := &snd.c.tcb
	p := int64(t.SndNxt-t.SndUna) - int64(snd.dupAcks)*int64(snd.mss) + int64(snd.rtxOut())
	return uint32(max(p, 0))
}

// partialAck retransmits the next segment at once (RFC 6582 §3.2 step 4).
func (renoRecovery) partialAck(snd *sender) {
	una := snd.c.tcb.SndUna
	snd.rec.force = true
	if snd.rec.highRxt.LessThan(una) {
		snd.rec.highRxt = una
	}
}

// rtxOut returns the octets retransmitted in this recovery above SND.UNA
// (up to HighRxt).
func (snd *sender) rtxOut() uint32 {
	una := snd.c.tcb.SndUna
	if una.LessThan(snd.rec.highRxt) {
		return uint32(snd.rec.highRxt - una)
	}
	return 0
}

// rtoRecovery resets loss recovery on a retransmission timeout (RFC 6298
// §5.5-5.7, RFC 5681 §3.1, RFC 6582 §3.2 step 1 "recover = SND.NXT"): the
// window falls to one segment and retransmission restarts at SND.UNA,
// skipping what the peer SACKed; after a second timeout in a row the SACK
// information is dropped (the peer may have reneged, RFC 2018 §8).
//
// With RACK every segment not SACKed is marked lost and the lost segments
// are resent in order instead of from the go-back-N cursor, so that RACK can
// mark a lost retransmission again (RFC 8985 §6.2, "RTO recovery"); a
// probe outstanding is forgotten.
func (snd *sender) rtoRecovery(now time.Time) {
	c := snd.c
	t := &c.tcb
	bbr := snd.bbrOn()
	if snd.retries <= 1 { // the first timeout of this loss; backoffs keep ssthresh
		snd.undoArm(true)
		if bbr {
			snd.bbrTimeout()
		} else {
			snd.ccLoss(now)
		}
	} else if snd.undo != nil {
		snd.undo.checked = false
	}
	snd.rec.active = false
	snd.rec.rtoRec = true
	snd.rec.force = false
	snd.rec.point = t.SndNxt
	snd.rec.highRxt = t.SndUna
	if snd.retries > 1 {
		snd.rec.sb.reset()
	}
	snd.cc.timeout(snd.mss)
	snd.dupAcks = 0
	snd.rtxNxt = t.SndUna
	snd.tlp.active = false
	snd.tlpAt = 0
	if snd.rackOn() {
		q := &snd.txq
		for i := 0; i < q.n(); i++ {
			r := q.at(i)
			clear := segRtxOut
			if snd.retries > 1 {
				clear |= segSacked // the peer may have reneged (RFC 2018 §8)
			}
			if r.flags&segSacked == 0 || snd.retries > 1 {
				q.setFlags(r, segLost, clear)
			}
		}
		q.hint = q.lo
		snd.rtxNxt = t.SndNxt
	}
}
