package ip

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"
)

// TestPropertyAnyOrderReassembles: any permutation of a datagram's fragments,
// with any fragments duplicated, reassembles to exactly the original payload
// and returns every held byte afterwards (RFC 815 §3, RFC 791 §3.2). Duplicates
// arriving after completion start a new reassembly, which may deliver the
// datagram again, as IP allows; every delivery must equal the original.
func TestPropertyAnyOrderReassembles(t *testing.T) {
	params := gopter.DefaultTestParametersWithSeed(20261125)
	params.MinSuccessfulTests = 300
	properties := gopter.NewProperties(params)
	properties.Property("permuted, duplicated fragments reassemble to the original", prop.ForAll(
		func(size, unit int, seed uint64) bool {
			pl := payloadOf(size, seed)
			frags := fragments(uint16(seed), pl, unit*8)
			rng := rand.New(rand.NewPCG(seed, 2))
			order := make([][]byte, 0, 2*len(frags))
			order = append(order, frags...)
			for _, f := range frags {
				if rng.IntN(3) == 0 {
					order = append(order, f)
				}
			}
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			r := NewReceiver(Config{Addr: us, PrefixLen: 24, MaxFragments: 1024})
			delivered, wrong := 0, 0
			for _, f := range order {
				var d Datagram
				if r.Receive(t0, f, &d) {
					delivered++
					if !bytes.Equal(d.Payload, pl) {
						wrong++
					}
				}
				if err := r.CheckInvariants(); err != nil {
					t.Log(err)
					return false
				}
			}
			r.Poll(t0, nil)
			r.Poll(t0.Add(DefaultReassemblyTimeout), nil) // late duplicates may have started a new slot
			return delivered >= 1 && wrong == 0 && r.HeldBytes() == 0 && r.Reassemblies() == 0
		},
		gen.IntRange(9, 4000),
		gen.IntRange(1, 185),
		gen.UInt64(),
	))
	properties.TestingRun(t)
}

// TestPropertyReassemblyMemoryBounded feeds interleaved fragments of many
// datagrams, some incomplete, some with a fragment duplicated or shifted to
// overlap, over advancing time: held memory never exceeds MemHigh, nothing
// delivered differs from its original (never mis-assembled), and once the
// reassembly timeout has passed after the last fragment nothing is held
// (RFC 815, RFC 1122 §3.3.2; Linux's ipfrag_high_thresh behaviour).
func TestPropertyReassemblyMemoryBounded(t *testing.T) {
	params := gopter.DefaultTestParametersWithSeed(20261126)
	params.MinSuccessfulTests = 200
	properties := gopter.NewProperties(params)
	properties.Property("memory bounded, no mis-assembly, empty after the timeout", prop.ForAll(
		func(count int, seed uint64) bool {
			rng := rand.New(rand.NewPCG(seed, 3))
			const high = 48 << 10
			r := NewReceiver(Config{Addr: us, PrefixLen: 24, MemHigh: high, MemLow: high / 2, MaxReassemblies: 16})
			originals := map[uint16][]byte{}
			var all [][]byte
			for i := 0; i < count; i++ {
				id := uint16(i + 1)
				pl := payloadOf(64+rng.IntN(12000), rng.Uint64())
				originals[id] = pl
				frags := fragments(id, pl, 8*(1+rng.IntN(180)))
				switch rng.IntN(4) {
				case 0: // incomplete: lose one fragment
					if len(frags) > 1 {
						k := rng.IntN(len(frags))
						frags = append(frags[:k], frags[k+1:]...)
					}
				case 1: // a duplicate
					frags = append(frags, frags[rng.IntN(len(frags))])
				case 2: // an overlapping fragment: poisons the datagram
					if len(pl) > 64 {
						frags = append(frags, frag(id, pl, 8, min(len(pl), 40), wire.ProtoUDP))
					}
				}
				all = append(all, frags...)
			}
			rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
			now := t0
			for _, f := range all {
				now = now.Add(time.Duration(rng.IntN(50)) * time.Millisecond)
				var d Datagram
				if r.Receive(now, f, &d) {
					p, _ := wire.ParseIPv4(f)
					if want := originals[p.ID()]; !bytes.Equal(d.Payload, want) {
						return false
					}
				}
				if r.HeldBytes() > high {
					return false
				}
				r.Poll(now, nil)
				if err := r.CheckInvariants(); err != nil {
					t.Log(err)
					return false
				}
			}
			r.Poll(now.Add(DefaultReassemblyTimeout), nil)
			return r.HeldBytes() == 0 && r.Reassemblies() == 0
		},
		gen.IntRange(1, 40),
		gen.UInt64(),
	))
	properties.TestingRun(t)
}
