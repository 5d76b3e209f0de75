//go:build linux

package afpacket

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/netspec/netspec/driver/lab/labtest"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// Test frames of the SYN filter tests: TCP segments carry their tag in
// the sequence number; a UDP datagram to markPort ends a burst.
const (
	synTag   = 0x5000_0000
	markPort = 9999
)

var spoofIP = [4]byte{198, 18, 0, 77}

// synSeg builds an Ethernet/IPv4/TCP frame to the server from src with the
// TCP flags, the fragment field frag, optsLen octets of IP options
// (no-ops) and tcpLen octets of TCP header (20, or fewer to cut it).
func synSeg(dst, srcMAC wire.MAC, src [4]byte, sport, dport uint16, flags byte, tag uint32, frag uint16, optsLen, tcpLen int) []byte {
	hl := 20 + optsLen
	ip := make([]byte, hl+tcpLen)
	ip[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	binary.BigEndian.PutUint16(ip[6:], frag)
	ip[8], ip[9] = 64, 6
	copy(ip[12:], src[:])
	copy(ip[16:], srvIP[:])
	for i := 20; i < hl; i++ {
		ip[i] = 1 // NOP
	}
	binary.BigEndian.PutUint16(ip[10:], ^checksum(ip[:hl], 0))
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], tag)
	h[12], h[13] = 5<<4, flags
	copy(ip[hl:], h[:tcpLen])
	return ethFrame(dst, srcMAC, etherTypeIPv4, ip)
}

// burst sends frames and the end marker from cli, and returns the tags of
// the TCP frames link received (with how often), the UDP and ARP frames
// it received besides the marker, once the marker arrived.
func burst(t *testing.T, cli, link *Link, frames [][]byte) (tags map[uint32]int, other int) {
	t.Helper()
	mark := ethFrame(link.MAC(), cli.MAC(), etherTypeIPv4, ipv4(17, 0, 0, []byte{0x30, 0x39, markPort >> 8, markPort & 0xff, 0, 12, 0, 0, 'e', 'n', 'd', '!'}))
	for i := 0; i < len(frames); i += 32 {
		for {
			err := cli.WriteBatch(frames[i:min(i+32, len(frames))], nil)
			if err == nil {
				break
			}
			time.Sleep(time.Millisecond) // ENOBUFS: the client's queue
		}
	}
	send1(t, cli, mark)
	tags = map[uint32]int{}
	r := newRx(64, link.MaxFrame())
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		k, err := link.ReadBatch(r.frames, r.n, r.meta, deadline)
		if err != nil {
			t.Fatal(err)
		}
		for j := range k {
			f := r.frames[j][:r.n[j]]
			switch {
			case etherType(f) == etherTypeIPv4 && len(f) >= 14+20+8 && f[23] == 6:
				hl := int(f[14]&0xf) * 4
				if len(f) >= 14+hl+8 {
					tags[binary.BigEndian.Uint32(f[14+hl+4:])]++
				} else {
					tags[0]++ // a cut segment
				}
			case etherType(f) == etherTypeIPv4 && f[23] == 17 && binary.BigEndian.Uint16(f[36:]) == markPort:
				return tags, other
			default:
				other++
			}
		}
	}
	t.Fatal("no end marker within 5 s")
	return nil, 0
}

// TestSynFilterDropsFloodSYNsOnly: with a filter for ports 80 and 443 that
// admits no sampled SYN from on-link sources and all from off-link ones,
// the kernel drops the bare SYNs to those ports of an unproven on-link
// source (with IP options too) and nothing else: not an off-link source's,
// not a proven source's, not
// SYN,ACKs, ACKs or RSTs, not SYNs to another port, not fragments, not a
// segment cut before its flags (no load of the program may run past a
// frame), not UDP or ARP. With half the share admitted about half of
// the flood passes; with the filter off, all of it. Over both receive
// paths (with the ring, both of the Link's sockets carry it).
func TestSynFilterDropsFloodSYNsOnly(t *testing.T) { eachReceive(t, testSynFilter) }

