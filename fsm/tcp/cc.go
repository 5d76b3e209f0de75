package tcp

import (
	"math"
	"time"
)

// CongestionControl names a congestion control algorithm (RFC 5681 §3,
// RFC 9293 §3.8.2, MAY-18).
type CongestionControl uint8

// The algorithms Config.CC selects; CUBIC is the default.
const (
	CUBIC   CongestionControl = iota // RFC 9438
	NewReno                          // RFC 5681, RFC 6582
	BBR                              // draft-cardwell-iccrg-bbr-congestion-control-00 (bbr.go); CUBIC without SACK
)

// String returns the algorithm's name.
func (cc CongestionControl) String() string {
	switch cc {
	case CUBIC:
		return "cubic"
	case NewReno:
		return "newreno"
	case BBR:
		return "bbr"
	}
	return "unknown"
}

// congestionControl is what an algorithm decides: how the window grows on
// an ACK in congestion avoidance, and the slow-start threshold after a
// loss. Slow start and the recovery and timeout reactions are shared
// (ccState's methods). Implementations are stateless values; a connection's
// state is its ccState.
type congestionControl interface {
	// avoid grows w.cwnd in congestion avoidance for acked new octets.
	avoid(w *ccState, acked uint32, mss int, srtt time.Duration, now tick)
	// onLoss records a loss event with flight octets outstanding and
	// returns the new ssthresh.
	onLoss(w *ccState, flight uint32, mss int, now tick) uint32
}

// ccAlgos: BBR's window is its model's (bbr.go); a BBR connection without
// SACK, or its loss reaction to ECE, is CUBIC's.
var ccAlgos = [...]congestionControl{CUBIC: cubic{}, NewReno: newReno{}, BBR: cubic{}}

// ccState is a connection's congestion window (RFC 5681 §3.1) and its
// algorithm's state. Only its methods and the algorithms write it; the
// sender asks them (sender.ccAck, ccLoss, and the recovery, timeout, probe
// and ECN reactions).
type ccState struct {
	cwnd, ssthresh uint32
	acc            uint32 // NewReno: octets acknowledged toward the next +1 MSS (RFC 5681 §3.1)
	// CUBIC (RFC 9438 §4), in segments and seconds.
	wMax  float64 // window before the last reduction
	k     float64 // time to grow back to wMax
	wEst  float64 // Reno-friendly estimate (§4.3)
	epoch tick    // start of the current avoidance epoch; zero = not started
}

// maxCwnd bounds the congestion window (octets); arithmetic stays far from
// uint32 wrap.
const maxCwnd = 1 << 30

// clampCwnd keeps w within [one MSS, maxCwnd] (the window never falls
// below one segment and never wraps).
func clampCwnd(w float64, mss int) uint32 {
	if math.IsNaN(w) || w < float64(mss) {
		return uint32(mss)
	}
	if w > maxCwnd {
		return maxCwnd
	}
	return uint32(w)
}

// start sets the initial window of 10 segments (RFC 6928).
func (w *ccState) start(mss int) { w.cwnd = uint32(10 * mss) }

// ack grows the window for acked new octets outside recovery: slow start
// below ssthresh, by at most 2 MSS per ACK (RFC 5681 §3.1, RFC 3465 L=2),
// else the algorithm's congestion avoidance.
func (w *ccState) ack(algo congestionControl, acked uint32, mss int, srtt time.Duration, now tick) {
	if w.cwnd < w.ssthresh {
		w.cwnd = min(w.cwnd+min(acked, 2*uint32(mss)), maxCwnd)
		return
	}
	algo.avoid(w, acked, mss, srtt, now)
	w.cwnd = min(max(w.cwnd, uint32(mss)), maxCwnd)
}

// loss reacts to a loss event: ssthresh from the algorithm, at least 2 MSS
// (RFC 5681 §3.1 equation 4). held: the window was already reduced for
// this loss (an ECE in the same window, RFC 3168 §6.1.2), ssthresh stays.
func (w *ccState) loss(algo congestionControl, flight uint32, mss int, now tick, held bool) {
	if !held {
		w.ssthresh = max(algo.onLoss(w, flight, mss, now), uint32(2*mss))
	}
	w.acc = 0
}

// enterRecovery sets cwnd = ssthresh at the start of fast recovery (RFC
// 5681 §3.2 step 4, RFC 6675 §5 step 4.2).
func (w *ccState) enterRecovery() { w.cwnd = w.ssthresh }

// exitRecovery sets the window when a full ACK ends fast recovery: cwnd =
// ssthresh (RFC 6582 §3.2 step 3, option 2; RFC 6675 leaves cwnd at the
// ssthresh recovery began with; Linux's tcp_end_cwnd_reduction does the
// same). Option 1, min(ssthresh, FlightSize + SMSS), guards against a burst
// but leaves one segment when the full ACK acknowledges everything: the
// connection then waits for the peer's delayed ACK of a lone segment (40 ms
// in Linux) after every recovery (TestRecoveryExitWithNothingInFlight).
func (w *ccState) exitRecovery(mss int) {
	w.cwnd = clampCwnd(float64(w.ssthresh), mss)
}

// timeout sets the loss window of one segment after a retransmission
// timeout (RFC 5681 §3.1, RFC 6298 §5.5).
func (w *ccState) timeout(mss int) { w.cwnd = uint32(mss) }

