package tcp

import "time"

// BBR (Config.CC = BBR) is the model-based congestion control of
// draft-cardwell-iccrg-bbr-congestion-control-00 ("BBR v1", Linux's
// tcp_bbr.c, and the algorithm behind the Linux kernel's figures in
// BENCHMARKS.md, whose host default it is). It sets the window from a model
// of the path, the bottleneck bandwidth (the highest delivery rate of the
// last bbrBWRounds round trips, draft-cheng-iccrg-delivery-rate-estimation)
// times the round-trip propagation time (the lowest RTT of the last
// bbrMinRTTWin), not from losses: a random loss costs a retransmission and
// one round trip of packet conservation, where CUBIC's window falls to 0.7
// of itself at every loss event and settles near 1.7/sqrt(p) segments (7.5
// at 5 % loss).
//
// The connection is paced at the model's rate (pacing.go): pacing_gain
// times BtlBw, with STARTUP's and DRAIN's gains and PROBE_BW's gain cycle
// (draft §4.3.4.3); DRAIN also lowers the window to one BDP. The window
// adds the ACK aggregation allowance of Linux's bbr_update_ack_aggregation
// (a receiver that acknowledges a burst with one ACK delivers in bursts
// too). BBR needs the per-segment records of RACK (SACK negotiated, RACK
// on); on a connection without them it runs CUBIC. An ECE lowers the window
// as CUBIC's reaction does (RFC 3168 §6.1.2), and the model grows it back.
type bbrState struct {
	// Delivery rate estimation (draft-cheng-iccrg-delivery-rate-estimation
	// §3.1): C.delivered, C.delivered_time, C.first_sent_time,
	// C.app_limited (0: not app-limited).
	delivered   uint64
	deliveredAt int64
	firstSentAt int64
	appLimited  uint64

	// The model (draft §4.1, §4.3.1).
	bwRound    [bbrBWRounds]float64 // highest delivery rate seen in each of the last rounds, octets/ns
	round      uint64               // round trips counted (draft §4.1.1.3)
	nextRound  uint64               // C.delivered that ends the current round
	roundStart bool
	minRTT     int64 // RTprop, ns; 0: no sample yet
	minRTTAt   int64 // when it was taken
	fullBW     float64
	fullBWCnt  int
	filled     bool // the pipe was filled: STARTUP is over (draft §4.3.2.2)
	mode       bbrMode
	priorCwnd  uint32 // the window saved on entering loss recovery or PROBE_RTT
	probeDone  int64  // PROBE_RTT ends at this time (0: not yet timed)
	probeRound bool   // PROBE_RTT has lasted a round
	conserve   bool   // packet conservation for the first round of a recovery (draft §4.3.4.4)

	// ACK aggregation (Linux bbr_update_ack_aggregation), octets.
	epochAt    int64
	epochAcked uint64
	extra      [2]uint32
	extraIdx   int
	extraRnds  int

	// Pacing (pacing.go): the rate, octets per ns (0: none yet); the
	// departure time of the next segment (zero: none sent paced yet) and
	// the pacing timer (zero: stopped); PROBE_BW's phase in bbrCycle and
	// when it began.
	pacing   float64
	paceAt   tick
	paceWake tick
	cycleIdx int
	cycleAt  int64
}

// bbrSample is one ACK's rate sample (draft-cheng §3.3): what the most
// recently sent of the segments it delivered knew when it was sent.
type bbrSample struct {
	has           bool
	priorDeliv    uint64
	priorAt       int64
	sendElapsed   int64
	ackElapsed    int64
	appLimited    bool
	newlyAcked    uint64 // octets delivered (ACKed or SACKed) by this ACK
	rtt           int64  // lowest RTT of a never retransmitted segment it delivered, ns; 0: none
	lastSentAfter int64  // send time of that most recent segment, to pick it
}

// bbrMode is BBR's state (draft §4.3).
type bbrMode uint8

const (
	bbrStartup bbrMode = iota
	bbrDrain
	bbrProbeBW
	bbrProbeRTT
)

