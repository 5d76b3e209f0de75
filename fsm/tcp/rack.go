package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// rackState is the connection's RACK state (RFC 8985 §5.2).
type rackState struct {
	has        bool          // a segment was delivered: xmit, endSeq and rtt hold
	xmit       int64         // RACK.xmit_ts: send time of the most recently sent delivered segment
	endSeq     seqnum.Value  // RACK.end_seq
	rtt        time.Duration // RACK.rtt
	minRTT     time.Duration // RACK.min_RTT: windowed minimum of the RTT samples (0: none yet)
	minF       minFilter     // the window behind minRTT (minrtt.go)
	fackSet    bool
	fack       seqnum.Value // RACK.fack: highest end sequence delivered
	reoSeen    bool         // RACK.reordering_seen
	reoMult    int          // RACK.reo_wnd_mult (0 reads as 1)
	reoPersist int          // RACK.reo_wnd_persist
	dsackOn    bool         // a D-SACK round is open
	dsackRound seqnum.Value // RACK.dsack_round
	probeDup   bool         // the ACK's D-SACK reports a loss probe: no reordering evidence
	advanced   bool         // xmit moved since the last loss detection
}

// tlpState is the Tail Loss Probe episode (RFC 8985 §7.4).
type tlpState struct {
	active bool         // a probe is outstanding (TLP.end_seq is not None)
	endSeq seqnum.Value // TLP.end_seq: SND.NXT after the probe
	isRtx  bool         // TLP.is_retrans
	dsacks uint8        // D-SACKs that reported a retransmitted probe as a duplicate
	probes uint8        // probes sent since SND.UNA last advanced (at most Config.TLPMaxProbes)
	rtxs   uint8        // of them, retransmissions
	inRec  bool         // a recovery probe (Config.NoRecoveryProbe): the next ACK ends it
}

// wcDelAckT is the worst-case delayed-ACK time a probe waits for when only
// one segment is in flight (RFC 8985 §7.2 WCDelAckT).
const wcDelAckT = 200 * time.Millisecond

// rackOn reports whether RACK-TLP detects losses on c: SACK negotiated and
// not turned off (RFC 8985 §3, Config.NoRACK).
func (snd *sender) rackOn() bool {
	c := snd.c
	return c.sackOK && !c.l.cfg.NoRACK
}

// sentAfter is RACK_sent_after (RFC 8985 §6.2): t1/seq1 was sent after t2/seq2.
func sentAfter(t1 int64, seq1 seqnum.Value, t2 int64, seq2 seqnum.Value) bool {
	return t1 > t2 || (t1 == t2 && seq2.LessThan(seq1))
}

// txRecord records the transmission of [seq, end) at now in the
// retransmission queue: octets below the old SND.NXT are retransmissions of
// their records (split to the retransmitted range when the array has room),
// the rest new records (RFC 8985 §6.1).
//
// Every transmission is stamped strictly after the one before it on the
// connection (a nanosecond later when the clock has not moved), so
// RACK_sent_after (RFC 8985 §6.2) orders segments as they were sent: the
// RFC breaks a tie of equal times by sequence number, which holds for
// new data but not for a retransmission sent after new data at the same
// clock reading (one batch of the event loop reads the clock once), and a
// retransmission so misordered is deemed lost as soon as the new data
// sent before it is SACKed (TestRACKRetransmissionAfterNewDataSameInstant).
func (snd *sender) txRecord(now time.Time, seq, end, oldNxt seqnum.Value) {
	c := snd.c
	q := &snd.txq
	if want := txQueueLen(max(snd.buf.size, snd.buf.limit), snd.mss); len(q.s) < want && (q.s == nil || q.hi == len(q.s)) {
		q.grow(&c.l.txPool, want) // first data, or the send buffer grew (autotune.go)
	}
	ns := max(now.UnixNano(), snd.lastXmit+1)
	snd.lastXmit = ns
	var ts uint32
	if c.tsOK {
		ts = c.tsClock(now)
	}
	bbr, pipe := c.l.cfg.CC == BBR, q.pipe
	if seq.LessThan(oldNxt) {
		rEnd := seqnum.Min(end, oldNxt)
		// Cut the records at both ends of the retransmitted range (when the
		// array has room), then mark what lies inside.
		for _, at := range [2]seqnum.Value{seq, rEnd} {
			if i := q.find(at); i >= 0 && q.at(i).start.LessThan(at) {
				q.split(i, at)
			}
		}
		if i := q.find(seq); i >= 0 {
			for ; i < q.n() && q.at(i).start.LessThan(rEnd); i++ {
				r := q.at(i)
				r.xmit, r.tsval = ns, ts
				q.setFlags(r, segRtx|segRtxOut, 0)
				if bbr {
					snd.rateSent(r, ns, pipe)
				}
			}
		}
	}
	if oldNxt.LessThan(end) {
		r := txSeg{start: seqnum.Max(seq, oldNxt), end: end, xmit: ns, tsval: ts}
		if bbr {
			snd.rateSent(&r, ns, pipe)
		}
		q.push(r)
	}
}

