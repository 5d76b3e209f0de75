package tcp

import "time"

// delayAck accounts for n in-order octets just received and decides when
// they are acknowledged (RFC 9293 §3.8.6.3, RFC 5681 §4.2): at once when at
// least two full-sized segments are unacknowledged (SHLD-19), else within
// Config.DelayedACK (SHLD-18; under 0.5 s, MUST-40) unless data or another
// ACK carries it first.
func (c *Conn) delayAck(now time.Time, n int) {
	c.rcvMSS = max(c.rcvMSS, min(n, int(c.l.cfg.MSS)))
	c.rcvUnacked += n
	if c.l.cfg.DelayedACK < 0 || c.rcvUnacked >= 2*c.rcvMSS {
		c.ackNow = true
		return
	}
	if c.delackAt.IsZero() {
		c.delackAt = now.Add(c.l.cfg.DelayedACK)
	}
}

// ackSent records that a segment carrying our current ACK went out: any
// delayed ACK is satisfied.
func (c *Conn) ackSent() {
	c.ackNow = false
	c.rcvUnacked = 0
	c.delackAt = zeroTime
}
