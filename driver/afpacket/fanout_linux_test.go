//go:build linux

package afpacket

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/lab/labtest"
	"github.com/netspec/netspec/fsm/wire"
)

// ipv4 builds an IPv4 datagram (header checksum set) of proto around
// payload, with the fragment field frag (flags and offset).
func ipv4(proto byte, id, frag uint16, payload []byte) []byte {
	ip := make([]byte, 20, 20+len(payload))
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(ip[4:], id)
	binary.BigEndian.PutUint16(ip[6:], frag)
	ip[8], ip[9] = 64, proto
	copy(ip[12:], cliIP[:])
	copy(ip[16:], srvIP[:])
	binary.BigEndian.PutUint16(ip[10:], ^checksum(ip[:20], 0))
	return append(ip, payload...)
}

// tcpHdr is a 20-byte TCP header from port a to port b whose sequence
// number carries tag.
func tcpHdr(a, b uint16, tag uint32) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], a)
	binary.BigEndian.PutUint16(h[2:], b)
	binary.BigEndian.PutUint32(h[4:], tag)
	h[12], h[13] = 5<<4, 0x10
	return h
}

// openGroupAndClient opens a group of n Links receiving with rx on the lab's
// server interface and a plain Link on its client interface, both closed
// when the test ends.
func openGroupAndClient(t *testing.T, l *lab.Lab, n int, rx Receive) (*Group, *Link) {
	t.Helper()
	var g *Group
	if err := l.RunInServerNS(func() (err error) {
		g, err = OpenGroup(l.ServerIface(), n, Options{Receive: rx})
		return err
	}); err != nil {
		t.Fatalf("OpenGroup: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	var cli *Link
	if err := l.RunInClientNS(func() (err error) {
		cli, err = Open(l.ClientIface(), Options{Receive: ReceiveMmsg})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return g, cli
}

// TestFanoutGroupShardsByFlow opens a group of three Links and sends it
// TCP segments of many flows, an ICMP error quoting one, a fragmented
// segment of a flow Shard gives to another Link, a fragmented ICMP error,
// ARP and UDP: each whole TCP frame reaches the Link Shard names, the
// ICMP error its quoted flow's Link, and every fragment (the first ones
// too, as the kernel received them: it reassembles nothing), ARP and UDP
// Link 0.
func TestFanoutGroupShardsByFlow(t *testing.T) { eachReceive(t, testFanoutGroup) }

func testFanoutGroup(t *testing.T, rx Receive) {
	const n = 3
	l := labtest.ForTest(t)
	g, cli := openGroupAndClient(t, l, n, rx)
	srvMAC := g.Links[0].MAC()
	frame := func(typ uint16, p []byte) []byte { return ethFrame(srvMAC, cli.MAC(), typ, p) }

	want := map[uint32]int{} // tag -> Link
	var frames [][]byte
	seen := [n]int{}
	for i := range 60 {
		a, b := uint16(40000+2*i), uint16(80) // Linux's connect() ports are even
		if i%3 == 1 {
			a, b = 80, uint16(50001+7*i)
		}
		tag := uint32(1000 + i)
		want[tag] = g.Shard(a, b)
		seen[g.Shard(b, a)]++
		frames = append(frames, frame(etherTypeIPv4, ipv4(6, 0, 0x4000, tcpHdr(a, b, tag))))
	}
	for i, c := range seen {
		if c == 0 {
			t.Fatalf("no flow of 60 maps to Link %d: %v", i, seen)
		}
	}
	// An ICMP "fragmentation needed" quoting the segment we sent (ports
	// 80 -> 40100): the quoted flow's Link gets it.
	quoted := ipv4(6, 0, 0x4000, tcpHdr(80, 40100, 0))
	quoted = quoted[:28] // RFC 792: the header and 8 octets
	icmp := append([]byte{3, 4, 0, 0, 0, 0, 0x05, 0xdc}, quoted...)
	want[0xfff1] = g.Shard(80, 40100)
	frames = append(frames, frame(etherTypeIPv4, ipv4(1, 7, 0, icmp)))
	// One segment in two fragments (8-octet units) of a flow that is not
	// Link 0's, and an ICMP error in two: the fragments reach Link 0 as
	// they are (its stack reassembles them and hands the segment on).
	sport := uint16(40200)
	for g.Shard(sport, 80) == 0 {
		sport += 2
	}
	seg := append(tcpHdr(sport, 80, 0xfff2), make([]byte, 100)...)
	want[0xfff2] = 0
	frames = append(frames,
		frame(etherTypeIPv4, ipv4(6, 9, 0x2000, seg[:64])),
		frame(etherTypeIPv4, ipv4(6, 9, 64/8, seg[64:])),
		frame(etherTypeIPv4, ipv4(1, 10, 0x2000, append(icmp[:8:8], quoted[:24]...))),
		frame(etherTypeIPv4, ipv4(1, 10, 32/8, quoted[24:])))
	frames = append(frames,
		frame(etherTypeARP, arp(1, cli.MAC(), cliIP, wire.MAC{}, srvIP)),
		frame(etherTypeIPv4, ipv4(17, 0, 0, []byte{0x30, 0x39, 0, 9, 0, 12, 0, 0, 'u', 'd', 'p', '!'})))
	for _, f := range frames {
		send1(t, cli, f)
	}

	got := map[uint32]int{}
	others := [n]int{} // ARP and UDP per Link
	frags := [n]int{}  // fragments per Link
	deadline := time.Now().Add(5 * time.Second)
	for i, link := range g.Links {
		r := newRx(64, link.MaxFrame())
		for {
			d := time.Now().Add(200 * time.Millisecond)
			if d.After(deadline) {
				d = deadline
			}
			k, err := link.ReadBatch(r.frames, r.n, r.meta, d)
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				break
			}
			for j := range k {
				f := r.frames[j][:r.n[j]]
				switch tag, ok := classify(f); {
				case etherType(f) == etherTypeIPv4 && binary.BigEndian.Uint16(f[14+6:])&0x3fff != 0:
					frags[i]++
					if ok && tag == 0xfff2 {
						got[tag] = i
					}
				case ok:
					if prev, dup := got[tag]; dup {
						t.Fatalf("tag %#x on Links %d and %d", tag, prev, i)
					}
					got[tag] = i
				case etherType(f) == etherTypeARP || (etherType(f) == etherTypeIPv4 && f[23] == 17):
					others[i]++
				}
			}
		}
	}
	for tag, w := range want {
		if g, ok := got[tag]; !ok || g != w {
			t.Errorf("tag %#x: on Link %d (received %v), want %d", tag, g, ok, w)
		}
	}
	if others != [n]int{2, 0, 0} {
		t.Errorf("ARP and UDP per Link %v, want all on Link 0", others)
	}
	if frags != [n]int{4, 0, 0} {
		t.Errorf("fragments per Link %v, want all 4 on Link 0, not reassembled", frags)
	}
	for i, link := range g.Links {
		if st := link.Stats(); st.KernelDrops != 0 || st.RingBad != 0 {
			t.Errorf("Link %d: %+v", i, st)
		}
	}
}

// classify returns the tag of a test TCP segment (for the fragmented one,
// its first fragment, as it was sent) or ICMP error.
func classify(f []byte) (uint32, bool) {
	if etherType(f) != etherTypeIPv4 || len(f) < 14+20+20 {
		return 0, false
	}
	ip := f[14:]
	switch ip[9] {
	case 6:
		tag := binary.BigEndian.Uint32(ip[24:])
		if tag == 0xfff2 && len(ip) != 20+64 {
			panic(fmt.Sprintf("first fragment of %d octets, not as sent", len(ip)))
		}
		return tag, tag >= 1000
	case 1:
		if ip[20] == 3 {
			return 0xfff1, true
		}
	}
	return 0, false
}

// TestFanoutRingWakesPerFrame: in a group with receive rings, each frame
// wakes the Link whose ring it went to (its wake socket is in the wake
// group, behind the ring group on the device's tap list), with the
// backstop sleep taken away, for flows of every Link.
func TestFanoutRingWakesPerFrame(t *testing.T) {
	defer func(d time.Duration) { ringMaxSleep = d }(ringMaxSleep)
	ringMaxSleep = time.Hour
	l := labtest.ForTest(t)
	g, cli := openGroupAndClient(t, l, 2, ReceiveRing)
	woken := [2]int{}
	for i := range 40 {
		a := uint16(40000 + 2*i)
		link := g.Links[g.Shard(a, 80)]
		r := newRx(8, link.MaxFrame())
		done := make(chan error, 1)
		go func() {
			for {
				k, err := link.ReadBatch(r.frames, r.n, r.meta, time.Now().Add(5*time.Second))
				if err != nil || k == 0 {
					done <- fmt.Errorf("ReadBatch = %d, %v", k, err)
					return
				}
				for j := range k {
					if tag, ok := classify(r.frames[j][:r.n[j]]); ok && tag == uint32(i+1000) {
						done <- nil
						return
					}
				}
			}
		}()
		time.Sleep(2 * time.Millisecond) // let it sleep (the result does not depend on it)
		send1(t, cli, ethFrame(link.MAC(), cli.MAC(), etherTypeIPv4, ipv4(6, 0, 0x4000, tcpHdr(a, 80, uint32(i+1000)))))
		if err := <-done; err != nil {
			t.Fatalf("flow %d to Link %d: %v within 5 s", i, g.Shard(a, 80), err)
		}
		woken[g.Shard(a, 80)]++
	}
	if woken[0] == 0 || woken[1] == 0 {
		t.Fatalf("frames per Link %v: want both woken", woken)
	}
}
