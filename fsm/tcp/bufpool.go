package tcp

// bufPool recycles the send and receive rings of connections that ended. A
// ring is 256 KiB by default and Go zeroes every new one: at a few thousand
// short connections a second (HTTP with Connection: close) allocating and
// clearing them was most of the stack's CPU. A recycled ring is not cleared:
// the rings only ever read octets written since (sndBuf holds [head, head+n),
// rcvBuf reads in-order octets and tracks early ones by range).
type bufPool struct {
	free    [][]byte
	max     int // most rings kept
	maxRing int // largest ring kept (0: any); larger ones are left to the GC
	lent    int // rings handed out by get and not yet given back by put (Layer.Quiescent)
}

// maxPooledRings bounds each pool (64 x 256 KiB = 16 MiB with the defaults).
const maxPooledRings = 64

// get returns a ring of n octets, recycled when one of at least n is free.
func (p *bufPool) get(n int) []byte {
	p.lent++
	for k := len(p.free) - 1; k >= 0; k-- {
		if b := p.free[k]; cap(b) >= n {
			p.free[k] = p.free[len(p.free)-1]
			p.free[len(p.free)-1] = nil
			p.free = p.free[:len(p.free)-1]
			return b[:n]
		}
	}
	return make([]byte, n)
}

// put takes back a ring get handed out and keeps it for reuse, unless the
// pool is full or the ring too large (then it is left to the GC).
func (p *bufPool) put(b []byte) {
	if b == nil {
		return
	}
	p.lent--
	if len(p.free) >= p.max || (p.maxRing > 0 && cap(b) > p.maxRing) {
		return
	}
	p.free = append(p.free, b[:cap(b)])
}

// giveBackBuffers returns the connection's rings to the layer's pools when
// they hold nothing anybody can still read: the send ring when empty or the
// connection is CLOSED (nothing will ever be sent again), the receive ring
// when no unread or early data is left in it. A CLOSED connection its user
// closed gives back both (dropBuffers).
func (c *Conn) giveBackBuffers() { c.giveBack(c.state == StateClosed) }

// giveBack is giveBackBuffers for a connection that is (closed) or is not
// CLOSED: Release gives back as for CLOSED before the state changes.
func (c *Conn) giveBack(closed bool) {
	if closed && c.userClosed {
		c.dropBuffers()
		return
	}
	if c.snd.txq.n() == 0 || closed {
		c.snd.txq = txQueue{} // RACK's transmit records (txq.go): nothing in flight
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
}

// dropBuffers flushes both queues and gives the rings back, whatever they
// hold: for a CLOSED connection nobody can read any more (its user closed
// or aborted it: RFC 9293 §3.10.4-5, the queues are flushed).
func (c *Conn) dropBuffers() {
	c.snd.txq = txQueue{}
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
}
