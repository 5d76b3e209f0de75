package tcp

import "github.com/netspec/netspec/fsm/sock"

// r1Check runs after each retransmission timeout: when the retransmissions
// of the segment at SND.UNA reach R1 (Config.R1, default 3, SHLD-10), IP
// gets negative advice once (RFC 9293 §3.8.3, RFC 1122 §4.2.3.5, MUST-20)
// and the application is told the connection is retrying (SHLD-9: it can
// read Conn.Retrying, and a Writable|Readable readiness wakes callers
// blocked on it). R2 (MaxRetries or the user timeout) closes the
// connection (timer.go).
func (snd *sender) r1Check() {
	c := snd.c
	if int(snd.retries) != c.l.cfg.R1 || !advises(c) {
		return
	}
	snd.retrying = true
	c.l.ctr.R1Advice++
	if a, ok := c.l.out.(Adviser); ok {
		a.Advise(c.key.laddr, c.key.raddr)
	}
	c.notify(sock.Readable | sock.Writable)
}

// advises reports whether c's retransmissions give advice: data or a FIN,
// and an active OPEN's SYN (the peer or the path may be gone). An
// embryonic connection of a listener does not: its SYN,ACK retries are
// bounded by SynAckRetries, and spoofed SYNs must not make the stack
// re-probe its neighbours.
func advises(c *Conn) bool {
	return sendsData(c.state) || c.state == StateSynSent || (c.state == StateSynReceived && !c.passive)
}

// Retrying reports whether the connection has retransmitted one segment
// at least R1 times without progress (RFC 9293 §3.8.3, SHLD-9): the path
// may be broken, though R2 has not yet closed the connection. It clears on
// the next acknowledgment of new data, or an answer to a zero-window probe
// (MUST-37: the peer is there, its window closed).
func (c *Conn) Retrying() bool { return c.snd.retrying }
