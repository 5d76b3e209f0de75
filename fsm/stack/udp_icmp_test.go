package stack

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/udp"
	"github.com/netspec/netspec/fsm/wire"
)

// icmpFrom collects the ICMP messages (type, code) stack B sends.
func icmpFrom(n *simNet) *[][2]uint8 {
	var got [][2]uint8
	n.trace = func(from string, f []byte) {
		if from != addrB.String() {
			return
		}
		eth, _ := wire.ParseEthernet(f)
		if eth.Type() != wire.EtherTypeIPv4 {
			return
		}
		p, _ := wire.ParseIPv4(eth.Payload())
		if p.Protocol() == wire.ProtoICMP && p.FragOffset() == 0 {
			m := p.Payload()
			got = append(got, [2]uint8{m[0], m[1]})
		}
	}
	return &got
}

// rawToB delivers an IPv4 packet from A to B's Input, Ethernet-framed.
func rawToB(n *simNet, h wire.IPv4Header, opts, payload []byte) {
	ihl := wire.IPv4MinHeaderLen + len(opts)
	b := make([]byte, wire.EthernetHeaderLen+ihl+len(payload))
	wire.PutEthernet(b, macB, macA, wire.EtherTypeIPv4)
	h.TotalLen = ihl + len(payload)
	ipb := b[wire.EthernetHeaderLen:]
	h.Put(ipb)
	if len(opts) > 0 {
		ipb[0] = 4<<4 | byte(ihl/4)
		copy(ipb[wire.IPv4MinHeaderLen:], opts)
		ipb[10], ipb[11] = 0, 0
		c := wire.Checksum(ipb[:ihl], 0)
		ipb[10], ipb[11] = byte(c>>8), byte(c)
	}
	copy(ipb[ihl:], payload)
	n.b.Input(n.now, b, RxMeta{Time: n.now})
}

func TestUDPEchoFragmentedBothWays(t *testing.T) {
	n := newSim(t, 11)
	srv, err := n.b.BindUDP(n.now, 7)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := n.a.BindUDP(n.now, 0)
	if err != nil {
		t.Fatal(err)
	}
	msg := randomBytes(11, 60000)
	if _, err := n.a.SendTo(n.now, cli, msg, addrB, 7); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	n.run(func() bool {
		k, from, port, err := n.b.RecvFrom(n.now, srv, buf)
		if err != nil {
			return false
		}
		if _, err := n.b.SendTo(n.now, srv, buf[:k], from, port); err != nil {
			t.Fatal(err)
		}
		return true
	})
	var got []byte
	n.run(func() bool {
		k, _, _, err := n.a.RecvFrom(n.now, cli, buf)
		got = buf[:k]
		return err == nil
	})
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo differs: %d bytes back", len(got))
	}
	ca, cb := n.a.IPSender().Counters(), n.b.IPSender().Counters()
	if ca.Fragmented != 1 || cb.Fragmented != 1 || n.b.IPReceiver().Counters().Reassembled != 1 {
		t.Fatalf("fragmentation: a %d b %d reassembled %d", ca.Fragmented, cb.Fragmented, n.b.IPReceiver().Counters().Reassembled)
	}
}

func TestUDPClosedPortRefused(t *testing.T) {
	n := newSim(t, 12)
	got := icmpFrom(n)
	cli, _ := n.a.BindUDP(n.now, 0)
	n.a.SendTo(n.now, cli, []byte("anyone?"), addrB, 9999)
	var soft error
	n.run(func() bool { soft = n.a.UDPSoftError(cli); return soft != nil })
	if !errors.Is(soft, sock.ErrRefused) {
		t.Fatalf("soft error %v", soft)
	}
	if len(*got) != 1 || (*got)[0] != [2]uint8{wire.ICMPDestUnreachable, 3} {
		t.Fatalf("ICMP sent %v", *got)
	}
	if c, ic := n.b.Counters(), n.b.ICMP().Counters(); c.UDPNoPort != 1 || ic.ErrorsOut != 1 {
		t.Fatalf("b counters %+v %+v", c, ic)
	}
	if c := n.a.ICMP().Counters(); c.ErrorsIn != 1 || n.a.UDP().Counters().SoftErrors != 1 {
		t.Fatalf("a: errors in %d", c.ErrorsIn)
	}
}

