package ip

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// frag builds one fragment of datagram id carrying payload[off:end].
func frag(id uint16, payload []byte, off, end int, proto uint8) []byte {
	h := wire.IPv4Header{TotalLen: 20 + end - off, ID: id, TTL: 64, Protocol: proto, Src: peer, Dst: us,
		FragOffset: off, MoreFragments: end < len(payload)}
	b := make([]byte, 20+end-off)
	h.Put(b)
	copy(b[20:], payload[off:end])
	return b
}

// fragments splits payload into fragments of size bytes (a multiple of 8).
func fragments(id uint16, payload []byte, size int) [][]byte {
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		out = append(out, frag(id, payload, off, min(off+size, len(payload)), wire.ProtoUDP))
	}
	return out
}

func payloadOf(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// feed gives frags to r in order and returns the datagram if one completed
// (copied, since its payload is valid only until the next call).
func feed(t *testing.T, r *Receiver, now time.Time, frags [][]byte) (Datagram, int) {
	t.Helper()
	var got Datagram
	n := 0
	for _, f := range frags {
		var d Datagram
		if r.Receive(now, f, &d) {
			n++
			got = d
			got.Payload = append([]byte(nil), d.Payload...)
			got.Header = append([]byte(nil), d.Header...)
		}
	}
	return got, n
}

func TestReassemblyPermutations(t *testing.T) {
	pl := payloadOf(40, 1)
	frags := fragments(1, pl, 8) // 5 fragments
	perm := []int{0, 1, 2, 3, 4}
	count := 0
	var permute func(k int)
	permute = func(k int) {
		if k == len(perm) {
			count++
			r, _ := newRx(t, Config{})
			ordered := make([][]byte, len(perm))
			for i, p := range perm {
				ordered[i] = frags[p]
			}
			d, n := feed(t, r, t0, ordered)
			if n != 1 || !bytes.Equal(d.Payload, pl) || d.Proto != wire.ProtoUDP || d.Src != peer {
				t.Fatalf("order %v: %d datagrams, %+v", perm, n, d)
			}
			if !bytes.Equal(d.Header, frags[0][:20]) {
				t.Fatalf("order %v: header is not fragment 0's", perm)
			}
			r.Poll(t0, nil) // releases the delivered datagram
			if r.HeldBytes() != 0 || r.Reassemblies() != 0 {
				t.Fatalf("order %v: %d bytes, %d slots held after release", perm, r.HeldBytes(), r.Reassemblies())
			}
			return
		}
		for i := k; i < len(perm); i++ {
			perm[k], perm[i] = perm[i], perm[k]
			permute(k + 1)
			perm[k], perm[i] = perm[i], perm[k]
		}
	}
	permute(0)
	if count != 120 {
		t.Fatalf("%d permutations", count)
	}
}

func TestReassemblyDuplicates(t *testing.T) {
	pl := payloadOf(24, 2)
	f := fragments(2, pl, 8)
	r, _ := newRx(t, Config{})
	d, n := feed(t, r, t0, [][]byte{f[1], f[1], f[0], f[1], f[2]})
	if n != 1 || !bytes.Equal(d.Payload, pl) {
		t.Fatalf("%d datagrams, %x", n, d.Payload)
	}
	if c := r.Counters(); c.Frag[FragDropDuplicate] != 2 || c.Reassembled != 1 || c.Fragments != 5 {
		t.Fatalf("counters %+v", c)
	}
}

func TestReassemblyOverlapPoisons(t *testing.T) {
	pl := payloadOf(32, 3)
	f := fragments(3, pl, 16)
	// A fragment overlapping the first with different bytes.
	evil := append([]byte(nil), pl...)
	evil[10] ^= 0xff
	bad := frag(3, evil, 8, 24, wire.ProtoUDP)
	r, _ := newRx(t, Config{})
	_, n := feed(t, r, t0, [][]byte{f[0], bad, f[1]})
	if n != 0 {
		t.Fatal("poisoned datagram delivered")
	}
	c := r.Counters()
	if c.Frag[FragDropOverlap] != 1 || c.Frag[FragDropPoisoned] != 1 || r.HeldBytes() != 0 {
		t.Fatalf("counters %+v held %d", c, r.HeldBytes())
	}
	// The slot stays poisoned until the timeout, then the key is usable again.
	if r.NextDeadline() != t0.Add(DefaultReassemblyTimeout) {
		t.Fatalf("deadline %v", r.NextDeadline())
	}
	called := false
	r.Poll(t0.Add(DefaultReassemblyTimeout), func([]byte) { called = true })
	if called || r.Reassemblies() != 0 || !r.NextDeadline().IsZero() {
		t.Fatal("poisoned slot not freed silently")
	}
	if d, n := feed(t, r, t0.Add(time.Minute), f); n != 1 || !bytes.Equal(d.Payload, pl) {
		t.Fatal("key unusable after poisoning expired")
	}
}

func TestReassemblyConflictingEnd(t *testing.T) {
	pl := payloadOf(32, 4)
	f := fragments(4, pl, 16)
	short := frag(4, pl[:24], 16, 24, wire.ProtoUDP) // claims the datagram ends at 24
	r, _ := newRx(t, Config{})
	if _, n := feed(t, r, t0, [][]byte{f[1], short}); n != 0 || r.LastFragDrop() != FragDropOverlap {
		t.Fatalf("conflicting last fragment: %v", r.LastFragDrop())
	}
}

func TestReassemblyTimeout(t *testing.T) {
	pl := payloadOf(24, 5)
	f := fragments(5, pl, 8)
	for _, tc := range []struct {
		name      string
		held      [][]byte
		wantQuote bool
	}{
		{"fragment 0 held", [][]byte{f[0], f[2]}, true},
		{"fragment 0 missing", [][]byte{f[1], f[2]}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newRx(t, Config{ReassemblyTimeout: 10 * time.Second})
			feed(t, r, t0, tc.held)
			if r.NextDeadline() != t0.Add(10*time.Second) {
				t.Fatalf("deadline %v", r.NextDeadline())
			}
			var quotes [][]byte
			cb := func(b []byte) { quotes = append(quotes, append([]byte(nil), b...)) }
			r.Poll(t0.Add(10*time.Second-1), cb)
			if len(quotes) != 0 || r.Reassemblies() != 1 {
				t.Fatal("expired early")
			}
			r.Poll(t0.Add(10*time.Second), cb)
			if r.Reassemblies() != 0 || r.HeldBytes() != 0 || r.Counters().Frag[FragDropTimeout] != 1 {
				t.Fatalf("not expired: %d slots %d bytes", r.Reassemblies(), r.HeldBytes())
			}
			if tc.wantQuote {
				if len(quotes) != 1 || !bytes.Equal(quotes[0], f[0][:28]) {
					t.Fatalf("quotes %x, want header + 8 bytes of fragment 0", quotes)
				}
			} else if len(quotes) != 0 {
				t.Fatal("time exceeded without fragment 0")
			}
		})
	}
}