// rackRecovery is loss recovery with RACK-TLP (RFC 8985 §7.4): the holes
// are the segments RACK (or a timeout) marked lost, lost retransmissions
// included; RACK replaces the DupThresh trigger.
type rackRecovery struct{}

// lost: a segment RACK marked lost.
func (rackRecovery) lost(snd *sender) bool {
	_, ok := snd.txq.nextLost()
	return ok
}

// nextSeg is the first segment marked lost and not retransmitted since.
func (rackRecovery) nextSeg(snd *sender, newData bool) (seqnum.Value, int, bool) {
	r, ok := snd.txq.nextLost()
	if !ok {
		return 0, 0, false
	}
	return r.start, int(r.end - r.start), true
}

// pipe is the transmit records' count of octets in flight (txq.go).
func (rackRecovery) pipe(snd *sender) uint32 { return snd.txq.pipe }

// partialAck: RACK marks what to resend.
func (rackRecovery) partialAck(*sender) {}

// rackAck updates the retransmission queue and RACK from an ACK that moved
// SND.UNA to s.ack (advanced) and/or SACKed octets: RFC 8985 §6.2 steps
// 1-3 for every segment newly delivered, in ascending sequence order.
func (snd *sender) rackAck(s *segment) {
	c := snd.c
	q := &snd.txq
	q.popAcked(c.tcb.SndUna, func(r *txSeg) {
		if r.flags&segSacked == 0 {
			snd.rackDelivered(r, s, false)
		}
	})
	if s.opts.NumSACK == 0 {
		return
	}
	// Mark the records the blocks cover whole, then deliver them in order.
	lo, hi, any := seqnum.Value(0), seqnum.Value(0), false
	for k := 0; k < s.opts.NumSACK && k < wire.MaxSACKBlocks; k++ {
		bs, be := seqnum.Value(s.opts.SACK[k].Start), seqnum.Value(s.opts.SACK[k].End)
		if !bs.LessThan(be) || !c.tcb.SndUna.LessThan(be) || c.tcb.SndNxt.LessThan(be) {
			continue
		}
		if !any || bs.LessThan(lo) {
			lo = bs
		}
		if !any || hi.LessThan(be) {
			hi = be
		}
		any = true
	}
	if !any {
		return
	}
	i := q.find(seqnum.Max(lo, c.tcb.SndUna))
	if i < 0 {
		return
	}
	for ; i < q.n(); i++ {
		r := q.at(i)
		if !r.start.LessThan(hi) {
			break
		}
		if r.flags&segSacked != 0 || !snd.covered(s, r.start, r.end) {
			continue
		}
		q.setFlags(r, segSacked, segRtxOut|segLost)
		snd.rackDelivered(r, s, true)
	}
}

