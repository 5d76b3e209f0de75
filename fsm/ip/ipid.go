package ip

import (
	"github.com/netspec/netspec/fsm/siphash"
	"github.com/netspec/netspec/fsm/wire"
)

// ipIDBuckets is how many Identification counters a Sender keeps.
const ipIDBuckets = 256

// ipIDs chooses the Identification field of the datagrams a Sender sends,
// as RFC 6864 and RFC 7739 recommend. An atomic datagram (DF set, not
// fragmented) carries 0: its ID has no use (RFC 6864 §4.1). Any other gets
// a per-destination counter from a keyed hash (RFC 7739 §5.3): the hash of
// (source, destination, protocol) picks one of ipIDBuckets counters and an
// offset added to it, so the IDs toward one destination advance by one per
// datagram while those toward another are unrelated to them, and nobody
// can count our traffic to others from the IDs we send them (no
// idle scan, nmap's TI=I).
type ipIDs struct {
	key     [2]uint64 // SenderConfig.IDKey, from seeded randomness; never leaves the Sender
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
