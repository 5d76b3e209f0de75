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
	var lost bool
	if snd.rackOn() {
		_, lost = snd.txq.nextLost()
	} else {
		lost = snd.dupAcks >= dupThresh
		if !lost && c.sackOK && snd.rec.sb.n > 0 && snd.rec.sb.r[0].start != t.SndUna {
			lost = snd.rec.sb.lostFrom(0, snd.mss)
		}
	}
	if !lost {
		return
	}
	snd.undoArm(false)
	snd.tlpAt = zeroTime
	snd.rec.active = true
	snd.rec.point = t.SndNxt
	snd.rec.highRxt = t.SndUna
	snd.rec.force = true // RFC 6675 §5 step 4.3 / RFC 5681 §3.2 step 2: the first hole goes now
	snd.ccLoss(now)
	snd.cc.enterRecovery()
	snd.rttValid = false
	snd.rtxNxt = t.SndNxt
	c.l.ctr.FastRetransmits++
}

// recoveryAck handles an ACK that advanced SND.UNA during recovery: a full
// ACK (at or beyond the recovery point) ends it with cwnd =
// min(ssthresh, FlightSize + SMSS) (RFC 6582 §3.2 step 3 says
// max(FlightSize, SMSS) + SMSS; that change exposed a RST in
// TestEchoStallFreeSlowApps seed 17, not yet understood); a partial ACK
// without SACK retransmits the next segment at once (step 4).
func (snd *sender) recoveryAck(s *segment) {
	c := snd.c
	t := &c.tcb
	if !s.ack.LessThan(snd.rec.point) {
		snd.rec.active = false
		snd.cc.exitRecovery(snd.flight(), snd.mss)
		snd.dupAcks = 0
		snd.rackRecoveryEnded()
		snd.undoRecoveryEnd(s)
		return
	}
	snd.dupAcks = 0
	if !c.sackOK {
		snd.rec.force = true
		if snd.rec.highRxt.LessThan(t.SndUna) {
			snd.rec.highRxt = t.SndUna
		}
	}
}

// pipe estimates the octets in the network (RFC 6675 §4 SetPipe): with SACK,
// every octet not SACKed and not lost, plus every retransmitted octet not yet
// SACKed; without SACK, the flight less one MSS per duplicate ACK, plus the
// retransmitted octets.
func (snd *sender) pipe() uint32 {
	c := snd.c
	t := &c.tcb
	una, nxt := t.SndUna, t.SndNxt
	var rtxOut uint32
	if una.LessThan(snd.rec.highRxt) {
		rtxOut = uint32(snd.rec.highRxt - una)
	}
	if !c.sackOK {
		p := int64(nxt-una) - int64(snd.dupAcks)*int64(snd.mss) + int64(rtxOut)
		return uint32(max(p, 0))
	}
	b := &snd.rec.sb
	var p uint32
	cur := una
	for i := 0; i < b.n; i++ {
		r := b.r[i]
		if cur.LessThan(r.start) {
			hole := uint32(r.start - cur)
			if !b.lostFrom(i, snd.mss) {
				p += hole
			}
			if cur.LessThan(snd.rec.highRxt) { // retransmitted part of the hole
				p += min(hole, uint32(snd.rec.highRxt-cur))
			}
		}
		cur = seqnum.Max(cur, r.end)
	}
	if cur.LessThan(nxt) {
		p += uint32(nxt - cur)
		if cur.LessThan(snd.rec.highRxt) {
			p += min(uint32(nxt-cur), uint32(snd.rec.highRxt-cur))
		}
	}
	return p
}

// nextHole returns the next octets to retransmit in recovery (RFC 6675 §4
// NextSeg): by rule 1 the first lost, un-SACKed octet at or above HighRxt,
// and how many octets follow it before a SACKed range; when no hole is lost
// yet and no new data can go (newData false: nothing queued, or the peer's
// window is full), rule 3 takes the first un-SACKed octet above HighRxt below
// the highest SACKed one, so the ACK clock keeps running instead of waiting
// for the retransmission timer. Without SACK it is the segment at SND.UNA
// once per partial ACK (RFC 6582). ok is false when there is nothing to
// retransmit.
func (snd *sender) nextHole(newData bool) (seq seqnum.Value, maxN int, ok bool) {
	c := snd.c
	t := &c.tcb
	una := t.SndUna
	if !c.sackOK {
		if snd.rec.force || !una.LessThan(snd.rec.highRxt) {
			return una, int(t.SndNxt - una), una.LessThan(t.SndNxt)
		}
		return 0, 0, false
	}
	b := &snd.rec.sb
	cur := una
	for i := 0; i < b.n; i++ {
		r := b.r[i]
		if cur.LessThan(r.start) && (snd.rec.force || b.lostFrom(i, snd.mss)) {
			start := seqnum.Max(cur, snd.rec.highRxt)
			if start.LessThan(r.start) {
				return start, int(r.start - start), true
			}
		}
		cur = seqnum.Max(cur, r.end)
	}
	if snd.rec.force && !snd.rec.highRxt.GreaterThan(una) && b.n == 0 {
		return una, int(t.SndNxt - una), una.LessThan(t.SndNxt)
	}
	if !newData { // rule 3
		cur = una
		for i := 0; i < b.n; i++ {
			r := b.r[i]
			if start := seqnum.Max(cur, snd.rec.highRxt); start.LessThan(r.start) {
				return start, int(r.start - start), true
			}
			cur = seqnum.Max(cur, r.end)
		}
	}
	return 0, 0, false
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
	if snd.retries <= 1 { // the first timeout of this loss; backoffs keep ssthresh
		snd.undoArm(true)
		snd.ccLoss(now)
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
	snd.tlpAt = zeroTime
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