// covered reports whether a SACK block of s holds [start, end). The
// sequence number of our FIN, at the end of the last record, need not be
// in the block: a receiver that holds the FIN beyond a hole may report only
// the data (netspec's does; Linux's block includes the FIN), and the
// record is delivered all the same (TestRACKFinRecordSACKedByItsData).
func (snd *sender) covered(s *segment, start, end seqnum.Value) bool {
	if snd.finSent && end == snd.c.tcb.SndNxt && start.Add(1).LessThan(end) {
		end--
	}
	for k := 0; k < s.opts.NumSACK && k < wire.MaxSACKBlocks; k++ {
		bs, be := seqnum.Value(s.opts.SACK[k].Start), seqnum.Value(s.opts.SACK[k].End)
		if bs.LessThanEq(start) && end.LessThanEq(be) && bs.LessThan(be) {
			return true
		}
	}
	return false
}

// rackDelivered is RFC 8985 §6.2 steps 2 and 3 for one delivered segment,
// SACKed (sacked) or cumulatively acknowledged by s.
//
// Step 2 skips a retransmission's sample when the ACK's TSecr shows it
// answers an earlier transmission; that holds only for a cumulative ACK.
// A receiver echoes the TSval of the segment that last advanced its
// left edge (RFC 7323 §4.3: an out-of-order segment does not update
// TS.Recent), so the ACK that SACKs a retransmission above a hole echoes
// an older TSval whichever transmission arrived. Taking that echo as "the
// original arrived" made RACK blind to every retransmission delivered
// above a lost one: with the first hole's retransmission lost, RACK.xmit_ts
// stayed at the last cumulative ACK, the lost retransmission was never
// detected, and recovery moved one probe per PTO (a shallow-buffered
// bottleneck; TestRACKLostRetransmissionBelowSACKedOnes). For a SACKed
// retransmission only the RACK.min_RTT test applies, as in Linux's
// tcp_rack_advance.
func (snd *sender) rackDelivered(r *txSeg, s *segment, sacked bool) {
	c := snd.c
	k := &snd.rack
	snd.rateDelivered(r, s.now.UnixNano())
	rtt := time.Duration(s.now.UnixNano() - r.xmit)
	if r.flags&segRtx != 0 {
		// Step 2: the ACK may answer the original transmission; skip a
		// sample that cannot be from the retransmission.
		if !sacked && c.tsOK && s.opts.HasTimestamps && s.opts.TSEcr != 0 && int32(s.opts.TSEcr-r.tsval) < 0 {
			return
		}
		if k.minRTT > 0 && rtt < k.minRTT {
			return
		}
	} else if rtt > 0 {
		k.minRTT = k.minF.update(s.now.UnixNano(), rtt)
	}
	k.rtt = rtt
	if !k.has || sentAfter(r.xmit, r.end, k.xmit, k.endSeq) {
		k.has, k.xmit, k.endSeq, k.advanced = true, r.xmit, r.end, true
	}
	// Step 3: a segment delivered below RACK.fack that was never
	// retransmitted arrived out of order.
	switch {
	case !k.fackSet || k.fack.LessThan(r.end):
		k.fack, k.fackSet = r.end, true
	case r.end.LessThan(k.fack) && r.flags&segRtx == 0:
		if !k.reoSeen {
			c.l.ctr.RACKReordering++
		}
		k.reoSeen = true
	}
}

// rackReoWnd is RACK_update_reo_wnd (RFC 8985 §6.2 step 4): zero while no
// reordering was seen and the sender is recovering or has DupThresh segments
// SACKed, else min_RTT/4 times the D-SACK multiplier, at most SRTT.
func (snd *sender) rackReoWnd() time.Duration {
	k := &snd.rack
	if !k.reoSeen && (snd.rec.active || snd.rec.rtoRec || snd.txq.sacked >= dupThresh) {
		return 0
	}
	w := time.Duration(max(k.reoMult, 1)) * k.minRTT / 4
	if snd.hasRTT {
		w = min(w, snd.srtt)
	}
	return w
}

