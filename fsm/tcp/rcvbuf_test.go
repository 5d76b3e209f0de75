package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestRcvBufGrowsOnDemand drives a receive ring whose capacity is far larger
// than its first ring with in-order and early writes at random offsets and
// random reads: every octet read is the octet written at its place, and the
// ring grows only to hold what was written (doubling, within the capacity).
func TestRcvBufGrowsOnDemand(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		pool := &bufPool{max: 4, maxRing: 4 << 10}
		b := &rcvBuf{pool: pool, size: 1 << 20}
		stream := make([]byte, 8<<20)
		for i := range stream {
			stream[i] = byte(rng.Uint32())
		}
		pos, written, got := 0, 0, []byte(nil) // pos: stream offset of the first unread octet
		for pos < len(stream)-(1<<20) {
			// Write in order, sometimes with an early chunk far ahead first.
			if rng.IntN(4) == 0 {
				off := b.unread + rng.IntN(b.size-b.unread-1500)
				b.writeAt(off, stream[pos+off:pos+off+min(1500, b.size-off)])
				if len(b.buf) < off {
					t.Fatalf("seed %d: ring %d after a write at %d", seed, len(b.buf), off)
				}
			}
			n := min(rng.IntN(64<<10)+1, b.size-b.unread)
			b.writeAt(b.unread, stream[pos+b.unread:pos+b.unread+n])
			b.unread += n
			written += n
			buf := make([]byte, rng.IntN(96<<10)+1)
			k := b.read(buf)
			got = append(got, buf[:k]...)
			pos += k
			if len(b.buf) > b.size {
				t.Fatalf("seed %d: ring %d past capacity %d", seed, len(b.buf), b.size)
			}
		}
		if !bytes.Equal(got, stream[:len(got)]) {
			t.Fatalf("seed %d: read octets differ from the stream", seed)
		}
	}
	// Only in-order data a reader drains at once: the ring stays at the pool size.
	pool := &bufPool{max: 4, maxRing: 4 << 10}
	b := &rcvBuf{pool: pool, size: 1 << 20}
	p, q := make([]byte, 1000), make([]byte, 1000)
	for range 1000 {
		b.writeAt(b.unread, p)
		b.unread += len(p)
		b.read(q)
	}
	if len(b.buf) != 4<<10 {
		t.Errorf("drained ring grew to %d, want the pool's %d", len(b.buf), 4<<10)
	}
}
