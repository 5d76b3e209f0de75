package tcp

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
)

// TestISNClock: for one 4-tuple the ISN advances with a 4 µs clock
// (RFC 9293 §3.4.1, MUST-8): M grows by elapsed/4 µs, F stays fixed.
func TestISNClock(t *testing.T) {
	l := NewLayer(Config{}, &capture{}, rand.New(rand.NewPCG(1, 2)))
	k := connKey{laddr: addrA, raddr: addrB, lport: 40000, rport: 80}
	base := l.isn(epoch, k)
	for _, d := range []time.Duration{4 * time.Microsecond, time.Millisecond, time.Second, time.Hour} {
		if got, want := l.isn(epoch.Add(d), k)-base, seqnum.Value(d/(4*time.Microsecond)); got != want {
			t.Errorf("ISN after %v advanced by %d, want %d", d, uint32(got), uint32(want))
		}
	}
	// 2^32 ticks of 4 µs: the ISN space wraps in about 4.77 hours.
	if got := l.isn(epoch.Add((1<<32)*4*time.Microsecond), k); got != base {
		t.Errorf("ISN after one full clock cycle %d, want %d", got, base)
	}
}

// TestISNSecret: F is a keyed hash of the 4-tuple (RFC 9293 §3.4.1, MUST-9,
// SHLD-1): other tuples or another layer's secret give unrelated ISNs at the
// same instant, so an observer of one connection's ISN cannot predict
// another's.
func TestISNSecret(t *testing.T) {
	l1 := NewLayer(Config{}, &capture{}, rand.New(rand.NewPCG(1, 2)))
	l2 := NewLayer(Config{}, &capture{}, rand.New(rand.NewPCG(3, 4)))
	k := connKey{laddr: addrA, raddr: addrB, lport: 40000, rport: 80}
	if l1.isn(epoch, k) == l2.isn(epoch, k) {
		t.Fatal("two secrets give the same ISN")
	}
	// Neighbouring ports: the differences look random (no linear relation),
	// and the 32 bits are all used.
	seen := map[uint32]bool{}
	var or, and uint32 = 0, ^uint32(0)
	prev := l1.isn(epoch, k)
	diffs := map[uint32]bool{}
	for p := uint16(40001); p < 41001; p++ {
		k.lport = p
		v := uint32(l1.isn(epoch, k))
		seen[v] = true
		diffs[v-uint32(prev)] = true
		prev = seqnum.Value(v)
		or |= v
		and &= v
	}
	if len(seen) != 1000 || len(diffs) < 990 {
		t.Fatalf("%d distinct ISNs, %d distinct successive differences of 1000", len(seen), len(diffs))
	}
	if or != ^uint32(0) || and != 0 {
		t.Fatalf("ISN bits stuck: or %#x and %#x", or, and)
	}
}

// TestISNSecretNotFromRng: the secret is drawn once at NewLayer; ISNs do
// not depend on later draws from the layer's random source.
func TestISNSecretNotFromRng(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	l := NewLayer(Config{}, &capture{}, rng)
	k := connKey{laddr: addrA, raddr: addrB, lport: 40000, rport: 80}
	a := l.isn(epoch, k)
	rng.Uint64()
	if b := l.isn(epoch, k); a != b {
		t.Fatal("ISN changed with the random source's state")
	}
}