// rackDSACKRound adapts the reordering window to D-SACKs (RFC 8985 §6.2
// step 4): each round trip with a D-SACK grows the multiplier; 16
// recoveries without one bring it back to 1. A D-SACK for a loss probe is
// the probe's own duplicate, not a reordering: it does not count.
func (snd *sender) rackDSACKRound(dsack bool) {
	c := snd.c
	k := &snd.rack
	if k.dsackOn && !c.tcb.SndUna.LessThan(k.dsackRound) {
		k.dsackOn = false
	}
	if k.probeDup {
		k.probeDup, dsack = false, false
	}
	if !k.dsackOn && dsack {
		k.dsackOn, k.dsackRound = true, c.tcb.SndNxt
		k.reoMult = max(k.reoMult, 1) + 1
		k.reoPersist = 16
	}
}

// rackRecoveryEnded counts down the D-SACK multiplier's persistence (RFC
// 8985 §6.2 step 4, "exiting Fast or RTO recovery").
func (snd *sender) rackRecoveryEnded() {
	k := &snd.rack
	if k.reoPersist > 0 {
		k.reoPersist--
		if k.reoPersist == 0 {
			k.reoMult = 1
		}
	}
}

// rackDetect is RACK_detect_loss_and_arm_timer (RFC 8985 §6.2 step 5,
// §6.3): every segment sent at least RACK.rtt + reo_wnd before the most
// recently sent delivered one is lost, retransmissions included; the
// reordering timer is armed for the others sent before it. It returns how
// many segments it marked.
func (snd *sender) rackDetect(now time.Time) int {
	c := snd.c
	k := &snd.rack
	k.advanced = false
	snd.rackAt = 0
	if !k.has {
		return 0
	}
	q := &snd.txq
	reo := snd.rackReoWnd()
	nowNs := now.UnixNano()
	var timeout time.Duration
	marked := 0
	for i := 0; i < q.n(); i++ {
		r := q.at(i)
		if r.flags&segSacked != 0 || r.flags&(segLost|segRtxOut) == segLost {
			continue
		}
		if !sentAfter(k.xmit, k.endSeq, r.xmit, r.end) {
			if r.flags&segRtx == 0 {
				break // sent after RACK.xmit_ts, and so is everything above it
			}
			continue
		}
		remaining := time.Duration(r.xmit + int64(k.rtt) + int64(reo) - nowNs)
		if remaining <= 0 {
			if q.markLost(i) {
				c.l.ctr.LostRetransmits++
			}
			c.l.ctr.RACKLosses++
			marked++
		} else {
			timeout = max(timeout, remaining)
		}
	}
	if timeout > 0 {
		snd.rackAt = snd.c.l.tick(now).Add(timeout)
	}
	return marked
}

// rackTimeout is the RACK reordering timer (RFC 8985 §6.3): detect again;
// losses start recovery (or are retransmitted in the recovery running).
func (snd *sender) rackTimeout(now time.Time) {
	c := snd.c
	if !sendsData(c.state) || !snd.rackOn() {
		return
	}
	if snd.rackDetect(now) > 0 {
		snd.lossDetect(now)
	}
}

// tlpArm schedules the probe timeout (RFC 8985 §7.2) after new data was
// sent or an ACK acknowledged new data: PTO (pto), never later than the
// RTO. Not with a probe outstanding; not in RTO recovery; outside
// fast recovery not while segments are SACKed (RACK.segs_sacked: RACK and
// its timer have what they need). In fast recovery the RFC arms no probe;
// netspec arms one unless Config.NoRecoveryProbe (probeAllowed).
func (snd *sender) tlpArm(now time.Time) {
	snd.tlpAt = 0
	if !snd.probeAllowed() {
		return
	}
	at := snd.c.l.tick(now).Add(snd.pto())
	if snd.rtxAt.Before(at) {
		at = snd.rtxAt
	}
	snd.tlpAt = at
}

