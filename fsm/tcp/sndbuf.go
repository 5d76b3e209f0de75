package tcp

// sndBuf is the send buffer: a ring holding the octets from SND.UNA's first
// data octet onward, sent and unsent alike (RFC 9293 §3.3.1, Figure 4). The
// ring is taken from the layer's pool on the first write and given back once
// every octet is acknowledged (bufpool.go), so an idle connection costs no
// buffer memory.
type sndBuf struct {
	pool  *bufPool // where the ring comes from (the layer's)
	buf   []byte
	size  int // ring capacity (allocated on the first write)
	limit int // octets the buffer accepts (<= size; SO_SNDBUF)
	head  int // ring index of the oldest octet
	n     int // octets held
}

// free returns how many octets a write can accept.
func (b *sndBuf) free() int { return max(b.limit-b.n, 0) }

// write appends as much of p as fits and returns the count.
func (b *sndBuf) write(p []byte) int {
	if b.buf == nil && len(p) > 0 && b.size > 0 {
		b.buf = b.pool.get(b.size)
	}
	w := min(len(p), b.free())
	if w == 0 {
		return 0
	}
	tail := (b.head + b.n) % b.size
	c := copy(b.buf[tail:], p[:w])
	copy(b.buf, p[c:w])
	b.n += w
	return w
}

// peek returns the n octets starting off octets after the head as at most two
// slices of the ring (the second non-empty only when the range wraps).
func (b *sndBuf) peek(off, n int) ([]byte, []byte) {
	if n <= 0 {
		return nil, nil
	}
	start := (b.head + off) % b.size
	if start+n <= b.size {
		return b.buf[start : start+n], nil
	}
	return b.buf[start:], b.buf[:n-(b.size-start)]
}

// discard drops the n oldest octets (they were acknowledged).
func (b *sndBuf) discard(n int) {
	n = min(n, b.n)
	b.n -= n
	if b.n == 0 {
		b.head = 0
		return
	}
	b.head = (b.head + n) % b.size
}

// reset empties the buffer (RFC 9293 "flush queues").
func (b *sndBuf) reset() { b.head, b.n = 0, 0 }
