package e2e

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/afpacket"
	"github.com/netspec/netspec/driver/lab/labtest"
	"github.com/netspec/netspec/driver/observe"
	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/wire"
)

// rawPeer is a TCP/IPv4 peer written by hand on an AF_PACKET socket of the
// client interface, with an address the client namespace's kernel does
// not have (so the kernel neither answers its ARP nor resets its
// connections): it can send what a kernel would not, fragmented segments.
type rawPeer struct {
	t           *testing.T
	link        *afpacket.Link
	mac, srvMAC wire.MAC
	addr, srv   wire.Addr
	frames      [][]byte
	n           []int
	meta        []driver.RxMeta
}

// fragGuard bounds each wait of TestLoopsReassembleFragmentedSegments.
const fragGuard = 20 * time.Second

// rawAddr is the raw peer's address: on the lab's subnet, not the kernel's.
var rawAddr = wire.Addr{198, 18, 0, 77}

func newRawPeer(t *testing.T, link *afpacket.Link, srv wire.Addr) *rawPeer {
	p := &rawPeer{t: t, link: link, mac: link.MAC(), addr: rawAddr, srv: srv,
		frames: make([][]byte, 64), n: make([]int, 64), meta: make([]driver.RxMeta, 64)}
	for i := range p.frames {
		p.frames[i] = make([]byte, link.MaxFrame())
	}
	return p
}

// send writes frames, retrying while the socket's send queue is full.
func (p *rawPeer) send(frames ...[]byte) {
	p.t.Helper()
	for len(frames) > 0 {
		k := min(len(frames), 64)
		var err error
		for try := 0; try < 100; try++ {
			if err = p.link.WriteBatch(frames[:k], make([]driver.TxMeta, k)); err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err != nil {
			p.t.Fatalf("raw peer: write: %v", err)
		}
		frames = frames[k:]
	}
}

// await reads frames until match accepts an IPv4 datagram from the
// server to the peer, answering ARP requests for the peer's address
// meanwhile; every resend, it calls again (a lost frame on a loaded
// machine is sent anew). It fails the test after 10 s.
func (p *rawPeer) await(what string, resend func(), match func(ip wire.IPv4) bool) wire.IPv4 {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	next := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		k, err := p.link.ReadBatch(p.frames, p.n, p.meta, time.Now().Add(100*time.Millisecond))
		if err != nil {
			p.t.Fatalf("raw peer: read: %v", err)
		}
		for i := range k {
			f := p.frames[i][:p.n[i]]
			if len(f) < wire.EthernetHeaderLen+wire.IPv4MinHeaderLen {
				continue
			}
			eth := wire.Ethernet(f)
			switch eth.Type() {
			case wire.EtherTypeARP:
				a := wire.ARP(eth.Payload())
				if a.Op() == 1 && a.TargetIP() == p.addr {
					p.send(p.arp(2, a.SenderMAC(), a.SenderIP()))
				}
				if a.Op() == 2 && a.SenderIP() == p.srv && match == nil {
					p.srvMAC = a.SenderMAC()
					return nil
				}
			case wire.EtherTypeIPv4:
				ip := wire.IPv4(eth.Payload())
				if match != nil && ip.Src() == p.srv && ip.Dst() == p.addr && match(ip) {
					return append(wire.IPv4(nil), ip...)
				}
			}
		}
		if resend != nil && time.Now().After(next) {
			resend()
			next = time.Now().Add(time.Second)
		}
	}
	p.t.Fatalf("raw peer: no %s within 10 s", what)
	return nil
}

// arp builds an ARP packet of op from the peer to tip (a request is broadcast).
func (p *rawPeer) arp(op uint16, tha wire.MAC, tip wire.Addr) []byte {
	b := make([]byte, 60)
	dst := tha
	if op == 1 {
		dst, tha = wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, wire.MAC{}
	}
	wire.PutEthernet(b, dst, p.mac, wire.EtherTypeARP)
	wire.PutARP(b[wire.EthernetHeaderLen:], op, p.mac, p.addr, tha, tip)
	return b
}

// fragments cuts the IPv4 datagram of proto around payload into frames
// of at most size payload octets (a multiple of 8) each.
func (p *rawPeer) fragments(id uint16, proto uint8, payload []byte, size int) [][]byte {
	var out [][]byte
	for off := 0; off < len(payload) || off == 0; off += size {
		end := min(off+size, len(payload))
		out = append(out, p.datagram(wire.IPv4Header{ID: id, MoreFragments: end < len(payload), FragOffset: off,
			TTL: 64, Protocol: proto, Src: p.addr, Dst: p.srv}, payload[off:end]))
	}
	return out
}