// pto is the probe timeout (RFC 8985 §7.2 TLP_calc_PTO): 2*SRTT, plus
// WCDelAckT with one segment in flight; 1 s before an RTT sample. Linux
// adds 2 ms (TCP_TIMEOUT_MIN) to every PTO; the RFC does not, and netspec
// only keeps it at least minPTO: its probe is a duplicate of the last
// segment, so one sent too early costs a segment and a D-SACK, while on a
// LAN path the 2 ms were most of each stall a lost ACK causes
// (BENCHMARKS.md).
func (snd *sender) pto() time.Duration {
	if !snd.hasRTT {
		return time.Second
	}
	if snd.flight() <= uint32(snd.mss) {
		return 2*snd.srtt + wcDelAckT
	}
	return max(2*snd.srtt, minPTO)
}

// minPTO is the shortest probe timeout: a timer much shorter than a
// millisecond is not kept by the drivers' loops anyway, and a path with no
// delay at all (in-memory links, SRTT 0) must not probe at once.
const minPTO = time.Millisecond

// probeAllowed reports whether a loss probe may be scheduled and sent.
//
// In fast recovery RFC 8985 §7.2 (and Linux's tcp_schedule_loss_probe,
// which probes only in the Open and CWR states) sends none: an ACK lost
// there leaves only the RTO, 200 ms at least. A Linux receiver acknowledges
// a whole burst, retransmission and new data, with one ACK, so one lost ACK
// in recovery stalls the flow for the RTO (BENCHMARKS.md, "What the
// remaining download stalls look like"). A recovery probe, after PTO with no
// ACK, resends the highest segment not SACKed: a duplicate the receiver
// answers at once with a D-SACK (RFC 2883), or a lost segment it answers at
// once as out of order or as the filling of a hole (RFC 5681 §4.2); the ACK
// brings RACK the SACK information it lacked, and congestion control does
// not react to it (the window was already reduced for this episode).
//
// Tail and recovery probes share one count, Config.TLPMaxProbes since
// SND.UNA last advanced: an ACK that moves nothing (a duplicate, a
// D-SACK, the peer's own data) restarts neither. Each probe restarts the
// RTO (RFC 8985 §7.3), so a count restarted by such answers kept the RTO
// from ever firing and the retries from reaching R2 (RFC 9293 §3.8.3).
func (snd *sender) probeAllowed() bool {
	c := snd.c
	t := &c.tcb
	if !snd.rackOn() || !sendsData(c.state) || snd.persist || t.SndUna == t.SndNxt || snd.rtxAt.IsZero() || t.SndWnd == 0 ||
		int(snd.tlp.probes) >= c.l.cfg.TLPMaxProbes {
		return false
	}
	if snd.rec.active || snd.txq.sacked != 0 {
		return !c.l.cfg.NoRecoveryProbe && !snd.rec.rtoRec
	}
	return !snd.rec.rtoRec
}

