package tcp

import (
	"bytes"
	"testing"
	"unsafe"
)

// TestBufPoolRecyclesRings: the receive ring of a connection that ended goes
// back to the layer's pool, the next connection takes it instead of a new
// (zeroed) one, and reads exactly its own octets — never the previous
// connection's.
func TestBufPoolRecyclesRings(t *testing.T) {
	r := newRig(t, Config{}, 300, 900)
	r.establishedPassive(100, 300)
	old := bytes.Repeat([]byte("previous connection "), 50)
	r.send(seg{flags: ACK, seq: 101, ack: 301, data: old})
	buf := make([]byte, 4096)
	if n, err := r.c.Recv(r.now, buf); n != len(old) || err != nil {
		t.Fatalf("Recv = %d, %v", n, err)
	}
	first := r.c
	if err := first.Abort(r.now); err != nil {
		t.Fatal(err)
	}
	if len(r.l.rcvPool.free) != 1 {
		t.Fatalf("%d receive rings pooled after the connection ended, want 1", len(r.l.rcvPool.free))
	}
	pooled := &r.l.rcvPool.free[0][0]

	r.o.segs = r.o.segs[:0]
	r.c = nil
	r.pport++
	r.send(seg{flags: SYN, seq: 5000})
	r.recv(seg{flags: SYN | ACK, seq: 900, ack: 5001})
	r.send(seg{flags: ACK, seq: 5001, ack: 901})
	c, err := r.ln.Accept(r.now)
	if err != nil {
		t.Fatal(err)
	}
	fresh := []byte("new")
	r.send(seg{flags: ACK, seq: 5001, ack: 901, data: fresh})
	if c.rcv.buf.buf == nil || &c.rcv.buf.buf[0] != pooled || len(r.l.rcvPool.free) != 0 {
		t.Fatal("the second connection did not reuse the pooled ring")
	}
	n, err := c.Recv(r.now, buf)
	if err != nil || !bytes.Equal(buf[:n], fresh) {
		t.Fatalf("second connection read %q, %v; want %q", buf[:n], err, fresh)
	}
}

// TestPoolKeepsLargestGrown: the pool keeps grown arrays within maxGrown,
// evicting smaller grown ones for a larger one (the size auto-tuning
// arrived at), never initial-sized ones; get picks the smallest that fits
// and counts every array lent.
func TestPoolKeepsLargestGrown(t *testing.T) {
	p := &pool[byte]{max: 8, maxRing: 1 << 10, maxGrown: 6 << 10}
	var lent [][]byte
	for _, n := range []int{1 << 10, 2 << 10, 4 << 10, 1 << 10} {
		lent = append(lent, p.get(n))
	}
	for _, b := range lent {
		p.put(b)
	}
	if p.grown != 6<<10 || len(p.free) != 4 || p.lent != 0 {
		t.Fatalf("kept %d arrays, %d grown octets, %d lent; want 4, 6 KiB, 0", len(p.free), p.grown, p.lent)
	}
	big := p.get(5 << 10) // nothing fits: a new one
	if cap(big) != 5<<10 || p.lent != 1 {
		t.Fatalf("get(5 KiB) = cap %d, lent %d", cap(big), p.lent)
	}
	p.put(big) // evicts the 2 KiB and the 4 KiB arrays to fit
	if p.grown != 5<<10 || len(p.free) != 3 {
		t.Fatalf("after a larger grown array: %d arrays, %d grown octets; want 3, 5 KiB", len(p.free), p.grown)
	}
	if b := p.get(1500); cap(b) != 5<<10 {
		t.Fatalf("get(1500) took cap %d, want the 5 KiB array (the smallest that fits)", cap(b))
	}
	if b := p.get(100); cap(b) != 1<<10 {
		t.Fatalf("get(100) took cap %d, want an initial 1 KiB array", cap(b))
	}
	if p.grown != 0 || p.lent != 2 {
		t.Fatalf("grown %d, lent %d after taking them", p.grown, p.lent)
	}
}

// TestPoolFullOfInitialTakesGrown: a pool that many short connections
// filled with initial-size rings still keeps a bulk connection's grown ring
// (it evicts an initial one), so the bulk connection takes it back on its
// next burst instead of allocating a new one.
func TestPoolFullOfInitialTakesGrown(t *testing.T) {
	p := &pool[byte]{max: 4, maxRing: 1 << 10, maxGrown: 64 << 10}
	var lent [][]byte
	for range 5 {
		lent = append(lent, p.get(1<<10))
	}
	big := p.get(32 << 10)
	for _, b := range lent {
		p.put(b)
	}
	if len(p.free) != 4 {
		t.Fatalf("%d initial rings kept, want the bound 4", len(p.free))
	}
	p.put(big)
	if len(p.free) != 4 || p.grown != 32<<10 || p.lent != 0 {
		t.Fatalf("after the grown ring: %d kept, %d grown octets, %d lent; want 4, 32 KiB, 0", len(p.free), p.grown, p.lent)
	}
	if b := p.getUpTo(1<<10, 64<<10); cap(b) != 32<<10 {
		t.Fatalf("the bulk connection took back cap %d, want its 32 KiB ring", cap(b))
	}
}

// TestPoolBytes: Counters.PoolBytes is the octets of the arrays the pools
// keep, at the true size of their elements.
func TestPoolBytes(t *testing.T) {
	if txSegSize != unsafe.Sizeof(txSeg{}) || seqRangeSize != unsafe.Sizeof(seqRange{}) {
		t.Fatalf("element sizes %d, %d; want %d, %d", txSegSize, seqRangeSize, unsafe.Sizeof(txSeg{}), unsafe.Sizeof(seqRange{}))
	}
	var p pool[txSeg]
	p.max, p.maxRing = 4, 16
	a, b := p.get(16), p.get(8)
	p.put(a)
	p.put(b[:0])
	if got, want := p.bytes(txSegSize), (16+8)*txSegSize; got != want {
		t.Fatalf("bytes = %d, want %d", got, want)
	}
}
