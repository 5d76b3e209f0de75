package tcp

import "github.com/netspec/netspec/fsm/seqnum"

// maxOOO bounds the out-of-order ranges a connection holds (SHLD-31); a
// segment that would need another range is dropped and counted.
const maxOOO = 32

// seqRange is a half-open range [start, end) of sequence space.
type seqRange struct{ start, end seqnum.Value }

// rcvBuf is the receive buffer: a ring whose first unread octet has sequence
// number RCV.NXT - unread. In-order octets occupy [0, unread); octets that
// arrived early are written at their place beyond that and remembered as
// ranges in ooo until the hole before them fills (RFC 9293 §3.10.7.4 step 7,
// SHLD-31). Nothing is copied when a hole fills.
//
// size is the capacity the window may promise; the ring itself (buf) starts
// at the pool's ring size and grows by doubling, up to size, only when an
// octet must be stored beyond it. An auto-tuned buffer (autotune.go) whose
// reader keeps up so never allocates the window it advertises, as the
// kernel's receive queue holds only the data actually queued.
type rcvBuf struct {
	pool    *bufPool        // where the ring comes from (the layer's)
	oooPool *pool[seqRange] // where ooo's array comes from (the layer's)
	buf     []byte          // the ring; len(buf) <= size, and every held octet lies within it
	size    int             // capacity: the buffer limit plus one window-scale unit of slack
	head    int             // ring index of the first unread octet
	unread  int             // in-order octets not yet read by the user
	ooo     []seqRange      // held early ranges; its array (maxOOO) is taken on the first and given back when empty
}

// writeAt stores p at offset off from the first unread octet.
func (b *rcvBuf) writeAt(off int, p []byte) {
	if len(p) == 0 {
		return
	}
	if need := off + len(p); need > len(b.buf) {
		b.grow(need)
	}
	start := (b.head + off) % len(b.buf)
	c := copy(b.buf[start:], p)
	copy(b.buf, p[c:])
}

// writeText stores the text of s at offset off from the first unread
// octet: its pieces one after the other when it was coalesced (gro.go).
func (b *rcvBuf) writeText(off int, s *segment) {
	b.writeAt(off, s.text)
	off += len(s.text)
	for _, p := range s.more {
		b.writeAt(off, p)
		off += len(p)
	}
}

// grow makes the ring hold at least need octets from the first unread one
// (need <= size): the first ring is the largest pooled one the capacity
// allows (an auto-tuned connection whose ring drained takes back one as large
// as before, without growing through the sizes again), else the pool's
// size; later ones double, at most size. The held octets keep their offsets
// (the new ring starts at head).
func (b *rcvBuf) grow(need int) {
	if b.buf == nil {
		nb := b.pool.getUpTo(min(max(need, b.pool.maxRing), b.size), b.size)
		b.buf, b.head = nb[:min(cap(nb), b.size)], 0
		return
	}
	n := min(max(need, 2*len(b.buf)), b.size)
	nb := b.pool.get(n)
	c := copy(nb, b.buf[b.head:])
	copy(nb[c:], b.buf[:b.head])
	b.pool.put(b.buf)
	b.buf, b.head = nb, 0
}

// read moves up to len(p) in-order octets to p.
func (b *rcvBuf) read(p []byte) int {
	n := min(len(p), b.unread)
	if n == 0 {
		return 0
	}
	c := copy(p[:n], b.buf[b.head:min(b.head+n, len(b.buf))])
	copy(p[c:n], b.buf)
	b.head = (b.head + n) % len(b.buf)
	b.unread -= n
	if b.unread == 0 && len(b.ooo) == 0 {
		b.head = 0
	}
	return n
}

// addOOO records [start, end) as held, merging with neighbours; false means
// the range table is full and the octets must be dropped.
func (b *rcvBuf) addOOO(start, end seqnum.Value) bool {
	if b.ooo == nil {
		b.ooo = b.oooPool.get(maxOOO)[:0]
	}
	i := 0
	for i < len(b.ooo) && b.ooo[i].end.LessThan(start) {
		i++
	}
	// Ranges from i on end at or after start; merge every one that touches.
	j := i
	for j < len(b.ooo) && b.ooo[j].start.LessThanEq(end) {
		start = seqnum.Min(start, b.ooo[j].start)
		end = seqnum.Max(end, b.ooo[j].end)
		j++
	}
	if i == j {
		if len(b.ooo) == maxOOO {
			return false
		}
		b.ooo = b.ooo[:len(b.ooo)+1]
		copy(b.ooo[i+1:], b.ooo[i:])
	} else if j > i+1 {
		n := copy(b.ooo[i+1:], b.ooo[j:])
		b.ooo = b.ooo[:i+1+n]
	}
	b.ooo[i] = seqRange{start, end}
	return true
}

// advance pops held ranges that now touch nxt and returns the new RCV.NXT.
func (b *rcvBuf) advance(nxt seqnum.Value) seqnum.Value {
	k := 0
	for k < len(b.ooo) && b.ooo[k].start.LessThanEq(nxt) {
		if nxt.LessThan(b.ooo[k].end) {
			b.unread += int(b.ooo[k].end.Sub(nxt))
			nxt = b.ooo[k].end
		}
		k++
	}
	if k > 0 {
		n := copy(b.ooo, b.ooo[k:])
		b.ooo = b.ooo[:n]
	}
	return nxt
}

// reset discards everything (RFC 9293 "flush queues").
func (b *rcvBuf) reset() {
	b.head, b.unread = 0, 0
	b.ooo = b.ooo[:0]
}

// dropBeyondFin discards the octets held out of order once the peer's FIN is
// taken: the FIN ends the peer's stream (RFC 9293 §3.10.7.4 step 8), so no
// octet after it can ever be delivered, and a range starting at the new
// RCV.NXT would otherwise sit at the edge as if it were in order. Each range
// is counted as text after FIN. Linux's tcp_fin purges its out-of-order
// queue the same way.
func (rcv *receiver) dropBeyondFin() {
	c := rcv.c
	if len(rcv.buf.ooo) == 0 {
		return
	}
	for range rcv.buf.ooo {
		c.l.m.Drop(DropTextAfterFin)
	}
	rcv.buf.ooo = rcv.buf.ooo[:0]
	rcv.syncOOO()
}

// syncOOO recounts the octets c holds out of order and moves the layer's
// total (Config.MaxOOOBytes) by the difference: at most maxOOO ranges.
func (rcv *receiver) syncOOO() {
	c := rcv.c
	n := 0
	for _, r := range rcv.buf.ooo {
		n += int(r.end - r.start)
	}
	c.l.oooBytes += n - rcv.oooHeld
	rcv.oooHeld = n
}
