package stack

import (
	"github.com/netspec/netspec/fsm/siphash"
	"github.com/netspec/netspec/fsm/wire"
)

// ipIDSeedSalt separates the IP ID key's source from the stack's.
const ipIDSeedSalt = 0x69706964736565

// ipIDBuckets is how many Identification counters the stack keeps.
const ipIDBuckets = 256

// ipIDs chooses the Identification field of the datagrams the stack sends,
// as RFC 6864 and RFC 7739 recommend. An atomic datagram (DF set, not
// fragmented) carries 0: its ID has no use (RFC 6864 §4.1). Any other gets
// a per-destination counter from a keyed hash (RFC 7739 §5.3): the hash of
// (source, destination, protocol) picks one of ipIDBuckets counters and an
// offset added to it, so the IDs toward one destination advance by one per
// datagram while those toward another are unrelated to them, and nobody
// can count the stack's traffic to others from the IDs it sends them (no
// idle scan, nmap's TI=I).
type ipIDs struct {
	key     [2]uint64 // from the stack's seeded randomness; never leaves it
	buckets [ipIDBuckets]uint16
}

// next returns the ID of a datagram from src to dst of protocol proto that
// may be fragmented, and advances its counter.
func (g *ipIDs) next(src, dst wire.Addr, proto uint8) uint16 {
	var b [9]byte
	copy(b[0:4], src[:])
	copy(b[4:8], dst[:])
	b[8] = proto
	h := siphash.Sum64(g.key[0], g.key[1], b[:])
	c := &g.buckets[h%ipIDBuckets]
	id := *c + uint16(h>>32)
	*c++
	return id
}
