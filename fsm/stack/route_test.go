package stack

import (
	"testing"

	"github.com/netspec/netspec/fsm/wire"
)

// offLink is a host beyond the simulated /24.
var offLink = wire.Addr{198, 19, 7, 7}

// sentFrames drains s's output and returns the frames, copied.
func sentFrames(s *Stack) [][]byte {
	var out [][]byte
	s.Output(func(f []byte, _ TxMeta) { out = append(out, append([]byte(nil), f...)) })
	return out
}

// TestOffLinkWithoutGatewayHasNoRoute: with no gateway, a SYN from an
// off-link source is dropped on receipt (RFC 3704 §2.4, counted), and a
// connection to an off-link address sends nothing (counted): in neither
// case is the off-link address resolved with ARP as if it were on the link.
func TestOffLinkWithoutGatewayHasNoRoute(t *testing.T) {
	n := newSim(t, 31)
	n.b.Poll(n.now) // the start-up announcement
	sentFrames(n.b)
	if _, err := n.b.Listen(n.now, 80, 0); err != nil {
		t.Fatal(err)
	}
	rawToB(n, wire.IPv4Header{ID: 1, TTL: 64, Protocol: wire.ProtoTCP, Src: offLink, Dst: addrB}, nil, synTo(offLink, addrB, 80))
	if c := n.b.Counters(); c.IPNoRouteIn != 1 {
		t.Fatalf("IPNoRouteIn %d, want 1", c.IPNoRouteIn)
	}
	if _, err := n.b.Dial(n.now, offLink, 80); err != nil {
		t.Fatal(err)
	}
	if f := sentFrames(n.b); len(f) != 0 {
		t.Fatalf("sent %d frames (ARP for an off-link address?)", len(f))
	}
	tx, lc := n.b.IPSender().Counters(), n.b.Port().Counters()
	if tx.NoRoute != 1 || lc.ARPRequestsOut != 0 || n.b.ARP().Len() != 0 {
		t.Fatalf("IPNoRoute %d (want 1), ARP requests %d, ARP entries %d (want 0)", tx.NoRoute, lc.ARPRequestsOut, n.b.ARP().Len())
	}
	if got := n.b.TCP().Counters().PassiveOpens; got != 0 {
		t.Fatalf("%d embryos for an unroutable SYN", got)
	}
}

// TestOffLinkViaGateway: with a gateway, the SYN,ACK to an off-link source
// goes to the gateway's MAC (RFC 1122 §3.3.1.1), and ARP asks for the
// gateway, never for the off-link address.
func TestOffLinkViaGateway(t *testing.T) {
	gw, gwMAC := wire.Addr{198, 18, 0, 254}, wire.MAC{2, 0, 0, 0, 0, 0xfe}
	s := New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Gateway: gw, Seed: 5})
	n := newSim(t, 32)
	s.Poll(n.now)
	sentFrames(s)
	if _, err := s.Listen(n.now, 80, 0); err != nil {
		t.Fatal(err)
	}
	n.b = s
	rawToB(n, wire.IPv4Header{ID: 1, TTL: 64, Protocol: wire.ProtoTCP, Src: offLink, Dst: addrB}, nil, synTo(offLink, addrB, 80))
	f := sentFrames(s)
	if len(f) != 1 {
		t.Fatalf("sent %d frames, want one ARP request", len(f))
	}
	req, err := wire.ParseARP(f[0][wire.EthernetHeaderLen:])
	if err != nil || req.TargetIP() != gw {
		t.Fatalf("first frame: %v, target %v: want a who-has for the gateway", err, req.TargetIP())
	}
	reply := make([]byte, wire.EthernetHeaderLen+wire.ARPLen)
	wire.PutEthernet(reply, macB, gwMAC, wire.EtherTypeARP)
	wire.PutARP(reply[wire.EthernetHeaderLen:], wire.ARPReply, gwMAC, gw, macB, addrB)
	s.Input(n.now, reply, RxMeta{})
	f = sentFrames(s)
	if len(f) != 1 {
		t.Fatalf("after the gateway's reply: %d frames, want the SYN,ACK", len(f))
	}
	eth, _ := wire.ParseEthernet(f[0])
	p, _ := wire.ParseIPv4(eth.Payload())
	seg, _ := wire.ParseTCP(p.Payload())
	if eth.Dst() != gwMAC || p.Dst() != offLink || seg.Flags() != wire.FlagSYN|wire.FlagACK {
		t.Fatalf("SYN,ACK to MAC %v IP %v flags %v: want gateway MAC, %v, SYN|ACK", eth.Dst(), p.Dst(), seg.Flags(), offLink)
	}
}
