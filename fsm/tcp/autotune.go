package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
)

// Buffer auto-tuning. A connection starts with Config.RecvBuf and
// Config.SendBuf and grows them while the application keeps up, as Linux's
// dynamic right-sizing does:
//
//   - Receive (tcp_rcv_space_adjust): once per receiver round trip, the
//     octets the application read in it ("copied") are compared with the
//     most read in any earlier round trip; when they grew, the buffer becomes
//     2*copied + 16*MSS, plus twice the same proportional growth again (the
//     sender's window doubles each round trip in slow start), at most
//     Config.RecvBufMax. A reader that reads less than ~10 segments per round
//     trip never grows its buffer. The advertised window follows the larger
//     buffer at the next window update; the window scale was chosen in our
//     SYN for RecvBufMax, and the right edge never moves left (SHLD-14).
//   - The receiver's round trip (tcp_rcv_rtt_measure): from the timestamp
//     the peer echoes on a full-sized segment (RFC 7323 §4.1; smoothed 1/8),
//     or else the time RCV.NXT takes to cross the window advertised when the
//     sample began (kept at the minimum seen).
//   - Send (tcp_sndbuf_expand): when the application found the send buffer
//     full and an ACK then frees room, the buffer grows to twice the
//     congestion window (at least 20 segments), at most Config.SendBufMax. An
//     application that never fills its buffer never grows it.
//
// Growth raises a buffer's capacity; the receive ring itself grows (by
// doubling, copying into a larger one) only when data must be stored past
// it, so a reader that keeps up holds a small ring behind a large window.
// A drained ring, grown or not, goes back to the layer's pools (bufpool.go,
// which keep grown ones within maxPooledGrown), so an idle connection holds
// no ring whatever its buffer grew to. The ring's capacity also holds the
// buffer's headroom (output.go), so a reader a window behind still sees the
// window whole. Every
// growth is charged to the layer-wide Config.BufBudget; growth past it is
// refused and counted (Counters.BufGrowRefused). Conn.SetRecvBuffer and
// Conn.SetSendBuffer fix a connection's buffer, like SO_RCVBUF/SO_SNDBUF.

// rttMeasure takes a receiver RTT sample from an in-order data segment s
// (Linux tcp_rcv_rtt_measure_ts, tcp_rcv_rtt_measure).
func (rcv *receiver) rttMeasure(s *segment) {
	c := rcv.c
	if rcv.locked || rcv.limit >= rcv.limitMax() {
		return
	}
	if c.tsOK && s.opts.HasTimestamps && s.opts.TSEcr != 0 && s.pieceLen() >= int(rcv.mss) {
		if d := int32(c.tsClock(s.now) - s.opts.TSEcr); d >= 0 && d < 60000 {
			m := time.Duration(max(d, 1)) * time.Millisecond
			if rcv.rtt == 0 {
				rcv.rtt = m
			} else {
				rcv.rtt += (m - rcv.rtt) / 8
			}
			return
		}
	}
	nxt := c.tcb.RcvNxt
	if !rcv.rttAt.IsZero() {
		if nxt.LessThan(rcv.rttSeq) {
			return
		}
		if m := s.at.Sub(rcv.rttAt); m > 0 && (rcv.rtt == 0 || m < rcv.rtt) {
			rcv.rtt = m
		}
	}
	rcv.rttSeq = nxt.Add(seqnum.Size(max(rcv.wnd(), 1)))
	rcv.rttAt = s.at
}

// spaceAdjust runs after the user read: once per receiver round trip it
// grows the receive buffer to what the reader consumed (Linux
// tcp_rcv_space_adjust).
func (rcv *receiver) spaceAdjust(now time.Time) {
	c := rcv.c
	rtt := rcv.rtt
	if rtt == 0 && c.snd.hasRTT {
		rtt = c.snd.srtt
	}
	if rcv.locked || rtt <= 0 || rcv.limit >= rcv.limitMax() {
		return
	}
	at := c.l.tick(now)
	if rcv.spaceAt.IsZero() {
		rcv.spaceAt, rcv.spaceMark = at, rcv.copied
		return
	}
	if at.Sub(rcv.spaceAt) < rtt {
		return
	}
	copied := int(min(rcv.copied-rcv.spaceMark, 1<<40))
	rcv.spaceAt, rcv.spaceMark = at, rcv.copied
	if copied <= rcv.space {
		return
	}
	win := 2*copied + 16*int(c.l.cfg.MSS)
	if rcv.space > 0 {
		grow := min(win*(copied-rcv.space)/rcv.space, win)
		win += 2 * grow
	}
	rcv.space = copied
	if g := rcv.growLimit(win); g > 0 {
		c.l.ctr.RecvBufGrowths++
	}
}

// limitMax is the most the receive buffer may grow to: Config.RecvBufMax, and
// no more than the window field can express with our scale.
func (rcv *receiver) limitMax() int {
	c := rcv.c
	return min(c.l.cfg.RecvBufMax, 0xffff<<rcv.shift)
}

