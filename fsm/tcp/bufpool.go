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
}

// maxPooledRings bounds each pool (64 x 256 KiB = 16 MiB with the defaults).
const maxPooledRings = 64

// get returns a ring of n octets, recycled when one of at least n is free.
func (p *bufPool) get(n int) []byte {
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

// put keeps b for reuse, unless the pool is full.
func (p *bufPool) put(b []byte) {
	if b == nil || len(p.free) >= p.max || (p.maxRing > 0 && cap(b) > p.maxRing) {
		return
	}
	p.free = append(p.free, b[:cap(b)])
}

// giveBackBuffers returns the connection's rings to the layer's pools when
// they hold nothing anybody can still read: the send ring when empty, the
// receive ring when no unread or early data is left in it.
func (c *Conn) giveBackBuffers() {
	if c.snd.txq.n() == 0 {
		c.snd.txq = txQueue{} // RACK's transmit records (txq.go): nothing in flight
	}
	if c.snd.buf.buf != nil && c.snd.buf.n == 0 {
		c.l.sndPool.put(c.snd.buf.buf)
		c.snd.buf.buf = nil
		c.snd.buf.head = 0
	}
	if c.rcv.buf.buf != nil && c.rcv.buf.unread == 0 && len(c.rcv.buf.ooo) == 0 {
		c.l.rcvPool.put(c.rcv.buf.buf)
		c.rcv.buf.buf = nil
		c.rcv.buf.head = 0
	}
}