// TestTCPSynSentICMPRefused: port unreachable quoting our SYN aborts the
// active open (RFC 1122 §4.2.3.9), as a RST would.
func TestTCPSynSentICMPRefused(t *testing.T) {
	n := newSim(t, 13)
	n.b.cfg.IP.Protocols = nil
	fd, err := n.a.Dial(n.now, addrB, 80)
	if err != nil {
		t.Fatal(err)
	}
	var syn []byte
	n.a.Output(func(f []byte, _ TxMeta) {
		if syn == nil {
			syn = append([]byte(nil), f...)
		}
	})
	for syn == nil || wire.Ethernet(syn).Type() != wire.EtherTypeIPv4 {
		// ARP first: answer it by hand through B, then take the SYN.
		n.b.Input(n.now, syn, RxMeta{})
		n.b.Output(func(f []byte, _ TxMeta) { n.a.Input(n.now, f, RxMeta{}) })
		syn = nil
		n.a.Output(func(f []byte, _ TxMeta) {
			if syn == nil {
				syn = append([]byte(nil), f...)
			}
		})
	}
	quote := syn[wire.EthernetHeaderLen : wire.EthernetHeaderLen+wire.IPv4MinHeaderLen+8]
	msg := make([]byte, wire.ICMPHeaderLen+len(quote))
	wire.PutICMPHeader(msg, wire.ICMPDestUnreachable, 3, 0)
	copy(msg[wire.ICMPHeaderLen:], quote)
	wire.SetICMPChecksum(msg)
	n.b.sendIP(addrA, wire.ProtoICMP, false, msg, nil)
	n.b.Output(func(f []byte, _ TxMeta) { n.a.Input(n.now, f, RxMeta{}) })
	if _, err := n.a.Recv(n.now, fd, make([]byte, 8)); !errors.Is(err, sock.ErrRefused) {
		t.Fatalf("recv after ICMP port unreachable: %v", err)
	}
	if c := n.a.Counters(); c.TCPICMPAborts != 1 {
		t.Fatalf("aborts %d", c.TCPICMPAborts)
	}
}

// TestNoICMPErrorAbout checks RFC 1122 §3.2.2's list of datagrams that never
// earn an ICMP error, each by what B sent (nothing) and the counter that moved.
func TestNoICMPErrorAbout(t *testing.T) {
	n := newSim(t, 14)
	got := icmpFrom(n)
	udpTo := func(port uint16) []byte {
		u := make([]byte, wire.UDPHeaderLen+4)
		wire.PutUDPHeader(u, 1000, port, len(u))
		return u
	}
	// A UDP datagram to a closed port sent to the subnet broadcast.
	rawToB(n, wire.IPv4Header{ID: 1, TTL: 64, Protocol: wire.ProtoUDP, Src: addrA, Dst: wire.Addr{198, 18, 0, 255}}, nil, udpTo(9))
	rawToB(n, wire.IPv4Header{ID: 2, TTL: 64, Protocol: wire.ProtoUDP, Src: addrA, Dst: wire.Addr{255, 255, 255, 255}}, nil, udpTo(9))
	// An ICMP error with a malformed option (would earn a parameter problem).
	errMsg := make([]byte, wire.ICMPHeaderLen+28)
	wire.PutICMPHeader(errMsg, wire.ICMPDestUnreachable, 1, 0)
	wire.SetICMPChecksum(errMsg)
	rawToB(n, wire.IPv4Header{ID: 3, TTL: 64, Protocol: wire.ProtoICMP, Src: addrA, Dst: addrB}, []byte{7, 2, 0, 0}, errMsg)
	n.deliver()
	if len(*got) != 0 {
		t.Fatalf("B sent ICMP %v", *got)
	}
	if c := n.b.Counters(); c.UDPNoPort != 2 || n.b.UDP().Counters().Drops[udp.ReasonNoPortBcast] != 2 {
		t.Fatalf("udp no-port %d", c.UDPNoPort)
	}
	// Reassembly timeout: only a datagram whose first fragment arrived gets
	// time exceeded code 1 (RFC 1122 §3.3.2).
	pl := make([]byte, 16)
	rawToB(n, wire.IPv4Header{ID: 4, TTL: 64, Protocol: wire.ProtoUDP, Src: addrA, Dst: addrB, FragOffset: 16}, nil, pl)
	rawToB(n, wire.IPv4Header{ID: 5, TTL: 64, Protocol: wire.ProtoUDP, Src: addrA, Dst: addrB, MoreFragments: true}, nil, pl)
	n.now = n.now.Add(31 * time.Second)
	n.b.Poll(n.now)
	n.run(func() bool { return len(*got) > 0 && n.b.Pending() == 0 })
	if len(*got) != 1 || (*got)[0] != [2]uint8{wire.ICMPTimeExceeded, 1} {
		t.Fatalf("reassembly timeout: ICMP %v, want one time exceeded code 1", *got)
	}
}
