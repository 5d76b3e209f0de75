package tcp

import "time"

// The effective send MSS (RFC 9293 §3.7.1, MUST-16) is the least of the
// peer's MSS option (536 without one, MUST-15), our interface's MSS
// (Config.MSS, MTU-40) and the path MTU estimate less 40 (RFC 1191 §6.3;
// icmp.go), less the Timestamps option when it is in use. The interface
// part follows MTU changes (SHLD-6, Layer.SetMSS); the path part only ever
// falls.

// SetMSS applies a new interface MSS (the MTU less the IPv4 and TCP headers)
// after the link's MTU changed (RFC 9293 §3.7.3, SHLD-6): connections opened
// from now on advertise it in their SYNs (MUST-14), and every existing
// connection's send MSS follows it, down or back up, never past the peer's
// MSS option or a lower path MTU learnt from ICMP. Segments already queued
// are cut to the new size when sent or retransmitted. mss below 64 is
// raised to 64.
func (l *Layer) SetMSS(now time.Time, mss uint16) {
	l.now = now
	l.cfg.MSS = max(mss, 64)
	for _, c := range l.conns {
		if c.state == StateSynSent || c.state == StateClosed {
			continue // the peer's MSS is not known yet: setIRS applies it
		}
		c.snd.updateMSS()
		l.finish(c, now)
	}
}

// updateMSS recomputes the effective send MSS from its parts.
func (snd *sender) updateMSS() {
	c := snd.c
	m := min(snd.peerMSS, int(c.l.cfg.MSS))
	if c.tsOK {
		m = max(m-tsOptLen, 64)
	}
	if snd.pathMSS > 0 {
		p := snd.pathMSS
		if c.tsOK {
			p -= tsOptLen
		}
		m = min(m, max(p, 8))
	}
	snd.mss = m
}