// probeRepaired lowers cwnd to ssthresh after a loss probe repaired a loss
// (RFC 8985 §7.4.2).
func (w *ccState) probeRepaired() { w.cwnd = min(w.cwnd, w.ssthresh) }

// ecnReduce sets cwnd = ssthresh after an ECE reduced ssthresh (RFC 3168
// §6.1.2).
func (w *ccState) ecnReduce(mss int) { w.cwnd = clampCwnd(float64(w.ssthresh), mss) }

// restore undoes a loss episode's response (undo.go): the window and
// threshold saved at its start come back, never lowering the current ones,
// with the algorithm's state.
func (w *ccState) restore(saved ccState) {
	cwnd, ssthresh := max(w.cwnd, saved.cwnd), max(w.ssthresh, saved.ssthresh)
	*w = saved
	w.cwnd, w.ssthresh, w.acc = cwnd, ssthresh, 0
}

// ccAck grows the window for acked new octets outside recovery.
func (snd *sender) ccAck(acked uint32, now time.Time) {
	if snd.bbrOn() {
		return // bbrOnAck sets the window after every ACK
	}
	snd.cc.ack(ccAlgos[snd.c.l.cfg.CC], acked, snd.mss, snd.srtt, snd.c.l.tick(now))
}

// ccLoss reacts to a loss event through the algorithm; an ECE may already
// have reduced this window (RFC 3168 §6.1.2), and the next new data carries
// CWR.
func (snd *sender) ccLoss(now time.Time) {
	c := snd.c
	if c.snd.ecnWindowReduced() { // RFC 3168 §6.1.2: ECE already reduced this window
		snd.cc.loss(nil, 0, snd.mss, c.l.tick(now), true)
		return
	}
	snd.cc.loss(ccAlgos[c.l.cfg.CC], snd.flight(), snd.mss, c.l.tick(now), false)
	c.snd.ecnReduced() // RFC 3168 §6.1.2: CWR on the next new data
}

// flight returns the octets sent and not cumulatively acknowledged.
func (snd *sender) flight() uint32 {
	c := snd.c
	return uint32(c.tcb.SndNxt - c.tcb.SndUna)
}

// newReno is RFC 5681 congestion avoidance: one MSS per window of ACKed data.
type newReno struct{}

func (newReno) avoid(w *ccState, acked uint32, mss int, srtt time.Duration, now tick) {
	w.acc += acked
	if w.acc >= w.cwnd {
		w.acc -= w.cwnd
		w.cwnd = min(w.cwnd+uint32(mss), maxCwnd)
	}
}

// onLoss: ssthresh = max(FlightSize/2, 2*SMSS) (RFC 5681 §3.1 equation 4).
func (newReno) onLoss(w *ccState, flight uint32, mss int, now tick) uint32 { return flight / 2 }

// CUBIC constants (RFC 9438 §4.1, §4.6, §5).
const (
	cubicC    = 0.4
	cubicBeta = 0.7
)

// cubic is RFC 9438.
type cubic struct{}

// avoid is RFC 9438 §4.2-4.4: the window follows
// W_cubic(t) = C*(t-K)^3 + W_max, aiming one RTT ahead and growing by at
// most half per RTT, but never below the Reno-friendly estimate W_est.
func (cubic) avoid(s *ccState, acked uint32, mssInt int, rtt time.Duration, now tick) {
	mss := float64(mssInt)
	cwnd := float64(s.cwnd) / mss
	if s.epoch.IsZero() {
		s.epoch = now
		if s.wMax < cwnd {
			s.wMax = cwnd // no reduction yet (or growth past it): start the curve here
		}
		s.k = math.Cbrt((s.wMax - cwnd) / cubicC)
		s.wEst = cwnd
	}
	if rtt <= 0 {
		rtt = 100 * time.Millisecond
	}
	t := now.Sub(s.epoch).Seconds()
	wCubic := func(t float64) float64 { d := t - s.k; return cubicC*d*d*d + s.wMax }
	// §4.3: alpha_cubic while below W_max, 1 afterwards.
	alpha := 3 * (1 - cubicBeta) / (1 + cubicBeta)
	if s.wEst >= s.wMax {
		alpha = 1
	}
	s.wEst += alpha * (float64(acked) / mss) / cwnd
	if wCubic(t) < s.wEst { // §4.3 Reno-friendly region
		s.cwnd = clampCwnd(s.wEst*mss, mssInt)
		return
	}
	target := min(max(wCubic(t+rtt.Seconds()), cwnd), 1.5*cwnd) // §4.2
	s.cwnd = clampCwnd((cwnd+(target-cwnd)*(float64(acked)/mss)/cwnd)*mss, mssInt)
}

// onLoss is RFC 9438 §4.6-4.7: W_max with fast convergence, ssthresh =
// cwnd*beta, a new epoch.
func (cubic) onLoss(s *ccState, flight uint32, mss int, now tick) uint32 {
	cwnd := float64(s.cwnd) / float64(mss)
	if cwnd < s.wMax {
		s.wMax = cwnd * (1 + cubicBeta) / 2 // §4.7 fast convergence
	} else {
		s.wMax = cwnd
	}
	s.epoch = 0
	return clampCwnd(float64(s.cwnd)*cubicBeta, mss)
}
