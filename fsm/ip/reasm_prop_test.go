package ip

import (
	"bytes"
	"math/rand/v2"
	"testing"

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
