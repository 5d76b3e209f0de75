package link

import (
	"testing"

	"github.com/netspec/netspec/fsm/wire"
)

// learned is one ARPConfig.Learned call.
type learned struct {
	ip    wire.Addr
	mac   wire.MAC
	forUs bool
}

// TestARPLearnedReplayedByHeard shares one link's ARP between two caches
// as a multi-loop stack does: the cache that receives the reply reports
// what it learned, and the other, which asked, sends its waiting frame
// once Heard replays it; a replay reports nothing, and a probe (sender
// 0.0.0.0) or a packet learned from nobody reports nothing either.
func TestARPLearnedReplayedByHeard(t *testing.T) {
	var got []learned
	a, _ := newTestARP(ARPConfig{Learned: func(ip wire.Addr, mac wire.MAC, forUs bool) {
		got = append(got, learned{ip, mac, forUs})
	}})
	var replayed []learned
	b, lb := newTestARP(ARPConfig{Learned: func(ip wire.Addr, mac wire.MAC, forUs bool) {
		replayed = append(replayed, learned{ip, mac, forUs})
	}})
	b.Resolve(t0, peerIP, []byte("syn-ack"))
	if len(lb.requests) != 1 || len(lb.sent) != 0 {
		t.Fatalf("b: requests %v sent %v", lb.requests, lb.sent)
	}
	// The reply to b's request reaches a.
	a.Input(t0, arpPacket(wire.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
	a.Input(t0, arpPacket(wire.ARPRequest, wire.MAC{2, 0, 0, 0, 0, 7}, wire.Addr{}, wire.MAC{}, ourIP))               // probe
	a.Input(t0, arpPacket(wire.ARPRequest, wire.MAC{2, 0, 0, 0, 0, 8}, wire.Addr{198, 18, 0, 8}, wire.MAC{}, peerIP)) // not for us, unknown
	if want := []learned{{peerIP, peerMAC, true}}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("a reported %v, want %v", got, want)
	}
	for _, l := range got {
		b.Heard(t0, l.ip, l.mac, l.forUs)
	}
	if want := "syn-ack->" + peerMAC.String(); len(lb.sent) != 1 || lb.sent[0] != want {
		t.Fatalf("b sent %v, want [%s]", lb.sent, want)
	}
	if mac, ok := b.Lookup(peerIP); !ok || mac != peerMAC {
		t.Fatalf("b's entry %v %v", mac, ok)
	}
	if st, _ := b.State(peerIP); st != Reachable || len(replayed) != 0 {
		t.Fatalf("b: state %v, reported %v", st, replayed)
	}
	// A replay of a packet not for us only updates an entry b holds.
	b.Heard(t0, wire.Addr{198, 18, 0, 9}, peerMAC, false)
	b.Heard(t0, peerIP, wire.MAC{2, 0, 0, 0, 0, 9}, false)
	if _, ok := b.Lookup(wire.Addr{198, 18, 0, 9}); ok {
		t.Fatal("b learned a sender from a replay not for us")
	}
	if mac, _ := b.Lookup(peerIP); mac != (wire.MAC{2, 0, 0, 0, 0, 9}) {
		t.Fatalf("b's entry not updated: %v", mac)
	}
	if err := b.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