func TestReassemblyLimits(t *testing.T) {
	t.Run("malformed", func(t *testing.T) {
		pl := payloadOf(20, 6)
		r, _ := newRx(t, Config{})
		feed(t, r, t0, [][]byte{frag(6, pl, 0, 12, wire.ProtoUDP)}) // MF with 12 bytes
		if r.LastFragDrop() != FragDropMalformed || r.Reassemblies() != 0 {
			t.Fatalf("%v", r.LastFragDrop())
		}
	})
	t.Run("too big", func(t *testing.T) {
		pl := payloadOf(2000, 7)
		r, _ := newRx(t, Config{MaxDatagram: 1500})
		feed(t, r, t0, [][]byte{frag(7, pl, 1480, 2000, wire.ProtoUDP)})
		if r.LastFragDrop() != FragDropTooBig || r.Reassemblies() != 0 {
			t.Fatalf("%v", r.LastFragDrop())
		}
	})
	t.Run("too many fragments", func(t *testing.T) {
		pl := payloadOf(64, 8)
		f := fragments(8, pl, 8)
		r, _ := newRx(t, Config{MaxFragments: 4})
		if _, n := feed(t, r, t0, f); n != 0 {
			t.Fatal("delivered past MaxFragments")
		}
		if c := r.Counters(); c.Frag[FragDropTooMany] != 1 || c.Frag[FragDropPoisoned] != 3 || r.HeldBytes() != 0 {
			t.Fatalf("counters %+v", c)
		}
	})
	t.Run("table full evicts oldest", func(t *testing.T) {
		r, _ := newRx(t, Config{MaxReassemblies: 2})
		pl := payloadOf(16, 9)
		for i := range 3 {
			feed(t, r, t0.Add(time.Duration(i)*time.Second), [][]byte{frag(uint16(100+i), pl, 0, 8, wire.ProtoUDP)})
		}
		if r.Reassemblies() != 2 || r.Counters().Frag[FragDropEvicted] != 1 {
			t.Fatalf("%d slots, counters %+v", r.Reassemblies(), r.Counters())
		}
		// The oldest (id 100) went: its second half starts a fresh reassembly.
		if _, n := feed(t, r, t0, [][]byte{frag(100, pl, 8, 16, wire.ProtoUDP)}); n != 0 {
			t.Fatal("evicted datagram completed")
		}
		if _, n := feed(t, r, t0, [][]byte{frag(102, pl, 8, 16, wire.ProtoUDP)}); n != 1 {
			t.Fatal("newest datagram lost")
		}
	})
	t.Run("memory high and low", func(t *testing.T) {
		r, _ := newRx(t, Config{MemHigh: 64, MemLow: 32})
		pl := payloadOf(48, 10)
		for i := range 4 { // 4 x 16 bytes held = 64
			feed(t, r, t0.Add(time.Duration(i)), [][]byte{frag(uint16(200+i), pl, 0, 16, wire.ProtoUDP)})
		}
		if r.HeldBytes() != 64 {
			t.Fatalf("held %d", r.HeldBytes())
		}
		// A new datagram's 16 bytes pass MemHigh: evict oldest until <= MemLow.
		feed(t, r, t0.Add(time.Second), [][]byte{frag(300, pl, 0, 16, wire.ProtoUDP)})
		if r.HeldBytes() > 64 || r.Counters().Frag[FragDropEvicted] != 3 || r.Reassemblies() != 2 {
			t.Fatalf("held %d, slots %d, counters %+v", r.HeldBytes(), r.Reassemblies(), r.Counters())
		}
		// A single datagram larger than MemHigh can never be held.
		big := payloadOf(200, 11)
		feed(t, r, t0, [][]byte{frag(400, big, 0, 96, wire.ProtoUDP)})
		if r.LastFragDrop() != FragDropNoRoom || r.HeldBytes() > 64 {
			t.Fatalf("%v held %d", r.LastFragDrop(), r.HeldBytes())
		}
	})
}

func TestReassembledUnknownProtocolQuotesFirstFragment(t *testing.T) {
	pl := payloadOf(24, 12)
	f := [][]byte{frag(12, pl, 8, 24, 99), frag(12, pl, 0, 8, 99)}
	r, calls := newRx(t, Config{})
	feed(t, r, t0, [][]byte{f[1], f[0]})
	if r.LastDrop() != RxDropUnknownProtocol || len(*calls) != 1 || !bytes.Equal((*calls)[0].orig, f[1][:28]) {
		t.Fatalf("drop %v calls %+v", r.LastDrop(), *calls)
	}
}

// Steady-state reassembly reuses slot buffers: no allocation per fragment.
func TestReassemblyDoesNotAllocate(t *testing.T) {
	r, _ := newRx(t, Config{})
	r.SetTrace(nil)
	pl := payloadOf(4000, 13)
	f := fragments(13, pl, 1480)
	var d Datagram
	run := func() {
		for _, x := range f {
			r.Receive(t0, x, &d)
		}
	}
	run() // warm the slot's buffers
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Fatalf("%v allocations per datagram", n)
	}
}
