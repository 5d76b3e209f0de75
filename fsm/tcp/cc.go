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
)

// String returns the algorithm's name.
func (cc CongestionControl) String() string {
	switch cc {
	case CUBIC:
		return "cubic"
	case NewReno:
		return "newreno"
	}
	return "unknown"
}

// congestion is what an algorithm decides: how the window grows on an ACK
// outside loss recovery, and the slow-start threshold after a loss. Slow
// start, recovery and the RTO reaction are shared (cc.go, recovery.go).
// Implementations are stateless values; per-connection state is in Conn.cc.
type congestion interface {
	// avoid grows c.cwnd in congestion avoidance for acked new octets.
	avoid(c *Conn, acked uint32, now time.Time)
	// onLoss records a loss event and returns the new ssthresh.
	onLoss(c *Conn, now time.Time) uint32
}

var ccAlgos = [...]congestion{CUBIC: cubic{}, NewReno: newReno{}}

// ccState is the per-connection state of the algorithms.
type ccState struct {
	acc uint32 // NewReno: octets acknowledged toward the next +1 MSS (RFC 5681 §3.1)
	// CUBIC (RFC 9438 §4), in segments and seconds.
	wMax  float64   // window before the last reduction
	k     float64   // time to grow back to wMax
	wEst  float64   // Reno-friendly estimate (§4.3)
	epoch time.Time // start of the current avoidance epoch; zero = not started
}

// maxCwnd bounds the congestion window (octets); arithmetic stays far from
// uint32 wrap.
const maxCwnd = 1 << 30

// clampCwnd keeps w within [one MSS, maxCwnd] (the window never falls
// below one segment and never wraps).
func (snd *sender) clampCwnd(w float64) uint32 {
	mss := float64(snd.mss)
	if math.IsNaN(w) || w < mss {
		return uint32(snd.mss)
	}
	if w > maxCwnd {
		return maxCwnd
	}
	return uint32(w)
}

// ccAck grows the window for acked new octets outside recovery: slow start
// below ssthresh, by at most 2 MSS per ACK (RFC 5681 §3.1, RFC 3465 L=2),
// else the algorithm's congestion avoidance.
func (snd *sender) ccAck(acked uint32, now time.Time) {
	c := snd.c
	mss := uint32(snd.mss)
	if snd.cwnd < snd.ssthresh {
		snd.cwnd = min(snd.cwnd+min(acked, 2*mss), maxCwnd)
		return
	}
	ccAlgos[c.l.cfg.CC].avoid(c, acked, now)
	snd.cwnd = min(max(snd.cwnd, mss), maxCwnd)
}

// ccLoss reacts to a loss event: ssthresh from the algorithm, at least
// 2 MSS (RFC 5681 §3.1 equation 4).
func (snd *sender) ccLoss(now time.Time) {
	c := snd.c
	if c.ecnWindowReduced() { // RFC 3168 §6.1.2: ECE already reduced this window
		snd.cc.acc = 0
		return
	}
	snd.ssthresh = max(ccAlgos[c.l.cfg.CC].onLoss(c, now), uint32(2*snd.mss))
	snd.cc.acc = 0
	c.ecnReduced() // RFC 3168 §6.1.2: CWR on the next new data
}

// flight returns the octets sent and not cumulatively acknowledged.
func (snd *sender) flight() uint32 {
	c := snd.c
	return uint32(c.tcb.SndNxt - c.tcb.SndUna)
}

// newReno is RFC 5681 congestion avoidance: one MSS per window of ACKed data.
type newReno struct{}

func (newReno) avoid(c *Conn, acked uint32, now time.Time) {
	c.snd.cc.acc += acked
	if c.snd.cc.acc >= c.snd.cwnd {
		c.snd.cc.acc -= c.snd.cwnd
		c.snd.cwnd = min(c.snd.cwnd+uint32(c.snd.mss), maxCwnd)
	}
}

// onLoss: ssthresh = max(FlightSize/2, 2*SMSS) (RFC 5681 §3.1 equation 4).
func (newReno) onLoss(c *Conn, now time.Time) uint32 { return c.snd.flight() / 2 }

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
func (cubic) avoid(c *Conn, acked uint32, now time.Time) {
	s := &c.snd.cc
	mss := float64(c.snd.mss)
	cwnd := float64(c.snd.cwnd) / mss
	if s.epoch.IsZero() {
		s.epoch = now
		if s.wMax < cwnd {
			s.wMax = cwnd // no reduction yet (or growth past it): start the curve here
		}
		s.k = math.Cbrt((s.wMax - cwnd) / cubicC)
		s.wEst = cwnd
	}
	rtt := c.snd.srtt
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
		c.snd.cwnd = c.snd.clampCwnd(s.wEst * mss)
		return
	}
	target := min(max(wCubic(t+rtt.Seconds()), cwnd), 1.5*cwnd) // §4.2
	c.snd.cwnd = c.snd.clampCwnd((cwnd + (target-cwnd)*(float64(acked)/mss)/cwnd) * mss)
}

// onLoss is RFC 9438 §4.6-4.7: W_max with fast convergence, ssthresh =
// cwnd*beta, a new epoch.
func (cubic) onLoss(c *Conn, now time.Time) uint32 {
	s := &c.snd.cc
	cwnd := float64(c.snd.cwnd) / float64(c.snd.mss)
	if cwnd < s.wMax {
		s.wMax = cwnd * (1 + cubicBeta) / 2 // §4.7 fast convergence
	} else {
		s.wMax = cwnd
	}
	s.epoch = time.Time{}
	return c.snd.clampCwnd(float64(c.snd.cwnd) * cubicBeta)
}
