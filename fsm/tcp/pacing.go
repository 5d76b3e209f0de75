package tcp

import "time"

// Pacing (BBR's sending rate, draft-cardwell-iccrg-bbr-congestion-
// control-00 §4.2.1 and §4.3.4.3; Linux's internal TCP pacing,
// tcp_pacing_check and the EDT departure time tcp_wstamp_ns). A BBR
// connection spaces its data segments, new and retransmitted, at its
// pacing rate, pacing_gain times BtlBw: each segment may leave once the
// departure clock (bbrState.paceAt) has come within one burst of now, and
// moves the clock on by its length over the rate. When pacing holds a
// segment the connection's pacing timer (paceWake, one of its deadlines,
// kept in the BBR state so other connections pay nothing) fires when it
// may go, and the output runs again; ACKs arriving meanwhile run it too.
//
// Bursts. Linux sends a paced flow in TSO bursts of about 1 ms of its
// rate (sk_pacing_shift 10), at least two segments. The same bound here,
// without Linux's 64 KB cap: the event loop's timer fires with about 1 ms
// of resolution, so at rates where 1 ms is more than 64 KB (over about
// 500 Mbit/s, the lab's veth) a finer spacing could only cost rate, and
// what pacing is for, not overflowing a shallow bottleneck queue with a
// window's worth at once, happens at the rates below.
//
// Config.NoPacing sends BBR unpaced (the window alone), for comparison.
// CUBIC and NewReno are never paced (as Linux's without the fq qdisc).

// PROBE_BW's pacing gain cycle (draft §4.3.4.3, Linux bbr_pacing_gain):
// one phase probing for more bandwidth, one draining the queue it made,
// six cruising.
var bbrCycle = [...]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

// bbrPacingMargin paces slightly under the estimate so a queue the model
// built drains (Linux bbr_pacing_margin_percent, 1 %).
const bbrPacingMargin = 0.99

// paceRate returns the connection's pacing rate, octets per ns; 0: the
// connection is not paced.
func (snd *sender) paceRate() float64 {
	if snd.bbr == nil || snd.c.l.cfg.NoPacing || !snd.bbrOn() {
		return 0
	}
	return snd.bbr.pacing
}

// paceTimer returns the pacing timer (zero: stopped).
func (snd *sender) paceTimer() tick {
	if snd.bbr == nil {
		return 0
	}
	return snd.bbr.paceWake
}

// paceBurst is how far ahead of now the departure clock may run: 1 ms of
// the rate, at least two segments' time.
func (snd *sender) paceBurst(rate float64) time.Duration {
	return max(time.Millisecond, time.Duration(float64(2*snd.mss)/rate))
}

// paceHold reports whether pacing holds back the next segment at now;
// then it arms the pacing timer for when the segment may leave.
func (snd *sender) paceHold(now time.Time) bool {
	rate := snd.paceRate()
	if rate <= 0 {
		return false
	}
	b := snd.bbr
	at := snd.c.l.tick(now)
	burst := snd.paceBurst(rate)
	if b.paceAt.IsZero() || !b.paceAt.After(at.Add(burst)) {
		b.paceWake = 0
		return false
	}
	b.paceWake = b.paceAt.Add(-burst)
	return true
}

// paceSent moves the departure clock past n octets sent at now (from now
// when it had fallen behind: an idle connection earns no credit beyond one
// burst).
func (snd *sender) paceSent(now time.Time, n int) {
	rate := snd.paceRate()
	if rate <= 0 {
		return
	}
	b := snd.bbr
	at := snd.c.l.tick(now)
	if b.paceAt.Before(at) {
		b.paceAt = at
	}
	b.paceAt = b.paceAt.Add(time.Duration(float64(max(n, 1)) / rate))
}

// bbrSetPacing sets the pacing rate from the model (draft §4.2.1, Linux
// bbr_set_pacing_rate): the mode's gain times BtlBw, less the margin; before
// the first bandwidth sample STARTUP's gain times the window over the
// smoothed RTT (bbr_init_pacing_rate_from_rtt, 1 ms before any RTT). Until
// the pipe is filled the rate only grows.
func (snd *sender) bbrSetPacing(b *bbrState) {
	var rate float64
	if bw := b.bw(); bw > 0 {
		rate = bbrPacingGain(b) * bw * bbrPacingMargin
	} else {
		rtt := time.Millisecond
		if snd.hasRTT && snd.srtt > 0 {
			rtt = snd.srtt
		}
		rate = bbrHighGain * float64(snd.cc.cwnd) / float64(rtt)
	}
	if b.filled || rate > b.pacing {
		b.pacing = rate
	}
}

// bbrPacingGain is the pacing gain of b's mode (draft §4.3).
func bbrPacingGain(b *bbrState) float64 {
	switch b.mode {
	case bbrStartup:
		return bbrHighGain
	case bbrDrain:
		return 1 / bbrHighGain
	case bbrProbeBW:
		return bbrCycle[b.cycleIdx]
	}
	return 1
}

// bbrEnterProbeBW starts PROBE_BW's gain cycle at a random phase other
// than the draining one (Linux bbr_reset_probe_bw_mode), so flows sharing
// a bottleneck do not probe in step.
func (snd *sender) bbrEnterProbeBW(b *bbrState, ns int64) {
	b.mode = bbrProbeBW
	b.cycleIdx = (2 + snd.c.l.rng.IntN(len(bbrCycle)-1)) % len(bbrCycle)
	b.cycleAt = ns
}

// bbrAdvanceCycle moves PROBE_BW to its next phase when the current one
// is done (draft §4.3.4.3, Linux bbr_is_next_cycle_phase): a phase lasts
// at least RTprop; probing (gain > 1) also waits until the flight reaches
// gain times the BDP or a loss is being recovered; draining (gain < 1)
// ends early once the flight is down to one BDP.
func (snd *sender) bbrAdvanceCycle(b *bbrState, ns int64) {
	if b.mode != bbrProbeBW {
		return
	}
	full := ns-b.cycleAt > b.minRTT
	gain := bbrCycle[b.cycleIdx]
	next := full
	switch {
	case gain > 1:
		next = full && (snd.rec.active || snd.txq.pipe >= snd.bbrBDP(b, gain))
	case gain < 1:
		next = full || snd.txq.pipe <= snd.bbrBDP(b, 1)
	}
	if next {
		b.cycleIdx = (b.cycleIdx + 1) % len(bbrCycle)
		b.cycleAt = ns
	}
}
