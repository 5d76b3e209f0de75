package link

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// TestARPSuspectReprobes: negative advice on a REACHABLE neighbour makes it
// STALE at once, and the next frame to it goes out and asks again with one
// request (RFC 1122 §2.3.2.1); advice on an unknown neighbour changes
// nothing.
func TestARPSuspectReprobes(t *testing.T) {
	a, l := newTestARP(ARPConfig{})
	if a.Suspect(t0, peerIP) {
		t.Fatal("advice on an unknown neighbour changed something")
	}
	a.Input(t0, arpPacket(wire.ARPRequest, peerMAC, peerIP, wire.MAC{}, ourIP))
	if st, _ := a.State(peerIP); st != Reachable {
		t.Fatalf("state %v", st)
	}
	now := t0.Add(time.Second)
	if !a.Suspect(now, peerIP) {
		t.Fatal("advice ignored")
	}
	if st, _ := a.State(peerIP); st != Stale {
		t.Fatalf("state after advice %v, want Stale", st)
	}
	a.Resolve(now, peerIP, []byte("f1"))
	if len(l.sent) != 1 || len(l.requests) != 1 || l.requests[0] != peerIP {
		t.Fatalf("sent %v, requests %v: want the frame sent and one request", l.sent, l.requests)
	}
	a.Input(now, arpPacket(wire.ARPReply, peerMAC, peerIP, ourMAC, ourIP))
	if st, _ := a.State(peerIP); st != Reachable {
		t.Fatalf("state after the answer %v", st)
	}
}
