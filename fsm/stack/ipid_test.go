package stack

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// learn makes s know host ip at mac, as if it had asked for s's address.
func learn(s *Stack, now time.Time, ip wire.Addr, mac wire.MAC) {
	req := make([]byte, wire.EthernetHeaderLen+wire.ARPLen)
	wire.PutEthernet(req, wire.BroadcastMAC, mac, wire.EtherTypeARP)
	wire.PutARP(req[wire.EthernetHeaderLen:], wire.ARPRequest, mac, ip, wire.MAC{}, s.cfg.Addr)
	s.Input(now, req, RxMeta{})
	s.Output(func([]byte, TxMeta) {}) // the ARP reply
}

// sentIDs drains s's output and returns the IP IDs by destination, and
// whether each datagram had DF set.
func sentIDs(s *Stack) (ids map[wire.Addr][]uint16, df []bool) {
	ids = map[wire.Addr][]uint16{}
	s.Output(func(f []byte, _ TxMeta) {
		ip := wire.IPv4(f[wire.EthernetHeaderLen:])
		ids[ip.Dst()] = append(ids[ip.Dst()], ip.ID())
		df = append(df, ip.DontFragment())
	})
	return ids, df
}

// TestIPIDAtomicIsZero: datagrams sent with DF and not fragmented (every
// TCP segment) carry ID 0 (RFC 6864 §4.1), so the ID counts nothing.
func TestIPIDAtomicIsZero(t *testing.T) {
	n := newSim(t, 51)
	var tcpIDs, n0 int
	n.trace = func(from string, f []byte) {
		eth, _ := wire.ParseEthernet(f)
		if eth.Type() != wire.EtherTypeIPv4 {
			return
		}
		ip, _ := wire.ParseIPv4(eth.Payload())
		if ip.Protocol() == wire.ProtoTCP {
			tcpIDs++
			if ip.ID() == 0 && ip.DontFragment() {
				n0++
			}
		}
	}
	transfer(t, n, 100_000)
	if tcpIDs < 50 || n0 != tcpIDs {
		t.Fatalf("%d of %d TCP datagrams atomic with ID 0", n0, tcpIDs)
	}
}

// TestIPIDPerDestination: datagrams that may be fragmented (DF clear) get
// IDs from a per-destination counter under a keyed hash (RFC 7739 §5.3):
// toward one destination they advance by one per datagram, all fragments
// of one datagram share its ID, traffic to a second destination does not
// move the first one's sequence, the two sequences are unrelated, and a
// stack seeded differently sends other IDs.
func TestIPIDPerDestination(t *testing.T) {
	hostC, macC := wire.Addr{198, 18, 0, 3}, wire.MAC{2, 0, 0, 0, 0, 3}
	ids := func(seed uint64) (map[wire.Addr][]uint16, []bool) {
		s := New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: seed})
		s.Poll(s.now)
		s.Output(func([]byte, TxMeta) {})
		learn(s, s.now, addrA, macA)
		learn(s, s.now, hostC, macC)
		msg := make([]byte, 100)
		big := make([]byte, 3000) // three fragments at MTU 1500
		s.sendIP(addrA, wire.ProtoUDP, false, msg, nil)
		s.sendIP(addrA, wire.ProtoUDP, false, msg, nil)
		for range 5 {
			s.sendIP(hostC, wire.ProtoUDP, false, msg, nil)
		}
		s.sendIP(addrA, wire.ProtoUDP, false, big, nil)
		s.sendIP(addrA, wire.ProtoUDP, false, msg, nil)
		s.sendIP(addrA, wire.ProtoUDP, true, msg, nil) // atomic
		return sentIDs(s)
	}
	got, df := ids(7)
	a, c := got[addrA], got[hostC]
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
	if other[addrA][0] == a[0] && other[hostC][0] == c[0] {
		t.Fatal("IDs do not depend on the stack's key")
	}
}
