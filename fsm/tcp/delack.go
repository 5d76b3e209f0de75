package tcp

import "time"

// delayAck accounts for n in-order octets just received and decides when
// they are acknowledged (RFC 9293 §3.8.6.3, RFC 5681 §4.2): at once when at
// least two full-sized segments are unacknowledged (SHLD-19), else within
// Config.DelayedACK (SHLD-18; under 0.5 s, MUST-40) unless data or another
// ACK carries it first.
func (rcv *receiver) delayAck(now time.Time, n int) {
	c := rcv.c
	rcv.mss = max(rcv.mss, min(n, int(c.l.cfg.MSS)))
	rcv.unacked += n
	if c.l.cfg.DelayedACK < 0 || rcv.unacked >= 2*rcv.mss {
		rcv.ackNow = true
		return
	}
	if rcv.delackAt.IsZero() {
		rcv.delackAt = now.Add(c.l.cfg.DelayedACK)
	}
}

// ackSent records that a segment carrying our current ACK went out: any
// delayed ACK is satisfied.
func (rcv *receiver) ackSent() {
	rcv.ackNow = false
	rcv.unacked = 0
	rcv.delackAt = zeroTime
}