// tlpFire sends the loss probe (RFC 8985 §7.3), then the RTO restarts.
// RFC 8985 and Linux send one probe and leave the rest to the RTO; when
// Config.TLPMaxProbes allows more, a probe that moves nothing is followed
// by another (the same segment again) after twice the PTO, so a probe or
// its ACK lost costs a few round trips, not the 200 ms RTO. Only an ACK
// that advances SND.UNA restarts the count, and no probe goes into a zero
// window: a peer that keeps talking without taking our data must not draw
// a probe every 2*PTO.
//
// The RFC (and Linux's tcp_send_loss_probe) sends a new segment if one is
// queued and the window allows, else the last segment sent again. When the
// PTO fires in a bulk transfer, the flight arrived far more often than not
// and its ACK was lost: a Linux receiver acknowledges a burst with one ACK
// and delays the ACK of a lone in-order segment by its delayed-ACK timer
// (40 ms), so a new-data probe is answered 40 ms late, while the last
// segment sent again is a duplicate it answers at once (tcp_send_dupack,
// with a D-SACK). When the tail was lost instead, that retransmission
// repairs it, or arrives out of order and draws a SACK at once. So the probe
// is the last segment not SACKed, sent again, unless Config.TLPNewData asks
// for the RFC's choice; a recovery probe (probeAllowed) always is.
func (snd *sender) tlpFire(now time.Time) {
	c := snd.c
	t := &c.tcb
	if !snd.probeAllowed() {
		return
	}
	// Whether or not a probe goes, the RTO restarts (RFC 8985 §7.3).
	defer func() {
		snd.rtxAt = snd.c.l.tick(now).Add(snd.rto)
		snd.clampUserTimeout()
	}()
	dataEnd := snd.bufSeq.Add(seqnum.Size(snd.buf.n))
	wndEnd := t.SndUna.Add(seqnum.Size(t.SndWnd))
	var seq seqnum.Value
	var n int
	rtx := false
	if c.l.cfg.TLPNewData && !snd.rec.active && !snd.tlp.active && t.SndNxt.LessThan(dataEnd) && t.SndNxt.LessThan(wndEnd) {
		seq = t.SndNxt
		n = min(int(dataEnd-seq), int(wndEnd-seq), snd.mss)
	} else {
		r := snd.txq.lastUnsacked()
		if r == nil {
			return
		}
		seq, n, rtx = r.start, int(r.end-r.start), true
		if snd.finSent && r.end == t.SndNxt {
			n-- // the FIN goes with it
		}
		if n > snd.mss {
			seq = seq.Add(seqnum.Size(n - snd.mss))
			n = snd.mss
		}
		if seq.LessThan(t.SndUna) {
			return
		}
	}
	fin := snd.finQueued && seq.Add(seqnum.Size(n)) == dataEnd && (rtx || !snd.finSent)
	if n <= 0 && !fin {
		return
	}
	end := snd.transmit(now, seq, n, fin, rtx, false)
	if !rtx && snd.rtxNxt == seq {
		snd.rtxNxt = end
	}
	if rtx && snd.rec.active {
		snd.rec.highRxt = seqnum.Max(snd.rec.highRxt, end)
	}
	p := &snd.tlp
	if !p.active {
		*p = tlpState{active: true, probes: p.probes} // the count runs on until SND.UNA advances
	}
	p.endSeq, p.isRtx, p.inRec = t.SndNxt, p.isRtx || rtx, snd.rec.active
	p.probes++
	if rtx {
		p.rtxs++
	}
	c.l.ctr.TLPProbes++
	if int(p.probes) < c.l.cfg.TLPMaxProbes {
		// No ACK for this one either: the next probe after twice the PTO.
		snd.tlpAt = snd.c.l.tick(now).Add(snd.pto() << p.probes)
	}
}

// lastUnsacked returns the highest transmit record not SACKed, or nil.
func (q *txQueue) lastUnsacked() *txSeg {
	for i := q.n() - 1; i >= 0; i-- {
		if r := q.at(i); r.flags&segSacked == 0 {
			return r
		}
	}
	return nil
}

// tlpAck is TLP loss detection (RFC 8985 §7.4.2): once the ACK covers the
// probe, a probe of new data ends the episode; a retransmitted probe that a
// D-SACK reported as a duplicate repaired nothing; an ACK beyond it means
// the probe repaired a loss, and congestion control responds as to one; a
// duplicate ACK without a SACK option means original and probe both
// arrived.
func (snd *sender) tlpAck(s *segment, advanced bool) {
	c := snd.c
	p := &snd.tlp
	if advanced {
		p.probes = 0 // progress: TLPMaxProbes counts probes in a row without it
	}
	if p.active && p.inRec {
		p.active = false // it drew an ACK: what RACK learns from it is enough
		return
	}
	if !p.active || s.ack.LessThan(p.endSeq) {
		return
	}
	switch {
	case !p.isRtx, p.dsacks >= p.rtxs:
		p.active = false
	case p.endSeq.LessThan(s.ack):
		p.active = false
		c.l.ctr.TLPRecoveries++
		if !snd.bbrOn() { // BBR's model, not a loss, sets its window
			snd.ccLoss(s.now)
			snd.cc.probeRepaired()
		}
	case !advanced && s.opts.NumSACK == 0:
		p.active = false // a duplicate ACK without SACK: both copies arrived
	}
}
