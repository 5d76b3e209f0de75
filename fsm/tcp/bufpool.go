package tcp

// pool recycles the arrays a connection holds only while data moves: the
// send and receive rings (bufPool) and RACK's transmit records (txq.go). A
// connection takes an array when data is written or arrives and gives it back
// as soon as it holds nothing (giveBackBuffers), so an idle connection holds
// none: a keep-alive connection between requests costs its TCB only, as a
// kernel socket costs no buffer memory once its queues are empty.
//
// A ring is 64 KiB by default and Go zeroes every new one: at a few thousand
// short connections a second (HTTP with Connection: close) allocating and
// clearing them was most of the stack's CPU. A recycled array is not
// cleared: the rings only ever read octets written since (sndBuf holds
// [head, head+n), rcvBuf reads in-order octets and tracks early ones by
// range), and the transmit records only records pushed since.
type pool[T any] struct {
	free     [][]T
	max      int // most arrays kept
	maxRing  int // the initial size: larger (auto-tuned) arrays are kept only within maxGrown
	maxGrown int // most elements kept in arrays larger than maxRing
	grown    int // elements kept in arrays larger than maxRing
	lent     int // arrays handed out by get and not yet given back by put (Layer.Quiescent)
}

// bufPool is the pool of send or receive rings.
type bufPool = pool[byte]

// maxPooledRings bounds each pool (64 x 64 KiB = 4 MiB of initial-sized
// rings with the defaults); maxPooledGrown bounds the octets each keeps in
// auto-tuned rings, so a connection whose grown ring drained takes it back
// on its next data instead of allocating (and zeroing) a new one.
const (
	maxPooledRings = 64
	maxPooledGrown = 8 << 20
)

// get returns an array of n elements: the smallest free one of at least n
// (a recycled array keeps its capacity), else a new one.
func (p *pool[T]) get(n int) []T {
	p.lent++
	best := -1
	for k := len(p.free) - 1; k >= 0; k-- {
		if c := cap(p.free[k]); c >= n && (best < 0 || c < cap(p.free[best])) {
			best = k
			if c == n {
				break
			}
		}
	}
	if best < 0 {
		return make([]T, n)
	}
	return p.take(best)[:n]
}

// getUpTo returns an array of at least n elements, preferring the largest
// free one of at most want (n <= want): the size a connection grew to
// before, when the pool kept it; else the smallest that fits, else a new one.
func (p *pool[T]) getUpTo(n, want int) []T {
	best := -1
	for k, b := range p.free {
		if c := cap(b); c >= n && c <= want && (best < 0 || c > cap(p.free[best])) {
			best = k
			if c == want {
				break
			}
		}
	}
	if best < 0 {
		return p.get(n)
	}
	p.lent++
	return p.take(best)[:n]
}

// take removes free array k from the pool and returns it whole.
func (p *pool[T]) take(k int) []T {
	b := p.free[k]
	last := len(p.free) - 1
	p.free[k] = p.free[last]
	p.free[last] = nil
	p.free = p.free[:last]
	if cap(b) > p.maxRing {
		p.grown -= cap(b)
	}
	return b
}

// Octets of one element of the pooled arrays (checked by a test; fsm/
// imports no unsafe).
const (
	txSegSize    = 48
	seqRangeSize = 8
)

// bytes returns the octets the free arrays occupy, elem octets an element.
func (p *pool[T]) bytes(elem int) int {
	n := 0
	for _, b := range p.free {
		n += cap(b)
	}
	return n * elem
}

// ringLen is the capacity to ask get for when n elements are needed beyond
// the initial size: the initial size doubled until it holds n, so the arrays
// auto-tuning grows through come in few sizes and a pooled one fits again.
func (p *pool[T]) ringLen(n int) int {
	if p.maxRing <= 0 || n <= p.maxRing {
		return n
	}
	c := p.maxRing
	for c < n {
		c *= 2
	}
	return c
}

// put takes back an array get handed out and keeps it for reuse, unless the
// pool is full (then it is left to the GC). A grown array that does not fit
// in maxGrown evicts smaller grown ones: the rings auto-tuning passed
// through on its way up are worth less than the one it arrived at, which a
// bulk connection whose ring drained takes again on its next write.
func (p *pool[T]) put(b []T) {
	if b == nil {
		return
	}
	p.lent--
	c := cap(b)
	if c > p.maxRing {
		for p.grown+c > p.maxGrown && p.evictSmaller(c, true) {
		}
		if p.grown+c > p.maxGrown {
			return
		}
		if len(p.free) >= p.max && !p.evictSmaller(c, false) {
			return
		}
		p.grown += c
	} else if len(p.free) >= p.max {
		return
	}
	p.free = append(p.free, b[:c])
}

