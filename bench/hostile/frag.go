//go:build linux

package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// runFrag sends fragments of datagrams that never complete: the first
// fragment of most is missing or their last never comes; IDs repeat among
// a few so that fragments overlap and conflict.
func runFrag(args []string) error {
	fs := flag.NewFlagSet("frag", flag.ContinueOnError)
	dst := fs.String("dst", "198.18.0.2", "server address")
	src := fs.String("src", "198.18.0.1", "source address (the client's own: on the link, no ARP needed)")
	count := fs.Int("count", 20000, "fragments to send")
	dur := fs.Duration("duration", 30*time.Second, "stop after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err1 := netip.ParseAddr(*dst)
	s, err2 := netip.ParseAddr(*src)
	if err1 != nil || err2 != nil || !d.Is4() || !s.Is4() {
		return fmt.Errorf("frag: bad -dst or -src")
	}
	raw, err := openRawIP(wire.Addr(d.As4()))
	if err != nil {
		return err
	}
	defer raw.close()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 20))
	protos := []uint8{wire.ProtoUDP, wire.ProtoTCP, wire.ProtoICMP}
	pkt := make([]byte, wire.IPv4MinHeaderLen+1280)
	start := time.Now()
	sent, errs := 0, 0
	for sent < *count && time.Since(start) < *dur {
		l := 8 * (1 + rng.IntN(160))
		off := 8 * rng.IntN((65515-l)/8)
		id := uint16(rng.Uint32())
		if rng.IntN(2) == 0 {
			id = uint16(rng.IntN(64)) // a few IDs shared by many fragments: overlaps
		}
		mf := rng.IntN(4) != 0 || off == 0 // never a whole datagram
		h := wire.IPv4Header{TotalLen: wire.IPv4MinHeaderLen + l, ID: id, MoreFragments: mf, FragOffset: off, TTL: 64,
			Protocol: protos[rng.IntN(len(protos))], Src: wire.Addr(s.As4()), Dst: wire.Addr(d.As4())}
		p := pkt[:h.TotalLen]
		h.Put(p)
		for i := wire.IPv4MinHeaderLen; i < len(p); i++ {
			p[i] = byte(rng.Uint32())
		}
		if raw.send(p) != nil {
			errs++
		}
		sent++
	}
	fmt.Printf("frag: %d fragments in %.1f s, %d send errors\n", sent, time.Since(start).Seconds(), errs)
	return nil
}
