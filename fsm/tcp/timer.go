package tcp

import (
	"time"
)

var zeroTime time.Time

// rttSample folds one round-trip measurement into SRTT and RTTVAR and
// recomputes the RTO (RFC 6298 §2.2-2.4, K = 4, G = 1 ms), clamped to
// [RTOMin, RTOMax]. A new sample also ends any backoff. When k samples are
// expected per round trip (timestamps on every ACK), the gains are
// alpha/k and beta/k (RFC 7323 Appendix G), so a round trip moves the
// estimate as much as one RFC 6298 sample would.
func (c *Conn) rttSample(r time.Duration, k int) {
	if r < 0 {
		return
	}
	k = max(k, 1)
	if r > 0 { // RACK.min_RTT (RFC 8985 §6.2 step 1), windowed (minrtt.go)
		c.rack.minRTT = c.rack.minF.update(c.l.now.UnixNano(), r)
	}
	if !c.hasRTT {
		c.srtt, c.rttvar, c.hasRTT = r, r/2, true
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar += (d - c.rttvar) / time.Duration(4*k)
		c.srtt += (r - c.srtt) / time.Duration(8*k)
	}
	c.resetRTO()
}

// resetRTO sets RTO = SRTT + max(G, K*RTTVAR) (RFC 6298 §2.3), dropping any
// backoff; before the first sample it is the initial RTO.
func (c *Conn) resetRTO() {
	if !c.hasRTT {
		c.rto = c.l.cfg.RTOInitial
		return
	}
	rto := c.srtt + max(time.Millisecond, 4*c.rttvar)
	c.rto = min(max(rto, c.l.cfg.RTOMin), c.l.cfg.RTOMax)
}

// RTO returns the current retransmission timeout (with backoff).
func (c *Conn) RTO() time.Duration { return c.rto }

// poll fires c's due timers as table events (RFC 9293 §3.10.8).
func (c *Conn) poll(now time.Time) {
	l := c.l
	if !c.rcv.delackAt.IsZero() && !now.Before(c.rcv.delackAt) {
		c.rcv.delackAt = zeroTime
		c.rcv.ackNow = true // sent by finish (RFC 9293 §3.8.6.3)
	}
	if !c.twAt.IsZero() && !now.Before(c.twAt) {
		c.twAt = zeroTime
		ev := EvTimeoutTimeWait
		if c.state == StateFinWait2 {
			ev = EvTimeoutFinWait2
		}
		l.run(c, ev, l.userCall(now))
	}
	c.kaPoll(now)
	if c.state == StateClosed {
		return
	}
	if !c.rackAt.IsZero() && !now.Before(c.rackAt) {
		c.rackAt = zeroTime
		c.rackTimeout(now)
	}
	if !c.tlpAt.IsZero() && !now.Before(c.tlpAt) {
		c.tlpAt = zeroTime
		c.tlpFire(now)
	}
	if !c.rtxAt.IsZero() && !now.Before(c.rtxAt) {
		limit := l.cfg.MaxRetries
		switch {
		case c.state == StateSynSent:
			limit = l.cfg.SynRetries
		case c.state == StateSynReceived && c.passive:
			limit = l.cfg.SynAckRetries
		case c.state == StateSynReceived: // simultaneous open: our SYN still counts
			limit = l.cfg.SynRetries
		}
		if c.userTimedOut(now) || (c.retries >= limit && !c.persist) {
			c.rtxAt = zeroTime
			l.run(c, EvTimeoutUser, l.userCall(now)) // R2 exceeded (MUST-20)
			return
		}
		l.run(c, EvTimeoutRtx, l.userCall(now))
	}
}

// userTimedOut reports whether data has waited unacknowledged, without
// progress, for the user timeout (RFC 5482 §2, RFC 9293 §3.8.3 R2).
func (c *Conn) userTimedOut(now time.Time) bool {
	return c.userTimeout > 0 && !c.rtxSince.IsZero() && !c.persist && now.Sub(c.rtxSince) >= c.userTimeout
}

// clampUserTimeout keeps the retransmission timer from running past the
// user timeout's deadline, so the connection is aborted on time.
func (c *Conn) clampUserTimeout() {
	if c.userTimeout <= 0 || c.rtxSince.IsZero() || c.rtxAt.IsZero() || c.persist {
		return
	}
	if d := c.rtxSince.Add(c.userTimeout); d.Before(c.rtxAt) {
		c.rtxAt = d
	}
}