// evictSmaller drops the smallest free array smaller than c (only a grown
// one, with grown) and reports whether there was one. A pool full of
// initial-size rings after many short connections still takes a bulk
// connection's grown ring: it evicts one of them.
func (p *pool[T]) evictSmaller(c int, grown bool) bool {
	k := -1
	for i, b := range p.free {
		if n := cap(b); (n > p.maxRing || !grown) && n < c && (k < 0 || n < cap(p.free[k])) {
			k = i
		}
	}
	if k < 0 {
		return false
	}
	p.take(k)
	return true
}

// giveBackBuffers returns the connection's rings to the layer's pools when
// they hold nothing anybody can still read: the send ring when empty or the
// connection is CLOSED (nothing will ever be sent again), the receive ring
// when no unread or early data is left in it. A CLOSED connection its user
// closed gives back both (dropBuffers). Layer.finish calls it at the end of
// every event, so a ring is held only while data moves.
func (c *Conn) giveBackBuffers() { c.giveBack(c.state == StateClosed) }

// giveBack is giveBackBuffers for a connection that is (closed) or is not
// CLOSED: Release gives back as for CLOSED before the state changes.
func (c *Conn) giveBack(closed bool) {
	if closed && c.userClosed {
		c.dropBuffers()
		return
	}
	c.snd.rec.sb.release(&c.l.oooPool) // the SACK scoreboard, once empty (sack.go)
	if c.snd.txq.n() == 0 || closed {
		c.snd.txq.release(&c.l.txPool) // RACK's transmit records (txq.go): nothing in flight
	}
	if c.snd.txq.n() == 0 && c.snd.buf.n == 0 || closed {
		c.snd.releaseBBR()
	}
	if b := &c.snd.buf; b.buf != nil && (b.n == 0 || closed) {
		c.l.sndPool.put(b.buf)
		b.buf = nil
		b.reset()
	}
	if b := &c.rcv.buf; b.buf != nil && b.unread == 0 && len(b.ooo) == 0 {
		c.l.rcvPool.put(b.buf)
		b.buf = nil
		b.reset()
	}
	if b := &c.rcv.buf; b.ooo != nil && len(b.ooo) == 0 {
		c.l.oooPool.put(b.ooo)
		b.ooo = nil
	}
}

// dropBuffers flushes both queues and gives the rings back, whatever they
// hold: for a CLOSED connection nobody can read any more (its user closed
// or aborted it: RFC 9293 §3.10.4-5, the queues are flushed).
func (c *Conn) dropBuffers() {
	c.snd.rec.sb.reset()
	c.snd.rec.sb.release(&c.l.oooPool)
	c.snd.txq.release(&c.l.txPool)
	c.snd.releaseBBR()
	if b := &c.snd.buf; b.buf != nil {
		c.l.sndPool.put(b.buf)
		b.buf = nil
	}
	c.snd.buf.reset()
	if b := &c.rcv.buf; b.buf != nil {
		c.l.rcvPool.put(b.buf)
		b.buf = nil
	}
	c.rcv.buf.reset()
	c.l.oooPool.put(c.rcv.buf.ooo)
	c.rcv.buf.ooo = nil
}

// releaseBBR gives the connection's BBR model back to the layer once
// nothing is in flight or queued, unless the pacing timer runs: an idle
// keep-alive connection then holds no model (272 octets, a quarter of its
// TCB), as it holds no ring. The next flight starts a fresh model from
// STARTUP, as a new connection does, with the window it had (BBR's STARTUP
// only raises it) and the smoothed RTT for its first pacing rate; Linux
// keeps the model across idle and restarts at BtlBw instead (bbr's
// idle_restart). The layer keeps at most maxPooledRings free models.
func (snd *sender) releaseBBR() {
	b := snd.bbr
	if b == nil || !b.paceWake.IsZero() {
		return
	}
	snd.bbr = nil
	*b = bbrState{}
	if l := snd.c.l; len(l.bbrFree) < maxPooledRings {
		l.bbrFree = append(l.bbrFree, b)
	}
}
