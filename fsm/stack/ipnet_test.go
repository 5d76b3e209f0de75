package stack

import (
	"bytes"
	"testing"

	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// tcpSeen is a TCP segment a stack sent, with its IP header fields.
type tcpSeen struct {
	from     string
	tos, ttl uint8
	flags    wire.TCPFlags
	payload  int
}

// tcpFrom records every TCP segment both stacks send.
func tcpFrom(n *simNet) *[]tcpSeen {
	var got []tcpSeen
	n.trace = func(from string, f []byte) {
		eth, _ := wire.ParseEthernet(f)
		if eth.Type() != wire.EtherTypeIPv4 {
			return
		}
		p, _ := wire.ParseIPv4(eth.Payload())
		if p.Protocol() != wire.ProtoTCP {
			return
		}
		t, _ := wire.ParseTCP(p.Payload())
		got = append(got, tcpSeen{from: from, tos: p.TOS(), ttl: p.TTL(), flags: t.Flags(), payload: len(t.Payload())})
	}
	return &got
}

// TestTOSAndTTLOnTheWire: the stack's default TTL is 64 (Config.TTL,
// MUST-49); a connection's Diffserv field and TTL set through its
// descriptor reach the IPv4 header of every segment unchanged (MUST-48,
// SHLD-21, SHLD-22), and the peer reads the received TOS (MAY-9).
func TestTOSAndTTLOnTheWire(t *testing.T) {
	n := newSim(t, 21)
	seen := tcpFrom(n)
	cfd, sfd := n.connect(80)
	for _, s := range *seen {
		if s.ttl != 64 || s.tos != 0 {
			t.Fatalf("handshake segment %+v: want TTL 64, TOS 0", s)
		}
	}
	*seen = nil
	if err := n.a.SetTOS(cfd, 0xb8); err != nil {
		t.Fatal(err)
	}
	if err := n.a.SetTTL(cfd, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := n.a.Send(n.now, cfd, []byte("expedited")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	got := 0
	n.run(func() bool {
		k, _ := n.b.Recv(n.now, sfd, buf[got:])
		got += k
		return got == len("expedited")
	})
	data := 0
	for _, s := range *seen {
		if s.from == addrA.String() {
			if s.tos != 0xb8 || s.ttl != 7 {
				t.Fatalf("segment from A %+v: want TOS 0xb8, TTL 7", s)
			}
			data += s.payload
		}
	}
	if data == 0 {
		t.Fatal("no data segment seen")
	}
	st, err := n.b.Status(sfd)
	if err != nil || st.RecvTOS != 0xb8 {
		t.Fatalf("B's RecvTOS %#x (%v), want 0xb8", st.RecvTOS, err)
	}
	st, _ = n.a.Status(cfd)
	if st.TOS != 0xb8 || st.TTL != 7 {
		t.Fatalf("A's status TOS %#x TTL %d", st.TOS, st.TTL)
	}
	if n.a.SetTOS(99, 1) == nil || n.a.SetTTL(99, 1) == nil {
		t.Fatal("SetTOS/SetTTL on a bad descriptor succeeded")
	}
}

// TestConfigTTLAndListenerTOS: Config.TTL sets every datagram's TTL, and a
// listener's Diffserv field goes to the connections it accepts, SYN,ACK
// included (SHLD-21).
func TestConfigTTLAndListenerTOS(t *testing.T) {
	n := newSim(t, 22)
	n.b = New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 23, TTL: 128})
	seen := tcpFrom(n)
	lfd, err := n.b.Listen(n.now, 81, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.b.SetTOS(lfd, 0x28); err != nil {
		t.Fatal(err)
	}
	cfd, err := n.a.Dial(n.now, addrB, 81)
	if err != nil {
		t.Fatal(err)
	}
	var sfd FD
	n.run(func() bool {
		var err error
		sfd, err = n.b.Accept(n.now, lfd)
		return err == nil
	})
	if st, _ := n.a.Status(cfd); st.State != tcp.StateEstablished.String() {
		t.Fatalf("client %s", st.State)
	}
	for _, s := range *seen {
		if s.from == addrB.String() && (s.ttl != 128 || s.tos != 0x28) {
			t.Fatalf("segment from B %+v: want TTL 128, TOS 0x28", s)
		}
	}
	if st, _ := n.b.Status(sfd); st.TOS != 0x28 {
		t.Fatalf("accepted connection TOS %#x", st.TOS)
	}
}

// TestSourceQuenchDiscarded: ICMP Source Quench quoting a live connection's
// segment is counted and silently discarded (MUST-55): no soft error, no
// change to the connection.
func TestSourceQuenchDiscarded(t *testing.T) {
	n := newSim(t, 24)
	cfd, _ := n.connect(80)
	st, _ := n.a.Status(cfd)
	quote := make([]byte, wire.IPv4MinHeaderLen+8)
	(&wire.IPv4Header{TotalLen: 60, TTL: 64, Protocol: wire.ProtoTCP, Src: addrA, Dst: addrB}).Put(quote)
	quote[20], quote[21] = byte(st.LocalPort>>8), byte(st.LocalPort)
	quote[22], quote[23] = 0, 80
	msg := make([]byte, wire.ICMPHeaderLen+len(quote))
	wire.PutICMPHeader(msg, 4, 0, 0)
	copy(msg[wire.ICMPHeaderLen:], quote)
	wire.SetICMPChecksum(msg)
	n.b.sendIP(addrA, wire.ProtoICMP, false, msg, nil)
	n.deliver()
	c, ic := n.a.Counters(), n.a.ICMP().Counters()
	if ic.SourceQuench != 1 || c.TCPSoftErrors != 0 || ic.ErrorsUnmatched != 0 {
		t.Fatalf("source quench %d, soft errors %d, unmatched %d", ic.SourceQuench, c.TCPSoftErrors, ic.ErrorsUnmatched)
	}
	if st, _ := n.a.Status(cfd); st.State != tcp.StateEstablished.String() || st.SoftErr != nil {
		t.Fatalf("after source quench: %s, soft error %v", st.State, st.SoftErr)
	}
}

// synTo builds a TCP SYN from A to dst:port.
func synTo(src, dst wire.Addr, port uint16) []byte {
	h := wire.TCPHeader{SrcPort: 40000, DstPort: port, Seq: 1000, Flags: wire.FlagSYN, Window: 65535}
	b := make([]byte, h.Len())
	h.Put(b)
	wire.SetTCPChecksum(b, src, dst)
	return b
}

// TestSynWithIPOptionsAnswered: a SYN in a datagram with IP options
// (Record Route, a NOP, End of List) is answered as any other (MUST-50: TCP
// ignores IP options it does not understand).
func TestSynWithIPOptionsAnswered(t *testing.T) {
	n := newSim(t, 25)
	seen := tcpFrom(n)
	if _, err := n.b.Listen(n.now, 80, 0); err != nil {
		t.Fatal(err)
	}
	opts := []byte{7, 7, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0} // RR (3 bytes + one slot), NOP, EOL, padding
	rawToB(n, wire.IPv4Header{ID: 9, TTL: 64, Protocol: wire.ProtoTCP, Src: addrA, Dst: addrB}, opts, synTo(addrA, addrB, 80))
	n.run(func() bool {
		for _, s := range *seen {
			if s.from == addrB.String() && s.flags == wire.FlagSYN|wire.FlagACK {
				return true
			}
		}
		return false
	})
	if d := n.b.IPReceiver().Counters().Rx[ip.RxDropBadOptions]; d != 0 {
		t.Fatalf("bad-options drops %d", d)
	}
}

// TestSynToBroadcastOrMulticastDropped: a SYN to the subnet or limited
// broadcast address, or to a multicast group, is silently dropped and
// counted (MUST-57): no SYN,ACK, no RST.
func TestSynToBroadcastOrMulticastDropped(t *testing.T) {
	n := newSim(t, 26)
	seen := tcpFrom(n)
	if _, err := n.b.Listen(n.now, 80, 0); err != nil {
		t.Fatal(err)
	}
	for i, dst := range []wire.Addr{{198, 18, 0, 255}, {255, 255, 255, 255}} {
		rawToB(n, wire.IPv4Header{ID: uint16(i), TTL: 64, Protocol: wire.ProtoTCP, Src: addrA, Dst: dst}, nil, synTo(addrA, dst, 80))
	}
	mc := wire.Addr{224, 0, 0, 1}
	rawToB(n, wire.IPv4Header{ID: 3, TTL: 64, Protocol: wire.ProtoTCP, Src: addrA, Dst: mc}, nil, synTo(addrA, mc, 80))
	n.deliver()
	if c := n.b.Counters(); c.TCPBroadcastDrops != 2 {
		t.Fatalf("TCPBroadcastDrops %d, want 2", c.TCPBroadcastDrops)
	}
	if d := n.b.IPReceiver().Counters().Rx[ip.RxDropNotForUs]; d != 1 {
		t.Fatalf("multicast SYN: ip NotForUs drops %d, want 1", d)
	}
	if len(*seen) != 0 || n.b.TCP().Counters().SegsIn != 0 {
		t.Fatalf("sent %+v, TCP saw %d segments", *seen, n.b.TCP().Counters().SegsIn)
	}
}

// TestSynFromInvalidSourceDropped: a SYN from a source that is no single
// host (broadcast, subnet broadcast, multicast, class E, 0.0.0.0) is
// silently dropped and counted (MUST-63).
func TestSynFromInvalidSourceDropped(t *testing.T) {
	n := newSim(t, 27)
	seen := tcpFrom(n)
	if _, err := n.b.Listen(n.now, 80, 0); err != nil {
		t.Fatal(err)
	}
	bad := []wire.Addr{{255, 255, 255, 255}, {198, 18, 0, 255}, {224, 0, 0, 5}, {240, 0, 0, 1}}
	for i, src := range bad {
		rawToB(n, wire.IPv4Header{ID: uint16(i), TTL: 64, Protocol: wire.ProtoTCP, Src: src, Dst: addrB}, nil, synTo(src, addrB, 80))
	}
	zero := wire.Addr{}
	rawToB(n, wire.IPv4Header{ID: 9, TTL: 64, Protocol: wire.ProtoTCP, Src: zero, Dst: addrB}, nil, synTo(zero, addrB, 80))
	n.deliver()
	if d := n.b.IPReceiver().Counters().Rx[ip.RxDropBadSource]; d != uint64(len(bad)) {
		t.Fatalf("ip BadSource drops %d, want %d", d, len(bad))
	}
	if d := n.b.TCP().Counters().Drops[tcp.DropBadAddress]; d != 1 {
		t.Fatalf("tcp BadAddress drops %d, want 1 (source 0.0.0.0)", d)
	}
	if len(*seen) != 0 {
		t.Fatalf("sent %+v", *seen)
	}
}

// TestECNTransferThroughStacks: two stacks with ECN on, and a wire that
// CE-marks ECN-capable frames (one in 40) instead of dropping them: the
// transfer completes with no retransmission, and the marks were echoed and
// caused window reductions.
func TestECNTransferThroughStacks(t *testing.T) {
	for _, gso := range []int{0, 65535} {
		ecnTransfer(t, gso)
	}
}

// ecnTransfer is TestECNTransferThroughStacks with Config.GSOMaxSize gso
// (super-frames keep the TOS of their segments; the CWR segment is never
// merged with others, its flags differ).
func ecnTransfer(t *testing.T, gso int) {
	n := newSim(t, 28)
	cfg := func(mac wire.MAC, a wire.Addr, seed uint64) Config {
		return Config{MAC: mac, Addr: a, PrefixLen: 24, Seed: seed, GSOMaxSize: gso, TCP: tcp.Config{ECN: tcp.ECNOn}}
	}
	n.a, n.b = New(cfg(macA, addrA, 28)), New(cfg(macB, addrB, 29))
	marks := 0
	n.mark = func(f []byte) {
		if len(f) < wire.EthernetHeaderLen+wire.IPv4MinHeaderLen || n.rng.IntN(40) != 0 {
			return
		}
		if wire.IPv4(f[wire.EthernetHeaderLen:]).MarkCE() {
			marks++
		}
	}
	cfd, sfd := n.connect(80)
	if st, _ := n.a.Status(cfd); !st.ECN {
		t.Fatal("ECN not negotiated")
	}
	want := randomBytes(28, 1<<20)
	sent, got := 0, make([]byte, 0, len(want))
	buf := make([]byte, 64<<10)
	n.run(func() bool {
		if sent < len(want) {
			k, _ := n.a.Send(n.now, cfd, want[sent:])
			sent += k
		}
		k, _ := n.b.Recv(n.now, sfd, buf)
		got = append(got, buf[:k]...)
		return len(got) == len(want)
	})
	if !bytes.Equal(got, want) {
		t.Fatal("stream corrupted")
	}
	ta, tb := n.a.TCP().Counters(), n.b.TCP().Counters()
	if ta.Retransmits != 0 {
		t.Fatalf("GSO %d: %d retransmissions", gso, ta.Retransmits)
	}
	if marks == 0 || tb.ECNCEReceived != uint64(marks) || ta.ECNCwndReductions == 0 {
		t.Fatalf("GSO %d: marks %d, CE received %d, reductions %d", gso, marks, tb.ECNCEReceived, ta.ECNCwndReductions)
	}
	t.Logf("GSO %d: %d CE marks, %d ECE ACKs, %d cwnd reductions, %d super-frames", gso, marks, ta.ECNECEReceived, ta.ECNCwndReductions, n.a.Counters().GSOFrames)
}