// datagram is one frame carrying an IPv4 header h around payload.
func (p *rawPeer) datagram(h wire.IPv4Header, payload []byte) []byte {
	b := make([]byte, max(60, wire.EthernetHeaderLen+wire.IPv4MinHeaderLen+len(payload)))
	wire.PutEthernet(b, p.srvMAC, p.mac, wire.EtherTypeIPv4)
	h.TotalLen = wire.IPv4MinHeaderLen + len(payload)
	h.Put(b[wire.EthernetHeaderLen:])
	copy(b[wire.EthernetHeaderLen+wire.IPv4MinHeaderLen:], payload)
	return b
}

// segment is a checksummed TCP segment from the peer.
func (p *rawPeer) segment(h wire.TCPHeader, payload []byte) []byte {
	b := make([]byte, h.Len()+len(payload))
	h.Put(b)
	copy(b[h.Len():], payload)
	wire.SetTCPChecksum(b, p.addr, p.srv)
	return b
}

// TestLoopsReassembleFragmentedSegments runs a stack with two loops and a
// raw peer on the client link that opens a connection on a port loop 1
// owns and sends 3000 octets in one TCP segment cut into three IPv4
// fragments. Every fragment reaches loop 0 (the fanout program; the kernel
// reassembles nothing), whose fsm/ip reassembles the segment and hands it
// to loop 1: the server reads the octets intact and the peer gets their
// ACK. A flood of fragments that never complete, with the first ones of
// loop 1's flow, lands on loop 0 too and is held within fsm/ip's
// reassembly limits (octets and datagrams, its gauges; its eviction
// counter moves; loop 1 sees no fragment); the connection still takes a
// fragmented segment after it.
func TestLoopsReassembleFragmentedSegments(t *testing.T) {
	l := labtest.ForTest(t)
	st, shard := openLabStackLinks(t, l, &netspec.Options{Loops: 2})
	defer st.Close()
	const port = 8080
	ln, err := st.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := make([]byte, 3000+1000)
	rand.NewChaCha8([32]byte{1}).Read(want)
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		b := make([]byte, len(want))
		n, _ := io.ReadFull(c, b)
		got <- b[:n]
	}()

	var cli *afpacket.Link
	if err := l.RunInClientNS(func() (err error) {
		cli, err = afpacket.Open(l.ClientIface(), afpacket.Options{Receive: afpacket.ReceiveMmsg})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	p := newRawPeer(t, cli, wire.Addr(l.ServerAddr().Addr().As4()))
	ask := func() { p.send(p.arp(1, wire.MAC{}, p.srv)) }
	ask()
	p.await("ARP reply", ask, nil)

	sport := uint16(41000)
	for shard(port, sport) != 1 {
		sport++
	}
	const iss = 1000
	syn := p.datagram(wire.IPv4Header{TTL: 64, Protocol: wire.ProtoTCP, Src: p.addr, Dst: p.srv, DontFragment: true},
		p.segment(wire.TCPHeader{SrcPort: sport, DstPort: port, Seq: iss, Flags: wire.FlagSYN, Window: 65535,
			Opts: wire.TCPOptions{HasMSS: true, MSS: 1460}}, nil))
	p.send(syn)
	synack := p.await("SYN,ACK", func() { p.send(syn) }, func(ip wire.IPv4) bool {
		s := wire.TCP(ip.Payload())
		return ip.Protocol() == wire.ProtoTCP && s.DstPort() == sport && s.Flags()&(wire.FlagSYN|wire.FlagACK) == wire.FlagSYN|wire.FlagACK
	})
	irs := wire.TCP(synack.Payload()).Seq()
	ack := func(seq uint32, flags wire.TCPFlags, data []byte) []byte {
		return p.segment(wire.TCPHeader{SrcPort: sport, DstPort: port, Seq: seq, Ack: irs + 1,
			Flags: wire.FlagACK | flags, Window: 65535}, data)
	}
	p.send(p.datagram(wire.IPv4Header{TTL: 64, Protocol: wire.ProtoTCP, Src: p.addr, Dst: p.srv, DontFragment: true}, ack(iss+1, 0, nil)))

	// sendFragmented sends data at seq in one segment of fragments of at
	// most size octets and waits for the ACK that covers it.
	sendFragmented := func(id uint16, seq uint32, data []byte, size int) {
		t.Helper()
		frags := p.fragments(id, wire.ProtoTCP, ack(seq, wire.FlagPSH, data), size)
		p.send(frags...)
		end := seq + uint32(len(data))
		p.await("ACK of the fragmented segment", func() { p.send(frags...) }, func(ip wire.IPv4) bool {
			s := wire.TCP(ip.Payload())
			return ip.Protocol() == wire.ProtoTCP && s.DstPort() == sport && s.Flags()&wire.FlagACK != 0 && s.Ack() == end
		})
	}
	sendFragmented(1, iss+1, want[:3000], 1480)
	c0, c1 := st.LoopCounters(0), st.LoopCounters(1)
	if c1["tcp.PassiveOpens"] != 1 || c0["tcp.PassiveOpens"] != 0 {
		t.Fatalf("passive opens: loop 0 %d, loop 1 %d: want the connection on loop 1", c0["tcp.PassiveOpens"], c1["tcp.PassiveOpens"])
	}
	if c0["ip.Reassembled"] < 1 || c0["stack.IPHandedOff"] < 1 || c1["stack.IPHandedIn"] < 1 || c1["ip.Fragments"] != 0 {
		t.Fatalf("loop 0 reassembled %d, handed off %d; loop 1 took %d, saw %d fragments",
			c0["ip.Reassembled"], c0["stack.IPHandedOff"], c1["stack.IPHandedIn"], c1["ip.Fragments"])
	}

	// The flood: datagrams that never complete, first fragments of loop
	// 1's flow among them, far more than fsm/ip reassembles at once.
	// Each of 80 datagrams gets 44 fragments of 1480 octets in turn (all
	// of the largest datagram but its last), none overlapping: 5.2 MB that
	// never completes, in more datagrams (80) than fsm/ip reassembles at
	// once (64), near the octets it holds (4 MiB); the first fragments
	// carry loop 1's flow's header.
	const ids, perID, size = 80, 44, 1480
	const flood = ids * perID
	var frames [][]byte
	junk := ack(iss+1, 0, make([]byte, size-20))
	for i := range flood {
		frames = append(frames, p.datagram(wire.IPv4Header{ID: uint16(1000 + i/perID), MoreFragments: true,
			FragOffset: size * (i % perID), TTL: 64, Protocol: wire.ProtoTCP, Src: p.addr, Dst: p.srv}, junk))
	}
	p.send(frames...)
	var f0 map[string]uint64
	for end := time.Now().Add(fragGuard); ; time.Sleep(10 * time.Millisecond) {
		f0 = st.LoopCounters(0)
		if f0["ip.Fragments"]-c0["ip.Fragments"] >= flood*9/10 || time.Now().After(end) {
			break
		}
	}
	n, evicted := f0["ip.Fragments"]-c0["ip.Fragments"], f0["ip.frag.drop.Evicted"]-c0["ip.frag.drop.Evicted"]
	held, slots := f0["ip.frag.HeldBytes"], f0["ip.frag.Reassemblies"]
	if n < flood*9/10 || evicted == 0 || held > ip.DefaultMemHigh || held < ip.DefaultMemHigh/2 || slots > ip.DefaultMaxReassemblies {
		t.Fatalf("flood of %d fragments: loop 0 took %d, evicted %d datagrams, holds %d octets in %d reassemblies: "+
			"want nearly all taken, some evicted, at most %d octets in %d (%s)",
			flood, n, evicted, held, slots, ip.DefaultMemHigh, ip.DefaultMaxReassemblies, fragDrops(f0))
	}
	t.Logf("flood of %d fragments: loop 0 took %d, evicted %d datagrams, holds %d octets in %d reassemblies", flood, n, evicted, held, slots)
	if n := st.LoopCounters(1)["ip.Fragments"]; n != 0 {
		t.Fatalf("loop 1 took %d fragments: every fragment goes to loop 0", n)
	}

	sendFragmented(2, iss+1+3000, want[3000:], 512)
	select {
	case b := <-got:
		if !bytes.Equal(b, want) {
			t.Fatalf("server read %d octets, want the %d sent (intact: %v)", len(b), len(want), bytes.Equal(b, want[:len(b)]))
		}
	case <-time.After(fragGuard):
		t.Fatal("server did not read the data")
	}
	_, seen := snapshotCounters(t, st)
	if seen["loop.HandIns"] < 2 || seen["stack.IPHandedOff"] < 2 || seen["stack.IPHandedIn"] < 2 {
		t.Fatalf("netspec stat: loop.HandIns %d, stack.IPHandedOff %d, stack.IPHandedIn %d: want 2 or more each",
			seen["loop.HandIns"], seen["stack.IPHandedOff"], seen["stack.IPHandedIn"])
	}
	p.send(p.datagram(wire.IPv4Header{TTL: 64, Protocol: wire.ProtoTCP, Src: p.addr, Dst: p.srv, DontFragment: true},
		p.segment(wire.TCPHeader{SrcPort: sport, DstPort: port, Seq: iss + 1 + uint32(len(want)), Flags: wire.FlagRST}, nil)))
}

// fragDrops lists the reassembly drop counters of a loop's counters.
func fragDrops(c map[string]uint64) string {
	var b strings.Builder
	for name, v := range c {
		if strings.HasPrefix(name, "ip.frag.drop.") && v != 0 {
			fmt.Fprintf(&b, "%s=%d ", name, v)
		}
	}
	return b.String()
}

// snapshotCounters returns st's Snapshot and its counters (what netspec
// stat prints) by name.
func snapshotCounters(t *testing.T, st *netspec.Stack) (observe.Snapshot, map[string]uint64) {
	t.Helper()
	snap, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]uint64{}
	for _, c := range snap.Counters {
		byName[c.Name] = c.Value
	}
	return snap, byName
}
