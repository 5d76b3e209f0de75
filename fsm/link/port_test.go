package link

import (
	"testing"

	"github.com/netspec/netspec/fsm/wire"
)

// ethFrame wraps payload in an Ethernet header to dst from src.
func ethFrame(dst, src wire.MAC, typ wire.EtherType, payload []byte) []byte {
	f := make([]byte, wire.EthernetHeaderLen+len(payload))
	wire.PutEthernet(f, dst, src, typ)
	copy(f[wire.EthernetHeaderLen:], payload)
	return f
}

// drained returns the frames the port queued, copied, and empties the queue.
func drained(p *Port) [][]byte {
	var out [][]byte
	p.Queue().Drain(func(f []byte) { out = append(out, append([]byte(nil), f...)) })
	return out
}

// TestPortARPFrames: a who-has for our address is answered to its sender
// (RFC 826) and the sender is learned, so an IPv4 frame to it leaves at
// once with its MAC; ARP for another address is counted and unanswered;
// IPv4 payloads go up; an unresolved next hop is asked for with a
// broadcast request; the announcement is a gratuitous request for our
// address (RFC 5227 §3).
func TestPortARPFrames(t *testing.T) {
	p := NewPort(PortConfig{MAC: ourMAC, Addr: ourIP, MTU: 1500, MaxOutput: 4})
	req := arpPacket(wire.ARPRequest, peerMAC, peerIP, wire.MAC{}, ourIP)
	if _, ok := p.Input(t0, ethFrame(wire.BroadcastMAC, peerMAC, wire.EtherTypeARP, req), false); ok {
		t.Fatal("ARP went up as IPv4")
	}
	out := drained(p)
	if len(out) != 1 || p.Counters().ARPRepliesOut != 1 {
		t.Fatalf("%d frames, counters %+v", len(out), p.Counters())
	}
	eth, _ := wire.ParseEthernet(out[0])
	a, err := wire.ParseARP(eth.Payload())
	if err != nil || eth.Dst() != peerMAC || a.Op() != wire.ARPReply || a.SenderIP() != ourIP || a.SenderMAC() != ourMAC ||
		a.TargetIP() != peerIP || a.TargetMAC() != peerMAC {
		t.Fatalf("reply %x (%v)", out[0], err)
	}

	other := arpPacket(wire.ARPRequest, peerMAC, peerIP, wire.MAC{}, wire.Addr{198, 18, 0, 9})
	p.Input(t0, ethFrame(wire.BroadcastMAC, peerMAC, wire.EtherTypeARP, other), false)
	if n := len(drained(p)); n != 0 || p.Counters().Drops[ReasonARPNotForUs] != 1 {
		t.Fatalf("ARP for another address: %d frames, counters %+v", n, p.Counters())
	}

	ip := []byte{0x45, 0, 0, 20}
	if pkt, ok := p.Input(t0, ethFrame(ourMAC, peerMAC, wire.EtherTypeIPv4, ip), false); !ok || string(pkt) != string(ip) {
		t.Fatalf("IPv4 payload %x, %v", pkt, ok)
	}

	f := p.Alloc()
	p.Resolve(t0, peerIP, f[:wire.EthernetHeaderLen+20])
	g := p.Alloc()
	p.Resolve(t0, wire.Addr{198, 18, 0, 7}, g[:wire.EthernetHeaderLen+20])
	p.Announce()
	out = drained(p)
	if len(out) != 3 {
		t.Fatalf("%d frames, want the IPv4 frame, a request and the announcement", len(out))
	}
	if eth, _ := wire.ParseEthernet(out[0]); eth.Dst() != peerMAC || eth.Src() != ourMAC || eth.Type() != wire.EtherTypeIPv4 {
		t.Fatalf("IPv4 frame to the learned neighbour: %x", out[0][:wire.EthernetHeaderLen])
	}
	for i, target := range []wire.Addr{{198, 18, 0, 7}, ourIP} {
		eth, _ := wire.ParseEthernet(out[1+i])
		a, err := wire.ParseARP(eth.Payload())
		if err != nil || eth.Dst() != wire.BroadcastMAC || a.Op() != wire.ARPRequest || a.TargetIP() != target || a.SenderIP() != ourIP {
			t.Fatalf("frame %d: %x (%v), want a who-has for %v", 1+i, out[1+i], err, target)
		}
	}
	if c := p.Counters(); c.ARPRequestsOut != 1 || p.Queue().InUse() != 1 {
		t.Fatalf("counters %+v, %d buffers lent (the frame waiting for ARP)", c, p.Queue().InUse())
	}
}

// TestPortOutputBound: at most MaxOutput buffers are lent; past that Alloc
// returns nil and counts the drop, and a released buffer is lent again.
func TestPortOutputBound(t *testing.T) {
	p := NewPort(PortConfig{MAC: ourMAC, Addr: ourIP, MTU: 1500, MaxOutput: 2})
	a, b := p.Alloc(), p.Alloc()
	if a == nil || b == nil || len(a) != 1500+wire.EthernetHeaderLen {
		t.Fatalf("buffers %d %d", len(a), len(b))
	}
	if p.Alloc() != nil || p.Counters().OutputDrops != 1 {
		t.Fatalf("third buffer lent; OutputDrops %d", p.Counters().OutputDrops)
	}
	p.Announce() // no buffer: not sent, counted
	if p.Counters().OutputDrops != 2 || p.Queue().Len() != 0 {
		t.Fatalf("announcement without a buffer: %+v, %d queued", p.Counters(), p.Queue().Len())
	}
	p.Broadcast(a[:wire.EthernetHeaderLen+20])
	if n := p.Queue().Drain(func([]byte) {}); n != 1 || p.Queue().InUse() != 1 {
		t.Fatalf("drained %d, %d lent", n, p.Queue().InUse())
	}
	p.SetMTU(1000)
	if c := p.Alloc(); len(c) != 1000+wire.EthernetHeaderLen {
		t.Fatalf("after SetMTU(1000): buffer of %d", len(c))
	}
}
