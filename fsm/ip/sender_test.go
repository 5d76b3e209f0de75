package ip

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// fakeLink records the frames a Sender hands it, with the next hop each
// went to (the zero address for a broadcast).
type fakeLink struct {
	mtu    int
	free   int // buffers left to lend (negative: unbounded)
	frames [][]byte
	hops   []wire.Addr
}

func (l *fakeLink) Alloc() []byte {
	if l.free == 0 {
		return nil
	}
	l.free--
	return make([]byte, LinkHeaderLen+l.mtu)
}

func (l *fakeLink) Resolve(_ time.Time, hop wire.Addr, frame []byte) {
	l.frames, l.hops = append(l.frames, frame), append(l.hops, hop)
}

func (l *fakeLink) Broadcast(frame []byte) {
	l.frames, l.hops = append(l.frames, frame), append(l.hops, wire.Addr{})
}

var (
	txUs    = wire.Addr{198, 18, 0, 2}
	txPeer  = wire.Addr{198, 18, 0, 1}
	txOther = wire.Addr{198, 18, 0, 3}
	txFar   = wire.Addr{198, 19, 7, 7}
	txGW    = wire.Addr{198, 18, 0, 254}
)

func newTestSender(gw wire.Addr, key uint64) (*Sender, *fakeLink) {
	l := &fakeLink{mtu: 1500, free: -1}
	s := NewSender(SenderConfig{Addr: txUs, PrefixLen: 24, Gateway: gw, MTU: 1500, TTL: 64, IDKey: [2]uint64{key, ^key}}, l)
	return s, l
}

// TestIPIDPerDestination: datagrams that may be fragmented (DF clear) get
// IDs from a per-destination counter under a keyed hash (RFC 7739 §5.3):
// toward one destination they advance by one per datagram, all fragments
// of one datagram share its ID, traffic to a second destination does not
// move the first one's sequence, the two sequences are unrelated, and a
// sender keyed differently sends other IDs.
func TestIPIDPerDestination(t *testing.T) {
	ids := func(key uint64) (map[wire.Addr][]uint16, []bool) {
		s, l := newTestSender(wire.Addr{}, key)
		msg := make([]byte, 100)
		big := make([]byte, 3000) // three fragments at MTU 1500
		udp := func(dst wire.Addr, df bool, b []byte) {
			s.Send(time.Time{}, Outgoing{Dst: dst, Proto: wire.ProtoUDP, DF: df}, b, nil)
		}
		udp(txPeer, false, msg)
		udp(txPeer, false, msg)
		for range 5 {
			udp(txOther, false, msg)
		}
		udp(txPeer, false, big)
		udp(txPeer, false, msg)
		udp(txPeer, true, msg) // atomic
		ids := map[wire.Addr][]uint16{}
		var df []bool
		for _, f := range l.frames {
			ip := wire.IPv4(f[LinkHeaderLen:])
			ids[ip.Dst()] = append(ids[ip.Dst()], ip.ID())
			df = append(df, ip.DontFragment())
		}
		return ids, df
	}
	got, df := ids(7)
	a, c := got[txPeer], got[txOther]
	if len(a) != 7 || len(c) != 5 || len(df) != 12 {
		t.Fatalf("sent %d to A, %d to C, want 7 and 5", len(a), len(c))
	}
	// A: x, x+1, then a fragmented x+2 (three fragments), x+3; then atomic 0.
	wantA := []uint16{a[0], a[0] + 1, a[0] + 2, a[0] + 2, a[0] + 2, a[0] + 3, 0}
	for i := range wantA {
		if a[i] != wantA[i] {
			t.Fatalf("IDs toward A %v, want %v: five datagrams to C moved A's counter, or fragments differ", a, wantA)
		}
	}
	for i := 1; i < len(c); i++ {
		if c[i] != c[0]+uint16(i) {
			t.Fatalf("IDs toward C %v: not one counter", c)
		}
	}
	if d := c[0] - a[0]; d == 2 || d == 0 {
		t.Fatalf("C's first ID %d follows A's %d: one global counter", c[0], a[0])
	}
	other, _ := ids(8)
	if other[txPeer][0] == a[0] && other[txOther][0] == c[0] {
		t.Fatal("IDs do not depend on the sender's key")
	}
}

