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
func (snd *sender) rttSample(r time.Duration, k int) {
	c := snd.c
	if r < 0 {
		return
	}
	k = max(k, 1)
	if r > 0 { // RACK.min_RTT (RFC 8985 §6.2 step 1), windowed (minrtt.go)
		snd.rack.minRTT = snd.rack.minF.update(c.l.now.UnixNano(), r)
	}
	if !snd.hasRTT {
		snd.srtt, snd.rttvar, snd.hasRTT = r, r/2, true
	} else {
		d := snd.srtt - r
		if d < 0 {
			d = -d
		}
		snd.rttvar += (d - snd.rttvar) / time.Duration(4*k)
		snd.srtt += (r - snd.srtt) / time.Duration(8*k)
	}
	snd.resetRTO()
}

// resetRTO sets RTO = SRTT + max(G, K*RTTVAR) (RFC 6298 §2.3), dropping any
// backoff; before the first sample it is the initial RTO.
func (snd *sender) resetRTO() {
	c := snd.c
	if !snd.hasRTT {
		snd.rto = c.l.cfg.RTOInitial
		return
	}
	rto := snd.srtt + max(time.Millisecond, 4*snd.rttvar)
	snd.rto = min(max(rto, c.l.cfg.RTOMin), c.l.cfg.RTOMax)
}

// synFallbackRTO is the RTO data transmission starts with when our SYN (or
// SYN,ACK) timed out and the handshake gave no RTT sample (Karn): 3 s, or
// the initial RTO if that is larger (RFC 6298 §5.7; Linux's
// TCP_TIMEOUT_FALLBACK), within RTOMax. The backoff ends with the
// handshake; a 1 s RTO would likely be too short for this path.
func (snd *sender) synFallbackRTO() time.Duration {
	cfg := &snd.c.l.cfg
	return min(max(3*time.Second, cfg.RTOInitial), cfg.RTOMax)
}

// RTO returns the current retransmission timeout (with backoff).
func (c *Conn) RTO() time.Duration { return c.snd.rto }

// poll fires c's due timers as table events (RFC 9293 §3.10.8).
func (c *Conn) poll(now time.Time) {
	l := c.l
	if !c.rcv.delackAt.IsZero() && !c.l.tick(now).Before(c.rcv.delackAt) {
		c.rcv.delackAt = 0
		c.rcv.ackNow = true // sent by finish (RFC 9293 §3.8.6.3)
	}
	if !c.twAt.IsZero() && !c.l.tick(now).Before(c.twAt) {
		c.twAt = 0
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
	if !c.snd.rackAt.IsZero() && !c.l.tick(now).Before(c.snd.rackAt) {
		c.snd.rackAt = 0
		c.snd.rackTimeout(now)
	}
	if w := c.snd.paceTimer(); !w.IsZero() && !c.l.tick(now).Before(w) {
		c.snd.bbr.paceWake = 0 // the held segment leaves in finish's output (pacing.go)
	}
	if !c.snd.tlpAt.IsZero() && !c.l.tick(now).Before(c.snd.tlpAt) {
		c.snd.tlpAt = 0
		c.snd.tlpFire(now)
	}
	if !c.snd.rtxAt.IsZero() && !c.l.tick(now).Before(c.snd.rtxAt) {
		limit := l.cfg.MaxRetries
		switch {
		case c.state == StateSynSent:
			limit = l.cfg.SynRetries
		case c.state == StateSynReceived && c.passive:
			limit = synAckLimit(c)
		case c.state == StateSynReceived: // simultaneous open: our SYN still counts
			limit = l.cfg.SynRetries
		}
		orphan := c.orphanStuck()
		if c.snd.userTimedOut(now) || (int(c.snd.retries) >= limit && !c.snd.persist) || orphan {
			c.snd.rtxAt = 0
			if limit < l.cfg.SynAckRetries && c.state == StateSynReceived && c.passive {
				l.ctr.SynRecvPruned++
			}
			if orphan {
				l.ctr.OrphanZeroWindow++
			}
			l.run(c, EvTimeoutUser, l.userCall(now)) // R2 exceeded (MUST-20)
			return
		}
		l.run(c, EvTimeoutRtx, l.userCall(now))
	}
}

// orphanStuck reports whether c is an orphan stuck behind a zero window: its
// user closed it (nobody will write or read again), the peer's window is
// zero and the probes' backoff has reached RTOMax. RFC 9293 §3.8.6.1
// (MUST-37) keeps a connection open for as long as the receiver answers
// its probes, which a peer that never opens its window does forever, and
// with it the connection's buffers and table slot: a few thousand such
// peers (a slow-read attack) would hold MaxConns. A connection its user
// still holds keeps probing as the RFC says; an orphan's probes have no one
// waiting for them, so, as Linux does for an orphaned socket whose probe
// backoff reaches TCP_RTO_MAX (tcp_probe_timer, tcp_orphan_retries), it is
// aborted (TimeoutUser, R2's row). From a 200 ms RTO that is about 5
// minutes of probing.
func (c *Conn) orphanStuck() bool {
	return c.userClosed && c.tcb.SndWnd == 0 && c.snd.rto >= c.l.cfg.RTOMax
}

// synAckLimit is how many times the embryo c retransmits its SYN,ACK:
// Config.SynAckRetries, but none under a SYN flood: when its listener
// answered a SYN with a cookie for want of a slot since c's SYN,ACK went
// out (its timer was armed one RTO ago: the SYN queue was full while c
// held a slot), or the queue is more than half full. Such a queue holds
// mostly SYNs nobody will complete (spoofed sources, on-link ones still
// being resolved), and each embryo keeps out a SYN that could; Linux's
// reqsk_timer_handler lowers the retries of a queue more than half full
// too (to 2, from its length and young count). None is enough: a peer
// whose SYN,ACK was lost retransmits its SYN (RFC 9293 §3.8.1), which a
// full queue answers with a cookie (RFC 4987 §3.6). So the first timeout
// releases the embryo, and nothing stays half-open for longer than one
// RTO after a flood. Nor while the stack says it is under one
// (Layer.SetSynFlood): its filter in the kernel may keep the queue from
// filling, with the flood's embryos in it all the same.
func synAckLimit(c *Conn) int {
	ln := c.ln
	if ln != nil && (2*len(ln.embryos) > ln.synBacklog ||
		!ln.fullAt.IsZero() && c.l.tick(ln.fullAt) >= c.snd.rtxAt.Add(-c.snd.rto) ||
		c.l.now.Before(c.l.synFlood)) {
		return 0
	}
	return c.l.cfg.SynAckRetries
}

// userTimedOut reports whether data has waited unacknowledged, without
// progress, for the user timeout (RFC 5482 §2, RFC 9293 §3.8.3 R2).
func (snd *sender) userTimedOut(now time.Time) bool {
	return snd.userTimeout > 0 && !snd.rtxSince.IsZero() && !snd.persist && snd.c.l.tick(now).Sub(snd.rtxSince) >= snd.userTimeout
}

// clampUserTimeout keeps the retransmission timer from running past the
// user timeout's deadline, so the connection is aborted on time.
func (snd *sender) clampUserTimeout() {
	if snd.userTimeout <= 0 || snd.rtxSince.IsZero() || snd.rtxAt.IsZero() || snd.persist {
		return
	}
	if d := snd.rtxSince.Add(snd.userTimeout); d.Before(snd.rtxAt) {
		snd.rtxAt = d
	}
}
