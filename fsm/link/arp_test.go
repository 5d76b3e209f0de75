package link

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

var (
	t0      = time.Unix(1000, 0)
	ourIP   = wire.Addr{198, 18, 0, 2}
	ourMAC  = wire.MAC{2, 0, 0, 0, 0, 2}
	peerIP  = wire.Addr{198, 18, 0, 1}
	peerMAC = wire.MAC{2, 0, 0, 0, 0, 1}
)

type arpLog struct {
	requests []wire.Addr
	sent     []string
	dropped  []Reason
}

func newTestARP(cfg ARPConfig) (*ARP, *arpLog) {
	l := &arpLog{}
	a := NewARP(ourIP, cfg, ARPHooks{
		Request: func(ip wire.Addr) { l.requests = append(l.requests, ip) },
		Send:    func(f []byte, mac wire.MAC) { l.sent = append(l.sent, string(f)+"->"+mac.String()) },
		Drop:    func(f []byte, r Reason) { l.dropped = append(l.dropped, r) },
	})
	return a, l
}

func arpPacket(op uint16, sha wire.MAC, spa wire.Addr, tha wire.MAC, tpa wire.Addr) []byte {
	b := make([]byte, wire.ARPLen)
	wire.PutARP(b, op, sha, spa, tha, tpa)
	return b
}

func TestARPRequestForUsIsAnsweredAndLearned(t *testing.T) {
	a, _ := newTestARP(ARPConfig{})
	reply, r := a.Input(t0, arpPacket(wire.ARPRequest, peerMAC, peerIP, wire.MAC{}, ourIP))
	if !reply || r != ReasonNone {
		t.Fatalf("reply=%v reason=%v, want a reply", reply, r)
	}
	if mac, ok := a.Lookup(peerIP); !ok || mac != peerMAC {
		t.Fatalf("sender not learned: %v %v", mac, ok)
	}
}

func TestARPRequestForOtherIsNotLearned(t *testing.T) {
	a, _ := newTestARP(ARPConfig{})
	reply, r := a.Input(t0, arpPacket(wire.ARPRequest, peerMAC, peerIP, wire.MAC{}, wire.Addr{198, 18, 0, 9}))
	if reply || r != ReasonARPNotForUs {
		t.Fatalf("reply=%v reason=%v", reply, r)
	}
	if _, ok := a.Lookup(peerIP); ok {
		t.Fatal("learned a sender from a request not for us (RFC 826 merge only updates)")
	}
}

func TestARPMalformedDropped(t *testing.T) {
	a, _ := newTestARP(ARPConfig{})
	if _, r := a.Input(t0, []byte{0, 1, 8}); r != ReasonARPMalformed {
		t.Fatalf("reason %v", r)
	}
}