// TestSendRoutes: on-link destinations are their own next hop, off-link
// ones go through the gateway (RFC 1122 §3.3.1.1), broadcasts to everyone;
// with no gateway an off-link datagram is counted and handed to nobody.
func TestSendRoutes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		gw, dst wire.Addr
		hop     wire.Addr
		sent    bool
	}{
		{"on-link", wire.Addr{}, txPeer, txPeer, true},
		{"off-link via gateway", txGW, txFar, txGW, true},
		{"off-link, no gateway", wire.Addr{}, txFar, wire.Addr{}, false},
		{"subnet broadcast", wire.Addr{}, wire.Addr{198, 18, 0, 255}, wire.Addr{}, true},
		{"limited broadcast", wire.Addr{}, wire.Addr{255, 255, 255, 255}, wire.Addr{}, true},
	} {
		s, l := newTestSender(tc.gw, 1)
		s.Send(time.Time{}, Outgoing{Dst: tc.dst, Proto: wire.ProtoUDP}, []byte("hi"), nil)
		c := s.Counters()
		if !tc.sent {
			if len(l.frames) != 0 || c.NoRoute != 1 || c.Packets != 0 {
				t.Errorf("%s: %d frames, NoRoute %d, Packets %d", tc.name, len(l.frames), c.NoRoute, c.Packets)
			}
			continue
		}
		if len(l.frames) != 1 || l.hops[0] != tc.hop || c.Packets != 1 {
			t.Fatalf("%s: %d frames, hops %v (want %v), Packets %d", tc.name, len(l.frames), l.hops, tc.hop, c.Packets)
		}
		p := wire.IPv4(l.frames[0][LinkHeaderLen:])
		if p.Dst() != tc.dst || p.Src() != txUs || p.TTL() != 64 || !p.HeaderChecksumValid() || string(p.Payload()) != "hi" {
			t.Errorf("%s: datagram %x", tc.name, l.frames[0][LinkHeaderLen:])
		}
	}
}

// TestSendFragments: a datagram over the MTU leaves in fragments whose
// offsets are multiples of 8 and whose payloads, head and tail joined, are
// the datagram's (RFC 791 §3.2); with DF it is refused and counted; with
// no buffer free nothing is sent.
func TestSendFragments(t *testing.T) {
	s, l := newTestSender(wire.Addr{}, 1)
	s.SetMTU(100)
	head, tail := make([]byte, 30), make([]byte, 170)
	for i := range head {
		head[i] = byte(i)
	}
	for i := range tail {
		tail[i] = byte(len(head) + i)
	}
	s.Send(time.Time{}, Outgoing{Dst: txPeer, Proto: wire.ProtoUDP, TOS: 4, TTL: 9}, head, tail)
	var joined []byte
	for i, f := range l.frames {
		p := wire.IPv4(f[LinkHeaderLen:])
		if p.FragOffset() != len(joined) || p.MoreFragments() != (i < len(l.frames)-1) || p.TotalLen() > 100 ||
			p.TOS() != 4 || p.TTL() != 9 || !p.HeaderChecksumValid() {
			t.Fatalf("fragment %d: offset %d MF %v len %d", i, p.FragOffset(), p.MoreFragments(), p.TotalLen())
		}
		joined = append(joined, p.Payload()...)
	}
	if len(l.frames) != 3 || string(joined) != string(append(head, tail...)) {
		t.Fatalf("%d fragments carrying %d bytes", len(l.frames), len(joined))
	}
	if c := s.Counters(); c.Fragmented != 1 || c.Packets != 3 {
		t.Fatalf("counters %+v", c)
	}
	s.Send(time.Time{}, Outgoing{Dst: txPeer, Proto: wire.ProtoTCP, DF: true}, make([]byte, 81), nil)
	if c := s.Counters(); c.TooBigDF != 1 || len(l.frames) != 3 {
		t.Fatalf("DF over the MTU: counters %+v, %d frames", c, len(l.frames))
	}
	l.free = 0
	s.Send(time.Time{}, Outgoing{Dst: txPeer, Proto: wire.ProtoUDP}, head, nil)
	if c := s.Counters(); c.Packets != 3 || len(l.frames) != 3 {
		t.Fatalf("no buffer: counters %+v, %d frames", c, len(l.frames))
	}
}