// growLimit raises the receive buffer limit toward want (at most limitMax and
// within the layer's budget) and the ring with it; it returns the growth.
func (rcv *receiver) growLimit(want int) int {
	c := rcv.c
	want = min(want, rcv.limitMax())
	if want <= rcv.limit {
		return 0
	}
	ring := rcv.ringSize(want, rcv.shift)
	if extra := ring - rcv.buf.size; extra > 0 {
		g := c.l.grantBuf(c, extra)
		if g == 0 {
			return 0
		}
		ring = rcv.buf.size + g
		want = min(want, ring-rcv.headroom(want)-1<<rcv.shift)
		rcv.buf.resize(ring)
	}
	g := want - rcv.limit
	rcv.limit = want
	return g
}

// expand grows the send buffer after an ACK freed room in a buffer the
// application had filled (Linux tcp_should_expand_sndbuf, tcp_sndbuf_expand).
func (snd *sender) expand() {
	c := snd.c
	if snd.locked || snd.buf.limit >= c.l.cfg.SendBufMax {
		return
	}
	want := min(2*max(int(snd.cc.cwnd), 10*snd.mss), c.l.cfg.SendBufMax)
	if want <= snd.buf.limit {
		return
	}
	ring := snd.buf.size
	if want > ring {
		// The ring grows to the next size class (pool.ringLen: the initial
		// size doubled), so the growths that follow it, one congestion
		// window step at a time, only raise the limit: growing the ring
		// copies every octet it holds.
		ring += c.l.grantBuf(c, snd.buf.pool.ringLen(want)-ring)
		want = min(want, ring)
	}
	if want > snd.buf.limit {
		snd.buf.setLimit(want, ring)
		c.l.ctr.SendBufGrowths++
	}
}

// grantBuf charges up to n octets of buffer growth of c to the layer's
// Config.BufBudget and returns how many it granted; a refusal, whole or in
// part, is counted. A connection that left the connection table (its
// growth was given back by releaseBuf) gets none: a Recv of the data left
// after the peer closed would otherwise charge growth nobody releases.
func (l *Layer) grantBuf(c *Conn, n int) int {
	if c.idx < 0 {
		return 0
	}
	g := max(min(n, l.cfg.BufBudget-l.bufGrown), 0)
	if g < n {
		l.ctr.BufGrowRefused++
	}
	l.bufGrown += g
	c.bufGrown += g
	return g
}

// releaseBuf returns c's buffer growth to the layer's budget (it left the
// connection table).
func (l *Layer) releaseBuf(c *Conn) {
	l.bufGrown -= c.bufGrown
	c.bufGrown = 0
}

// SetRecvBuffer fixes the connection's receive buffer at n octets and turns
// its auto-tuning off, like SO_RCVBUF (netconn's SetReadBuffer). n is
// clamped to at least one MSS and to what the window field can express; a
// larger buffer is charged to Config.BufBudget (and may get less). A smaller
// one never takes back window already advertised (RFC 9293 §3.8.6, SHLD-14):
// it only stops the right edge moving until the reader catches up.
func (c *Conn) SetRecvBuffer(now time.Time, n int) {
	c.l.now = now
	c.rcv.locked = true
	n = min(max(n, int(c.l.cfg.MSS)), 0xffff<<c.rcv.shift)
	if n > c.rcv.limit {
		c.rcv.growLimit(n)
		c.rcv.ackNow = c.rcv.ackNow || (sendsData(c.state) || c.state == StateFinWait2) && !c.rcv.finRcvd
	} else {
		c.rcv.limit = n
	}
	c.l.finish(c, now)
}

// SetSendBuffer fixes the connection's send buffer at n octets (at least one
// octet) and turns its auto-tuning off, like SO_SNDBUF (netconn's
// SetWriteBuffer). A larger buffer is charged to Config.BufBudget (and may
// get less); a smaller one keeps the octets already queued and takes new
// ones once they fit.
func (c *Conn) SetSendBuffer(now time.Time, n int) {
	c.l.now = now
	c.snd.locked = true
	n = max(n, 1)
	if n > c.snd.buf.size {
		n = c.snd.buf.size + c.l.grantBuf(c, n-c.snd.buf.size)
	}
	c.snd.buf.setLimit(n, n)
	c.l.finish(c, now)
}

// RecvBuffer returns the connection's receive buffer limit (RCV.BUFF) in
// octets and whether it is fixed (SetRecvBuffer) rather than auto-tuned.
func (c *Conn) RecvBuffer() (n int, fixed bool) { return c.rcv.limit, c.rcv.locked }

// SendBuffer returns the connection's send buffer size in octets and whether
// it is fixed (SetSendBuffer) rather than auto-tuned.
func (c *Conn) SendBuffer() (n int, fixed bool) { return c.snd.buf.limit, c.snd.locked }

// resize raises the buffer's capacity to n octets (n <= size: no-op). The
// ring itself grows only when data needs the room (rcvBuf.grow).
func (b *rcvBuf) resize(n int) {
	b.size = max(b.size, n)
}

// setLimit makes the buffer accept up to n octets in a ring of at least
// ring octets (n <= ring), growing the ring (and keeping the octets held)
// when ring exceeds it. A lower limit keeps the ring and the octets already
// held; writes wait until they fit.
func (b *sndBuf) setLimit(n, ring int) {
	if ring > b.size && b.buf != nil {
		nb := b.pool.get(ring)
		p1, p2 := b.peek(0, b.n)
		copy(nb[copy(nb, p1):], p2)
		b.pool.put(b.buf)
		b.buf, b.head = nb, 0
	}
	b.size = max(b.size, ring)
	b.limit = n
}
