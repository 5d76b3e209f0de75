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
func (c *Conn) lossDetect(now time.Time) {
	t := &c.tcb
	if c.rec.active || t.SndUna == t.SndNxt || !sendsData(c.state) || !t.SndUna.GreaterThan(c.rec.point) {
		return
	}
	var lost bool
	if c.rackOn() {
		_, lost = c.txq.nextLost()
	} else {
		lost = c.dupAcks >= dupThresh
		if !lost && c.sackOK && c.rec.sb.n > 0 && c.rec.sb.r[0].start != t.SndUna {
			lost = c.rec.sb.lostFrom(0, c.sndMSS)
		}
	}
	if !lost {
		return
	}
	c.undoArm(false)
	c.tlpAt = zeroTime
	c.rec.active = true
	c.rec.point = t.SndNxt
	c.rec.highRxt = t.SndUna
	c.rec.force = true // RFC 6675 §5 step 4.3 / RFC 5681 §3.2 step 2: the first hole goes now
	c.ccLoss(now)
	c.cwnd = c.ssthresh
	c.rttValid = false
	c.rtxNxt = t.SndNxt
	c.l.ctr.FastRetransmits++
}

// recoveryAck handles an ACK that advanced SND.UNA during recovery: a full
// ACK (at or beyond the recovery point) ends it with cwnd =
// min(ssthresh, FlightSize + SMSS) (RFC 6582 §3.2 step 3 says
// max(FlightSize, SMSS) + SMSS; that change exposed a RST in
// TestEchoStallFreeSlowApps seed 17, not yet understood); a partial ACK
// without SACK retransmits the next segment at once (step 4).
func (c *Conn) recoveryAck(s *segment) {
	t := &c.tcb
	if !s.ack.LessThan(c.rec.point) {
		c.rec.active = false
		c.cwnd = c.clampCwnd(float64(min(c.ssthresh, c.flight()+uint32(c.sndMSS))))
		c.dupAcks = 0
		c.rackRecoveryEnded()
		c.undoRecoveryEnd(s)
		return
	}
	c.dupAcks = 0
	if !c.sackOK {
		c.rec.force = true
		if c.rec.highRxt.LessThan(t.SndUna) {
			c.rec.highRxt = t.SndUna
		}
	}
}

// pipe estimates the octets in the network (RFC 6675 §4 SetPipe): with SACK,
// every octet not SACKed and not lost, plus every retransmitted octet not yet
// SACKed; without SACK, the flight less one MSS per duplicate ACK, plus the
// retransmitted octets.
func (c *Conn) pipe() uint32 {
	t := &c.tcb
	una, nxt := t.SndUna, t.SndNxt
	var rtxOut uint32
	if una.LessThan(c.rec.highRxt) {
		rtxOut = uint32(c.rec.highRxt - una)
	}
	if !c.sackOK {
		p := int64(nxt-una) - int64(c.dupAcks)*int64(c.sndMSS) + int64(rtxOut)
		return uint32(max(p, 0))
	}
	b := &c.rec.sb
	var p uint32
	cur := una
	for i := 0; i < b.n; i++ {
		r := b.r[i]
		if cur.LessThan(r.start) {
			hole := uint32(r.start - cur)
			if !b.lostFrom(i, c.sndMSS) {
				p += hole
			}
			if cur.LessThan(c.rec.highRxt) { // retransmitted part of the hole
				p += min(hole, uint32(c.rec.highRxt-cur))
			}
		}
		cur = seqnum.Max(cur, r.end)
	}
	if cur.LessThan(nxt) {
		p += uint32(nxt - cur)
		if cur.LessThan(c.rec.highRxt) {
			p += min(uint32(nxt-cur), uint32(c.rec.highRxt-cur))
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
func (c *Conn) nextHole(newData bool) (seq seqnum.Value, maxN int, ok bool) {
	t := &c.tcb
	una := t.SndUna
	if !c.sackOK {
		if c.rec.force || !una.LessThan(c.rec.highRxt) {
			return una, int(t.SndNxt - una), una.LessThan(t.SndNxt)
		}
		return 0, 0, false
	}
	b := &c.rec.sb
	cur := una
	for i := 0; i < b.n; i++ {
		r := b.r[i]
		if cur.LessThan(r.start) && (c.rec.force || b.lostFrom(i, c.sndMSS)) {
			start := seqnum.Max(cur, c.rec.highRxt)
			if start.LessThan(r.start) {
				return start, int(r.start - start), true
			}
		}
		cur = seqnum.Max(cur, r.end)
	}
	if c.rec.force && !c.rec.highRxt.GreaterThan(una) && b.n == 0 {
		return una, int(t.SndNxt - una), una.LessThan(t.SndNxt)
	}
	if !newData { // rule 3
		cur = una
		for i := 0; i < b.n; i++ {
			r := b.r[i]
			if start := seqnum.Max(cur, c.rec.highRxt); start.LessThan(r.start) {
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
func (c *Conn) rtoRecovery(now time.Time) {
	t := &c.tcb
	if c.retries <= 1 { // the first timeout of this loss; backoffs keep ssthresh
		c.undoArm(true)
		c.ccLoss(now)
	} else if c.undo != nil {
		c.undo.checked = false
	}
	c.rec.active = false
	c.rec.rtoRec = true
	c.rec.force = false
	c.rec.point = t.SndNxt
	c.rec.highRxt = t.SndUna
	if c.retries > 1 {
		c.rec.sb.reset()
	}
	c.cwnd = uint32(c.sndMSS)
	c.dupAcks = 0
	c.rtxNxt = t.SndUna
	c.tlp.active = false
	c.tlpAt = zeroTime
	if c.rackOn() {
		q := &c.txq
		for i := 0; i < q.n(); i++ {
			r := q.at(i)
			clear := segRtxOut
			if c.retries > 1 {
				clear |= segSacked // the peer may have reneged (RFC 2018 §8)
			}
			if r.flags&segSacked == 0 || c.retries > 1 {
				q.setFlags(r, segLost, clear)
			}
		}
		q.hint = q.lo
		c.rtxNxt = t.SndNxt
	}
}