// BBR's constants (draft §4.3; Linux tcp_bbr.c).
const (
	bbrBWRounds     = 10                     // BtlBwFilterLen: round trips of the bandwidth filter
	bbrMinRTTWin    = 10 * time.Second       // RTpropFilterLen
	bbrProbeRTTTime = 200 * time.Millisecond // ProbeRTTDuration
	bbrHighGain     = 2.885                  // 2/ln(2): STARTUP's window gain
	bbrCwndGain     = 2                      // PROBE_BW's window gain
	bbrMinCwndSegs  = 4                      // BBRMinPipeCwnd
	bbrFullBWThresh = 1.25                   // growth that keeps STARTUP going
	bbrFullBWCnt    = 3                      // rounds without it end STARTUP
	bbrExtraRounds  = 5                      // rounds per ACK aggregation slot
	bbrAggrMax      = 100 * time.Millisecond // bound of the aggregation allowance, as bandwidth times this
)

// bbrOn reports whether c runs BBR: chosen, with the records it needs.
func (snd *sender) bbrOn() bool { return snd.c.l.cfg.CC == BBR && snd.rackOn() }

// bbrInit returns the connection's BBR state, made at its first use: a
// fresh model, from the layer's free ones when it keeps any (an idle
// connection gives its model back: releaseBBR).
func (snd *sender) bbrInit() *bbrState {
	if snd.bbr == nil {
		l := snd.c.l
		if n := len(l.bbrFree); n > 0 {
			snd.bbr = l.bbrFree[n-1]
			l.bbrFree[n-1] = nil
			l.bbrFree = l.bbrFree[:n-1]
		} else {
			snd.bbr = new(bbrState)
		}
	}
	return snd.bbr
}

// rateSent stamps a (re)transmitted record with the delivery state
// (draft-cheng §3.2 "Transmitting or retransmitting a data packet"): when
// nothing is in flight the sampling interval starts now.
func (snd *sender) rateSent(r *txSeg, ns int64, pipeBefore uint32) {
	b := snd.bbrInit()
	if pipeBefore == 0 {
		b.firstSentAt, b.deliveredAt = ns, ns
	}
	r.delivered, r.deliveredAt, r.firstSentAt = b.delivered, b.deliveredAt, b.firstSentAt
	if b.appLimited != 0 {
		r.flags |= segAppLimited
	} else {
		r.flags &^= segAppLimited
	}
}

// rateDelivered counts a record newly ACKed or SACKed (draft-cheng §3.3
// "Upon receiving ACK"): the sample takes the state of the most recently
// sent record it delivers.
func (snd *sender) rateDelivered(r *txSeg, now int64) {
	b := snd.bbr
	if b == nil || r.deliveredAt == 0 {
		return
	}
	n := uint64(r.end - r.start)
	b.delivered += n
	b.deliveredAt = now
	rs := &snd.c.l.bbrRS
	rs.newlyAcked += n
	if r.flags&segRtx == 0 {
		if rtt := now - r.xmit; rtt > 0 && (rs.rtt == 0 || rtt < rs.rtt) {
			rs.rtt = rtt
		}
	}
	if !rs.has || r.delivered > rs.priorDeliv || r.delivered == rs.priorDeliv && r.xmit > rs.lastSentAfter {
		rs.has = true
		rs.priorDeliv, rs.priorAt = r.delivered, r.deliveredAt
		rs.appLimited = r.flags&segAppLimited != 0
		rs.sendElapsed = r.xmit - r.firstSentAt
		rs.ackElapsed = now - r.deliveredAt
		rs.lastSentAfter = r.xmit
		b.firstSentAt = r.xmit
	}
	r.deliveredAt = 0 // counted once (a SACKed record is ACKed later)
}

// rateAppLimited marks the sampling as limited by the application
// (draft-cheng §3.4): the sender has nothing to send, so the rates seen
// until what is in flight now is delivered do not measure the path.
func (snd *sender) rateAppLimited() {
	if !snd.bbrOn() {
		return
	}
	b := snd.bbrInit()
	b.appLimited = max(b.delivered+uint64(snd.txq.pipe), 1)
}

// bbrBW returns BtlBw, octets per ns.
func (b *bbrState) bw() float64 {
	m := 0.0
	for _, v := range b.bwRound {
		m = max(m, v)
	}
	return m
}

// bdp returns gain times BtlBw times RTprop, octets; the initial window
// before the first RTT sample (draft §4.3.4.2 BBRInflight).
func (snd *sender) bbrBDP(b *bbrState, gain float64) uint32 {
	if b.minRTT == 0 || b.bw() == 0 {
		return uint32(10 * snd.mss)
	}
	return clampCwnd(gain*b.bw()*float64(b.minRTT), snd.mss)
}

