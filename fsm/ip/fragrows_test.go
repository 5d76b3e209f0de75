package ip

import (
	"testing"

	"github.com/netspec/netspec/fsm/wire"
)

// TestFragRowsOnHeldDatagram fires the spec/frag.fsm rows for a fragment
// that arrives for a datagram already held (Partial) and fails a check, and
// the eviction of a poisoned datagram, asserting the drop reason and the
// slot's state afterwards.
func TestFragRowsOnHeldDatagram(t *testing.T) {
	pl := payloadOf(64, 7)
	first := frag(1, pl, 0, 16, wire.ProtoUDP) // MF, 16 bytes at 0
	for _, c := range []struct {
		name  string
		cfg   Config
		next  []byte
		want  FragReason
		state FragState
	}{
		// RFC 791 §3.2: a non-final fragment must carry a multiple of 8.
		{"malformed", Config{}, frag(1, pl, 16, 21, wire.ProtoUDP), FragDropMalformed, FragStatePartial},
		// RFC 1122 §3.3.2: the datagram would exceed MaxDatagram.
		{"too big", Config{MaxDatagram: 60}, frag(1, pl, 32, 48, wire.ProtoUDP), FragDropTooBig, FragStatePoisoned},
		// Over MemHigh with nothing older to evict.
		{"no room", Config{MemHigh: 24, MemLow: 16}, frag(1, pl, 16, 32, wire.ProtoUDP), FragDropNoRoom, FragStatePoisoned},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _ := newRx(t, c.cfg)
			var d Datagram
			if r.Receive(t0, first, &d) || r.LastFragDrop() != FragReasonNone {
				t.Fatalf("first fragment: delivered or dropped (%v)", r.LastFragDrop())
			}
			if r.Receive(t0, c.next, &d) {
				t.Fatal("second fragment completed a datagram")
			}
			if got := r.LastFragDrop(); got != c.want {
				t.Fatalf("drop %v, want %v", got, c.want)
			}
			if got := r.table[0].state; got != c.state {
				t.Fatalf("slot state %v, want %v", got, c.state)
			}
		})
	}
	t.Run("poisoned evicted", func(t *testing.T) {
		r, _ := newRx(t, Config{MaxReassemblies: 1})
		var d Datagram
		r.Receive(t0, first, &d)
		over := append([]byte(nil), pl...)
		over[3] ^= 0xff // same offsets, different bytes: an overlap (RFC 5722)
		r.Receive(t0, frag(1, over, 0, 16, wire.ProtoUDP), &d)
		if r.LastFragDrop() != FragDropOverlap || r.table[0].state != FragStatePoisoned {
			t.Fatalf("overlap: drop %v, state %v", r.LastFragDrop(), r.table[0].state)
		}
		// Another datagram needs the only slot: the poisoned one is evicted.
		r.Receive(t0, frag(2, pl, 0, 16, wire.ProtoUDP), &d)
		if r.table[0].state != FragStatePartial || r.table[0].key.id != 2 {
			t.Fatalf("slot %v for id %d, want Partial for id 2", r.table[0].state, r.table[0].key.id)
		}
		if n := r.Counters().Frag[FragDropEvicted]; n != 0 {
			t.Fatalf("evicting a poisoned datagram counted %d Evicted drops (its fragments were already dropped)", n)
		}
	})
}
