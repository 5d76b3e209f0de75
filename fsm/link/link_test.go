package link

import (
	"math/rand/v2"
	"testing"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/netspec/netspec/fsm/wire"
)

func tagged(dst wire.MAC, vid uint16, inner wire.EtherType, payload int) []byte {
	b := make([]byte, wire.EthernetHeaderLen+4+payload)
	wire.PutEthernet(b, dst, peerMAC, wire.EtherTypeVLAN)
	b[14], b[15] = byte(vid>>8)|0xa0, byte(vid) // PCP 5
	b[16], b[17] = byte(inner>>8), byte(inner)
	for i := 18; i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

func TestReceiveStripsVLANTag(t *testing.T) {
	f := Receive(tagged(ourMAC, 42, wire.EtherTypeIPv4, 46), ourMAC, false)
	if f.Reason != ReasonNone || !f.VLAN || f.VID != 42 || f.Type != wire.EtherTypeIPv4 || len(f.Payload) != 46 || f.Payload[0] != 18 {
		t.Fatalf("%+v", f)
	}
	if f := Receive(tagged(ourMAC, 7, 0x86dd, 46), ourMAC, false); f.Reason != ReasonEtherType || !f.VLAN {
		t.Fatalf("tagged IPv6: %+v", f)
	}
	if f := Receive(tagged(ourMAC, 7, wire.EtherTypeARP, 0)[:16], ourMAC, false); f.Reason != ReasonRunt {
		t.Fatalf("truncated tag: %+v", f)
	}
	if f := Receive(tagged(wire.MAC{2, 9, 9, 9, 9, 9}, 7, wire.EtherTypeIPv4, 46), ourMAC, false); f.Reason != ReasonNotForUs {
		t.Fatalf("tagged frame for another host: %+v", f)
	}
}

func TestReceiveAddressFilter(t *testing.T) {
	cases := []struct {
		dst  wire.MAC
		want Reason
	}{
		{ourMAC, ReasonNone},
		{wire.BroadcastMAC, ReasonNone},
		{wire.MAC{1, 0, 0x5e, 0, 0, 1}, ReasonMulticast},    // IPv4 all-hosts group
		{wire.MAC{0x33, 0x33, 0, 0, 0, 1}, ReasonMulticast}, // IPv6 multicast
		{wire.MAC{3, 0, 0, 0, 0, 2}, ReasonMulticast},       // our MAC with the group bit set
		{wire.MAC{2, 0, 0, 0, 0, 3}, ReasonNotForUs},
	}
	for _, c := range cases {
		b := make([]byte, 60)
		wire.PutEthernet(b, c.dst, peerMAC, wire.EtherTypeIPv4)
		if f := Receive(b, ourMAC, false); f.Reason != c.want {
			t.Errorf("dst %v: %v, want %v", c.dst, f.Reason, c.want)
		}
	}
}

// TestPropertyFCSDetectsAnyFlippedBit: CRC-32 detects every single-bit error
// (IEEE 802.3 §3.2.9), so a frame with one bit flipped anywhere, FCS included,
// is always dropped as bad_fcs, and the unflipped frame never is.
func TestPropertyFCSDetectsAnyFlippedBit(t *testing.T) {
	params := gopter.DefaultTestParametersWithSeed(5)
	params.MinSuccessfulTests = 500
	p := gopter.NewProperties(params)
	p.Property("one flipped bit is detected", prop.ForAll(
		func(n int, seed uint64, pos int) bool {
			body := make([]byte, n)
			rng := rand.New(rand.NewPCG(seed, 1))
			for i := range body {
				body[i] = byte(rng.Uint32())
			}
			b := make([]byte, wire.EthernetHeaderLen, wire.EthernetHeaderLen+len(body)+4)
			wire.PutEthernet(b, ourMAC, peerMAC, wire.EtherTypeIPv4)
			b = append(b, body...)
			fcs := wire.FCS(b)
			b = append(b, byte(fcs), byte(fcs>>8), byte(fcs>>16), byte(fcs>>24))
			if Receive(b, ourMAC, true).Reason != ReasonNone {
				return false
			}
			bit := pos % (len(b) * 8)
			b[bit/8] ^= 1 << (bit % 8)
			return Receive(b, ourMAC, true).Reason == ReasonBadFCS
		},
		gen.IntRange(46, 9000),
		gen.UInt64(),
		gen.IntRange(0, 1<<20),
	))
	p.TestingRun(t)
}