// bbrOnAck runs BBR on an ACK (draft §4.2 "Per-ACK steps", Linux
// bbr_main): the rate sample, the model, the state machine and the window.
func (snd *sender) bbrOnAck(now time.Time) {
	b := snd.bbr
	if b == nil {
		return
	}
	ns := now.UnixNano()
	rs := snd.c.l.bbrRS
	snd.c.l.bbrRS = bbrSample{}
	if b.appLimited != 0 && b.delivered > b.appLimited {
		b.appLimited = 0
	}
	b.roundStart = false
	if rs.has {
		snd.bbrModel(b, rs, ns)
	}
	snd.bbrSetCwnd(b, rs.newlyAcked)
	snd.bbrSetPacing(b)
}

// bbrModel updates the bandwidth and RTT filters, the rounds, the ACK
// aggregation estimate and the mode from one rate sample.
func (snd *sender) bbrModel(b *bbrState, rs bbrSample, ns int64) {
	if rs.priorDeliv >= b.nextRound {
		b.nextRound = b.delivered
		b.round++
		b.roundStart = true
		b.conserve = false
		b.bwRound[b.round%bbrBWRounds] = 0
	}
	interval := max(rs.sendElapsed, rs.ackElapsed)
	if interval > 0 && (b.minRTT == 0 || interval >= b.minRTT) {
		bw := float64(b.delivered-rs.priorDeliv) / float64(interval)
		if !rs.appLimited || bw >= b.bw() {
			i := b.round % bbrBWRounds
			b.bwRound[i] = max(b.bwRound[i], bw)
		}
	}
	snd.bbrAggregation(b, rs, ns)
	if !b.filled && b.roundStart && !rs.appLimited {
		if bw := b.bw(); bw >= b.fullBW*bbrFullBWThresh {
			b.fullBW, b.fullBWCnt = bw, 0
		} else if b.fullBWCnt++; b.fullBWCnt >= bbrFullBWCnt {
			b.filled = true
		}
	}
	if b.mode == bbrStartup && b.filled {
		b.mode = bbrDrain
	}
	if b.mode == bbrDrain && snd.txq.pipe <= snd.bbrBDP(b, 1) {
		snd.bbrEnterProbeBW(b, ns)
	}
	snd.bbrAdvanceCycle(b, ns)
	snd.bbrMinRTT(b, rs, ns)
}

// bbrMinRTT keeps RTprop and runs PROBE_RTT (draft §4.3.5): when no RTT
// below RTprop has been seen for bbrMinRTTWin, the window falls to
// bbrMinCwndSegs for bbrProbeRTTTime and a round, to measure it anew. Only
// a lower sample restarts the window, as in Linux's bbr_update_min_rtt
// (the draft's <= lets a paced flow over an empty queue, which sees
// RTprop on every ACK, skip PROBE_RTT forever, so flows sharing a
// bottleneck would never see its queue drain).
func (snd *sender) bbrMinRTT(b *bbrState, rs bbrSample, ns int64) {
	expired := b.minRTT != 0 && ns > b.minRTTAt+int64(bbrMinRTTWin)
	if rs.rtt > 0 && (b.minRTT == 0 || rs.rtt < b.minRTT || expired) {
		b.minRTT, b.minRTTAt = rs.rtt, ns
	}
	if expired && b.mode != bbrProbeRTT {
		b.mode = bbrProbeRTT
		snd.bbrSaveCwnd(b)
		b.probeDone, b.probeRound = 0, false
	}
	if b.mode != bbrProbeRTT {
		return
	}
	if b.probeDone == 0 && snd.txq.pipe <= uint32(bbrMinCwndSegs*snd.mss) {
		b.probeDone = ns + int64(bbrProbeRTTTime)
		b.probeRound = false
		b.nextRound = b.delivered
		return
	}
	if b.probeDone != 0 {
		b.probeRound = b.probeRound || b.roundStart
		if b.probeRound && ns >= b.probeDone {
			b.minRTTAt = ns
			snd.cc.cwnd = max(snd.cc.cwnd, b.priorCwnd)
			b.mode = bbrStartup
			if b.filled {
				snd.bbrEnterProbeBW(b, ns)
			}
		}
	}
}