func testSynFilter(t *testing.T, rx Receive) {
	_, srv, cli := labLinks(t, Options{Receive: rx}, Options{Receive: ReceiveMmsg})
	seg := func(src [4]byte, sport, dport uint16, flags byte, tag uint32, frag uint16, opts, tcpLen int) []byte {
		return synSeg(srv.MAC(), cli.MAC(), src, sport, dport, flags, tag, frag, opts, tcpLen)
	}
	const syn, ack, rst = 0x02, 0x10, 0x04
	subnet := wire.Addr{198, 18, 0, 0}
	if err := srv.SetSynFilter(&stack.SynFilter{Ports: []uint16{80, 443}, Proven: []wire.Addr{{198, 18, 0, 5}, cliIP},
		Subnet: subnet, SubnetBits: 24, AdmitOffLink: stack.AdmitAll}); err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	drop, pass := map[uint32]bool{}, map[uint32]bool{}
	add := func(f []byte, tag uint32, passes bool) {
		frames = append(frames, f)
		if passes {
			pass[tag] = true
		} else {
			drop[tag] = true
		}
	}
	tag := uint32(synTag)
	for i := range 40 {
		sport := uint16(20000 + i)
		add(seg(spoofIP, sport, 80, syn, tag, 0x4000, 0, 20), tag, false)                   // flood SYN
		add(seg(spoofIP, sport, 443, syn|0x40|0x80, tag+1, 0, 8, 20), tag+1, false)         // ECE|CWR, IP options
		add(seg(cliIP, sport, 80, syn, tag+2, 0x4000, 0, 20), tag+2, true)                  // proven
		add(seg(cliIP, sport, 443, syn, tag+3, 0, 12, 20), tag+3, true)                     // proven, options
		add(seg(spoofIP, sport, 80, syn|ack, tag+4, 0x4000, 0, 20), tag+4, true)            // SYN,ACK
		add(seg(spoofIP, sport, 80, ack, tag+5, 0x4000, 0, 20), tag+5, true)                // ACK
		add(seg(spoofIP, sport, 80, syn|rst, tag+6, 0x4000, 0, 20), tag+6, true)            // SYN,RST
		add(seg(spoofIP, sport, 8080, syn, tag+7, 0x4000, 0, 20), tag+7, true)              // another port
		add(seg(spoofIP, sport, 80, syn, tag+8, 0x2000, 0, 20), tag+8, true)                // MF: a first fragment
		add(seg(spoofIP, sport, 80, syn, tag+9, 0x4000, 40, 20), tag+9, false)              // 40 octets of options
		add(seg([4]byte{198, 18, 0, 5}, sport, 443, syn, tag+10, 0, 0, 20), tag+10, true)   // the other proven
		add(seg([4]byte{10, 1, 2, 3}, sport, 80, syn, tag+11, 0x4000, 0, 20), tag+11, true) // off-link: all pass
		tag += 16
	}
	// Cut before the TCP flags: passed whole (the stack counts it).
	frames = append(frames, seg(spoofIP, 1, 80, syn, 0, 0, 0, 12))
	frames = append(frames, ethFrame(srv.MAC(), cli.MAC(), etherTypeARP, arp(1, cli.MAC(), cliIP, wire.MAC{}, srvIP)))
	tags, other := burst(t, cli, srv, frames)
	for tg := range drop {
		if tags[tg] != 0 {
			t.Errorf("tag %#x passed, want it dropped", tg)
		}
	}
	for tg := range pass {
		if tags[tg] != 1 {
			t.Errorf("tag %#x received %d times, want once", tg, tags[tg])
		}
	}
	if tags[0] != 1 || other < 1 {
		t.Errorf("cut segment received %d times, ARP and others %d: want both passed", tags[0], other)
	}

	// Half the share: about half of 2,000 flood SYNs pass (binomial, sd 22).
	if err := srv.SetSynFilter(&stack.SynFilter{Ports: []uint16{80}, Subnet: subnet, SubnetBits: 24, AdmitOnLink: 1 << 31}); err != nil {
		t.Fatal(err)
	}
	flood := func(n int) [][]byte {
		var fs [][]byte
		for i := range n {
			fs = append(fs, seg(spoofIP, uint16(i), 80, syn, uint32(synTag+0x100000+i), 0x4000, 0, 20))
		}
		return fs
	}
	tags, _ = burst(t, cli, srv, flood(2000))
	if n := len(tags); n < 800 || n > 1200 {
		t.Errorf("half share: %d of 2000 flood SYNs passed", n)
	}
	if err := srv.SetSynFilter(nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetSynFilter(nil); err != nil { // none attached: no error
		t.Fatal(err)
	}
	if tags, _ = burst(t, cli, srv, flood(500)); len(tags) != 500 {
		t.Errorf("filter off: %d of 500 SYNs passed", len(tags))
	}
	if st := srv.Stats(); st.KernelDrops != 0 || st.RingBad != 0 {
		t.Errorf("stats %+v: want no kernel drop (the filter's are not counted there)", st)
	}
}

// TestSynFilterFanoutEachMember: in a fanout group each member's sockets
// carry the filter its own stack asked for, applied after the group's
// program chose the member: flood SYNs of many flows are dropped on the
// member that filters, and pass on the one that does not.
func TestSynFilterFanoutEachMember(t *testing.T) {
	l := labtest.ForTest(t)
	g, cli := openGroupAndClient(t, l, 2, ReceiveRing)
	if err := g.Links[0].SetSynFilter(&stack.SynFilter{Ports: []uint16{80}, Proven: []wire.Addr{cliIP}, Subnet: wire.Addr{198, 18, 0, 0}, SubnetBits: 24}); err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	want := map[uint32]int{} // tag -> the Link that receives it, -1: dropped
	for i := range 200 {
		sport := uint16(30000 + i)
		tg := uint32(synTag + 2*i)
		frames = append(frames, synSeg(g.Links[0].MAC(), cli.MAC(), spoofIP, sport, 80, 0x02, tg, 0x4000, 0, 20))
		frames = append(frames, synSeg(g.Links[0].MAC(), cli.MAC(), cliIP, sport, 80, 0x02, tg+1, 0x4000, 0, 20))
		m := g.Shard(sport, 80)
		want[tg], want[tg+1] = m, m
		if m == 0 {
			want[tg] = -1
		}
	}
	got := map[uint32]int{}
	// The marker goes to Link 0 (UDP); read Link 1 after it, with a deadline.
	tags, _ := burst(t, cli, g.Links[0], frames)
	for tg := range tags {
		got[tg] = 0
	}
	r := newRx(64, g.Links[1].MaxFrame())
	for {
		k, err := g.Links[1].ReadBatch(r.frames, r.n, r.meta, time.Now().Add(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
		for j := range k {
			if tg, ok := classify(r.frames[j][:r.n[j]]); ok {
				got[tg] = 1
			}
		}
	}
	on := [2]int{}
	for tg, w := range want {
		g, ok := got[tg]
		if w < 0 && ok || w >= 0 && (!ok || g != w) {
			t.Errorf("tag %#x: received %v on Link %d, want Link %d (-1: dropped)", tg, ok, g, w)
		}
		if w >= 0 {
			on[w]++
		}
	}
	if on[0] == 0 || on[1] == 0 {
		t.Fatalf("flows per Link %v: want both", on)
	}
}
