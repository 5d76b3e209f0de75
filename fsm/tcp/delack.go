package tcp

import "time"

// delayAck accounts for n in-order octets just received and decides when
// they are acknowledged (RFC 9293 §3.8.6.3, RFC 5681 §4.2): at once when at
// least two full-sized segments are unacknowledged (SHLD-19), else within
// Config.DelayedACK (SHLD-18; under 0.5 s, MUST-40) unless data or another
// ACK carries it first. piece is the largest segment the octets came in
// (n, unless several were coalesced: gro.go), from which the peer's
// segment size is learnt.
func (rcv *receiver) delayAck(now time.Time, n, piece int) {
	c := rcv.c
	rcv.mss = max(rcv.mss, int32(min(piece, int(c.l.cfg.MSS))))
	rcv.unacked += int32(min(n, 1<<30))
	if c.l.cfg.DelayedACK < 0 || rcv.unacked >= 2*rcv.mss {
		rcv.ackNow = true
		return
	}
	if rcv.delackAt.IsZero() {
		rcv.delackAt = c.l.tick(now).Add(c.l.cfg.DelayedACK)
	}
}

// ackSent records that a segment carrying our current ACK went out: any
// delayed ACK is satisfied.
func (rcv *receiver) ackSent() {
	rcv.ackNow = false
	rcv.unacked = 0
	rcv.delackAt = 0
}

// readAck decides whether a read that raised the offered window from
// before owes an ACK, as Linux's tcp_cleanup_rbuf: when more than one
// full-sized segment is unacknowledged, or as a window update when the
// window still open to the peer is at most half the buffer and the new one
// at least twice it. Not after the peer's FIN: it sends nothing more, and
// in TIME-WAIT a peer already gone would answer with a RST. An ACK for
// every read that frees a segment's room (the receiver SWS threshold of
// RFC 9293 §3.8.6.2.2, which still decides when the edge moves) is an ACK
// per segment for a reader that keeps up.
func (rcv *receiver) readAck(before int) {
	if rcv.finRcvd {
		return
	}
	if rcv.unacked > rcv.mss {
		rcv.ackNow = true
		return
	}
	open, after := int(rcv.wnd()), rcv.offer()
	if 2*open <= rcv.limit && after >= 2*open && before < after && after-open >= min(rcv.limit/2, int(rcv.c.l.cfg.MSS)) {
		rcv.ackNow = true
	}
}

// ackBatch holds the pure ACKs owed while the layer processes a batch of
// received segments (BeginBatch .. EndBatch).
type ackBatch struct {
	on   bool
	owed []*Conn // connections whose ACK waits for EndBatch (a connection may repeat); at most maxBatchACKs
}

// maxBatchACKs bounds ackBatch.owed.
const maxBatchACKs = 1024

// maxStretch is the most in-order data one held ACK may cover: a batch
// acknowledges at least every 64 KiB, as Linux acknowledges each GRO
// super-packet (at most 64 KiB).
const maxStretch = 64 << 10

// BeginBatch starts a batch of Input calls (the frames of one read from
// the link). Until EndBatch, a pure ACK a segment owes is held, so the
// segments of one connection in the batch are acknowledged once, at its
// end, by one cumulative ACK, as Linux does for the segments GRO merges;
// data sent meanwhile carries the ACK anyway. The ACK of two or more
// full-sized segments (RFC 9293 §3.8.6.3 SHLD-19, RFC 5681 §4.2) leaves at
// the batch's end, within the same wake-up, not later, or at once when it
// covers 64 KiB (maxStretch). Config.NoACKCoalescing
// turns it off. Every BeginBatch must be followed by EndBatch.
func (l *Layer) BeginBatch() {
	if !l.cfg.NoACKCoalescing {
		l.batch.on = true
	}
}

// EndBatch ends a batch of Input calls at now: the segment held for
// coalescing is processed (gro.go), then the ACKs held go out.
func (l *Layer) EndBatch(now time.Time) {
	l.groFlush()
	b := &l.batch
	b.on = false
	for i, c := range b.owed {
		b.owed[i] = nil
		if c.idx >= 0 && c.rcv.ackNow {
			l.finish(c, now)
		}
	}
	b.owed = b.owed[:0]
}

// holdAck reports whether c's pure ACK waits for the end of the batch, and
// if so, records c.
func (l *Layer) holdAck(c *Conn) bool {
	b := &l.batch
	if !b.on || c.idx < 0 || len(b.owed) >= maxBatchACKs || c.rcv.unacked >= maxStretch {
		return false
	}
	if n := len(b.owed); n == 0 || b.owed[n-1] != c {
		b.owed = append(b.owed, c)
	}
	return true
}