// bbrAggregation estimates how far ACKs run ahead of the bandwidth
// (Linux bbr_update_ack_aggregation): the most octets delivered beyond
// BtlBw times the time since an aggregation epoch began, the larger of two
// slots of bbrExtraRounds rounds each.
func (snd *sender) bbrAggregation(b *bbrState, rs bbrSample, ns int64) {
	if rs.newlyAcked == 0 {
		return
	}
	if b.roundStart {
		if b.extraRnds++; b.extraRnds >= bbrExtraRounds {
			b.extraRnds = 0
			b.extraIdx ^= 1
			b.extra[b.extraIdx] = 0
		}
	}
	expected := uint64(b.bw() * float64(ns-b.epochAt))
	if b.epochAcked <= expected || b.epochAcked+rs.newlyAcked >= uint64(1<<20)*uint64(snd.mss) {
		b.epochAcked, b.epochAt, expected = 0, ns, 0
	}
	b.epochAcked += rs.newlyAcked
	extra := uint32(min(b.epochAcked-expected, uint64(snd.cc.cwnd)))
	b.extra[b.extraIdx] = max(b.extra[b.extraIdx], extra)
}

// bbrSetCwnd sets the window for acked newly delivered octets (draft
// §4.3.4, Linux bbr_set_cwnd): toward gain times the BDP plus the
// aggregation allowance, growing by what was delivered; in the first round
// of a recovery no lower than what is in flight plus what was delivered
// (packet conservation); never below bbrMinCwndSegs, and at most that in
// PROBE_RTT.
func (snd *sender) bbrSetCwnd(b *bbrState, acked uint64) {
	mss := uint32(snd.mss)
	gain := float64(bbrCwndGain)
	switch b.mode {
	case bbrStartup:
		gain = bbrHighGain
	case bbrDrain:
		gain = 1
	}
	target := uint64(snd.bbrBDP(b, gain)) + 3*uint64(mss)
	if b.filled {
		aggr := uint64(max(b.extra[0], b.extra[1]))
		target += min(aggr, uint64(b.bw()*float64(bbrAggrMax)))
	}
	cwnd := uint64(snd.cc.cwnd)
	switch {
	case b.conserve:
		cwnd = max(cwnd, uint64(snd.txq.pipe)+acked)
	case b.filled:
		cwnd = min(cwnd+acked, target)
	case cwnd < target || b.delivered < 10*uint64(mss):
		cwnd += acked
	}
	cwnd = max(cwnd, bbrMinCwndSegs*uint64(mss))
	if b.mode == bbrProbeRTT {
		cwnd = min(cwnd, bbrMinCwndSegs*uint64(mss))
	}
	snd.cc.cwnd = uint32(min(cwnd, maxCwnd))
}

// bbrSaveCwnd remembers the window before loss recovery or PROBE_RTT
// lowers it (Linux bbr_save_cwnd).
func (snd *sender) bbrSaveCwnd(b *bbrState) {
	if b.mode == bbrProbeRTT || snd.rec.active {
		b.priorCwnd = max(b.priorCwnd, snd.cc.cwnd)
		return
	}
	b.priorCwnd = snd.cc.cwnd
}

// bbrLoss is BBR's reaction to entering fast recovery (draft §4.3.4.4):
// the window is what is in flight plus one segment, held there (packet
// conservation) for a round; ssthresh is not touched.
func (snd *sender) bbrLoss() {
	b := snd.bbrInit()
	snd.bbrSaveCwnd(b)
	b.conserve = true
	b.nextRound = b.delivered
	snd.cc.cwnd = max(snd.txq.pipe+uint32(snd.mss), bbrMinCwndSegs*uint32(snd.mss))
}

// bbrTimeout is the reaction to a retransmission timeout (draft §4.3.4.4,
// Linux tcp_enter_loss with BBR): the window falls to one segment, the
// window before is restored when the timeout's recovery ends, and STARTUP's
// bandwidth plateau check starts over.
func (snd *sender) bbrTimeout() {
	b := snd.bbrInit()
	snd.bbrSaveCwnd(b)
	b.fullBW, b.fullBWCnt = 0, 0
	b.roundStart = true
	snd.cc.cwnd = uint32(snd.mss)
}

// bbrRecovered restores the window saved when loss recovery began
// (draft §4.3.4.4 "upon exiting loss recovery").
func (snd *sender) bbrRecovered() {
	b := snd.bbrInit()
	b.conserve = false
	snd.cc.cwnd = max(snd.cc.cwnd, b.priorCwnd)
}