func TestARPResolveQueuesUntilReply(t *testing.T) {
	a, l := newTestARP(ARPConfig{})
	a.Resolve(t0, peerIP, []byte("f1"))
	a.Resolve(t0, peerIP, []byte("f2"))
	if len(l.requests) != 1 || len(l.sent) != 0 {
		t.Fatalf("requests %v sent %v", l.requests, l.sent)
	}
	a.Input(t0, arpPacket(wire.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
	want := []string{"f1->" + peerMAC.String(), "f2->" + peerMAC.String()}
	if len(l.sent) != 2 || l.sent[0] != want[0] || l.sent[1] != want[1] {
		t.Fatalf("sent %v, want %v", l.sent, want)
	}
	a.Resolve(t0, peerIP, []byte("f3"))
	if len(l.sent) != 3 || len(l.requests) != 1 {
		t.Fatalf("known neighbour not used directly: sent %v requests %v", l.sent, l.requests)
	}
}

func TestARPIncompleteRetriesThenFails(t *testing.T) {
	a, l := newTestARP(ARPConfig{RetryInterval: time.Second, MaxProbes: 3})
	a.Resolve(t0, peerIP, []byte("f1"))
	now := t0
	for i := 0; i < 5; i++ {
		now = a.NextDeadline()
		a.Poll(now)
	}
	if len(l.requests) != 3 {
		t.Fatalf("%d requests, want 3", len(l.requests))
	}
	if len(l.dropped) != 1 || l.dropped[0] != ReasonARPFailed {
		t.Fatalf("dropped %v", l.dropped)
	}
	if a.Len() != 0 || !a.NextDeadline().IsZero() {
		t.Fatalf("entry left behind: len %d deadline %v", a.Len(), a.NextDeadline())
	}
}

func TestARPPendingQueueBounded(t *testing.T) {
	a, l := newTestARP(ARPConfig{MaxPending: 2})
	for i := 0; i < 4; i++ {
		a.Resolve(t0, peerIP, []byte{byte(i)})
	}
	if len(l.dropped) != 2 || l.dropped[0] != ReasonARPQueueFull {
		t.Fatalf("dropped %v", l.dropped)
	}
}

func TestARPReachableAgesToStaleThenGone(t *testing.T) {
	a, l := newTestARP(ARPConfig{ReachableTime: 30 * time.Second, StaleTime: 60 * time.Second})
	a.Input(t0, arpPacket(wire.ARPRequest, peerMAC, peerIP, wire.MAC{}, ourIP))
	a.Poll(t0.Add(31 * time.Second))
	if s, _ := a.State(peerIP); s != Stale {
		t.Fatalf("state %v, want Stale", s)
	}
	a.Resolve(t0.Add(32*time.Second), peerIP, []byte("x"))
	if len(l.sent) != 1 || len(l.requests) != 1 {
		t.Fatalf("stale entry should be used and refreshed: sent %v requests %v", l.sent, l.requests)
	}
	// Aging armed the entry's timer for StaleTime from the Poll that aged
	// it (31 s + 60 s): it is still there just before.
	a.Poll(t0.Add(90 * time.Second))
	if s, _ := a.State(peerIP); s != Stale {
		t.Fatalf("state %v 59 s after aging, want Stale until StaleTime passed", s)
	}
	a.Poll(t0.Add(92 * time.Second))
	if _, ok := a.State(peerIP); ok {
		t.Fatal("stale entry not removed")
	}
}

func TestARPTableBounded(t *testing.T) {
	a, _ := newTestARP(ARPConfig{Size: 4})
	for i := 0; i < 10; i++ {
		ip := wire.Addr{198, 18, 1, byte(i)}
		a.Input(t0, arpPacket(wire.ARPRequest, wire.MAC{2, 0, 0, 0, 1, byte(i)}, ip, wire.MAC{}, ourIP))
	}
	if a.Len() != 4 {
		t.Fatalf("len %d, want 4", a.Len())
	}
}

func TestClassify(t *testing.T) {
	frame := func(dst wire.MAC, et wire.EtherType) []byte {
		b := make([]byte, 60)
		wire.PutEthernet(b, dst, peerMAC, et)
		return b
	}
	cases := []struct {
		name  string
		frame []byte
		want  Reason
	}{
		{"ours", frame(ourMAC, wire.EtherTypeIPv4), ReasonNone},
		{"broadcast arp", frame(wire.BroadcastMAC, wire.EtherTypeARP), ReasonNone},
		{"other host", frame(wire.MAC{2, 9, 9, 9, 9, 9}, wire.EtherTypeIPv4), ReasonNotForUs},
		{"multicast", frame(wire.MAC{1, 0, 0x5e, 0, 0, 1}, wire.EtherTypeIPv4), ReasonMulticast},
		{"ipv6", frame(ourMAC, 0x86dd), ReasonEtherType},
		{"runt", []byte{1, 2, 3}, ReasonRunt},
	}
	for _, c := range cases {
		_, _, r := Classify(c.frame, ourMAC, false)
		if r != c.want {
			t.Errorf("%s: %v, want %v", c.name, r, c.want)
		}
	}
	f := frame(ourMAC, wire.EtherTypeIPv4)
	fcs := wire.FCS(f)
	f = append(f, byte(fcs), byte(fcs>>8), byte(fcs>>16), byte(fcs>>24))
	if _, p, r := Classify(f, ourMAC, true); r != ReasonNone || len(p) != 60-14 {
		t.Fatalf("good FCS: reason %v payload %d", r, len(p))
	}
	f[20] ^= 1
	if _, _, r := Classify(f, ourMAC, true); r != ReasonBadFCS {
		t.Fatalf("bad FCS: reason %v", r)
	}
}

// TestARPNextDeadlineCacheMatchesScan drives the cache with random sends,
// replies and polls and checks the remembered NextDeadline against a scan of
// every entry after each step.
func TestARPNextDeadlineCacheMatchesScan(t *testing.T) {
	a, _ := newTestARP(ARPConfig{Size: 8, MaxProbes: 2})
	rng := rand.New(rand.NewPCG(5, 6))
	now := t0
	for step := 0; step < 5000; step++ {
		ip := wire.Addr{198, 18, 0, byte(10 + rng.IntN(12))}
		switch rng.IntN(4) {
		case 0:
			a.Resolve(now, ip, []byte("f"))
		case 1:
			a.Input(now, arpPacket(wire.ARPReply, wire.MAC{2, 0, 0, 0, 9, ip[3]}, ip, ourMAC, ourIP))
		case 2:
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			a.Poll(now)
		case 3:
			a.Input(now, arpPacket(wire.ARPRequest, wire.MAC{2, 0, 0, 0, 9, ip[3]}, ip, wire.MAC{}, ourIP))
		}
		var want time.Time
		for i := range a.slots {
			if n := &a.slots[i]; n.state != ARPStateNone && (want.IsZero() || n.until.Before(want)) {
				want = n.until
			}
		}
		if got := a.NextDeadline(); !got.Equal(want) {
			t.Fatalf("step %d: NextDeadline %v, scan %v", step, got, want)
		}
	}
}
