package link

import (
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// A spec change that adds a guard or action without code to match fails here.
func TestARPTablesComplete(t *testing.T) {
	for g, f := range arpGuards {
		if f == nil {
			t.Errorf("no code for guard %v of spec/arp.fsm", ARPGuard(g))
		}
	}
	for a, f := range arpActions {
		if f == nil {
			t.Errorf("no code for action %v of spec/arp.fsm", ARPAction(a))
		}
	}
}

func ipN(i int) wire.Addr  { return wire.Addr{198, 18, 1, byte(i)} }
func macN(i int) wire.MAC  { return wire.MAC{2, 0, 0, 0, 1, byte(i)} }
func reqFrom(i int) []byte { return arpPacket(wire.ARPRequest, macN(i), ipN(i), wire.MAC{}, ourIP) }
func replyFrom(i int) []byte {
	return arpPacket(wire.ARPReply, macN(i), ipN(i), ourMAC, ourIP)
}

// gratuitous is an announcement by i (RFC 5227 §3): target is the sender itself.
func gratuitous(i int) []byte {
	return arpPacket(wire.ARPRequest, macN(i), ipN(i), wire.MAC{}, ipN(i))
}

func TestARPFailedDropsWithoutAskingThenRetries(t *testing.T) {
	a, l := newTestARP(ARPConfig{RetryInterval: time.Second, MaxProbes: 2, FailedTime: 5 * time.Second})
	a.Resolve(t0, ipN(1), []byte("f1"))
	a.Poll(t0.Add(time.Second))
	a.Poll(t0.Add(2 * time.Second))
	if s, _ := a.State(ipN(1)); s != Failed {
		t.Fatalf("state %v, want Failed", s)
	}
	c := a.Counters()
	if c.Drops[ARPDropFailed] != 1 || len(l.dropped) != 1 || l.dropped[0] != ReasonARPFailed {
		t.Fatalf("failed drops %d, frames %v", c.Drops[ARPDropFailed], l.dropped)
	}
	a.Resolve(t0.Add(3*time.Second), ipN(1), []byte("f2"))
	if len(l.requests) != 2 || a.Counters().Drops[ARPDropUnresolved] != 1 || l.dropped[1] != ReasonARPUnresolved {
		t.Fatalf("Failed must drop at once without a request: requests %v dropped %v", l.requests, l.dropped)
	}
	if d := a.NextDeadline(); !d.Equal(t0.Add(7 * time.Second)) {
		t.Fatalf("failed entry deadline %v", d)
	}
	a.Poll(t0.Add(7 * time.Second))
	if _, ok := a.State(ipN(1)); ok || a.Counters().Drops[ARPDropExpired] != 1 {
		t.Fatal("Failed entry not forgotten after FailedTime")
	}
	a.Resolve(t0.Add(8*time.Second), ipN(1), []byte("f3"))
	if len(l.requests) != 3 {
		t.Fatalf("no new resolution after FailedTime: %v", l.requests)
	}
}

func TestARPFailedRevivedByAnswer(t *testing.T) {
	a, l := newTestARP(ARPConfig{MaxProbes: 1})
	a.Resolve(t0, ipN(1), []byte("f1"))
	a.Poll(t0.Add(time.Second))
	a.Input(t0.Add(2*time.Second), gratuitous(1))
	if s, _ := a.State(ipN(1)); s != Reachable {
		t.Fatalf("state %v, want Reachable", s)
	}
	a.Resolve(t0.Add(2*time.Second), ipN(1), []byte("f2"))
	if len(l.sent) != 1 || l.sent[0] != "f2->"+macN(1).String() {
		t.Fatalf("sent %v", l.sent)
	}
}

func TestARPGratuitousUpdatesOnlyKnownEntries(t *testing.T) {
	a, _ := newTestARP(ARPConfig{})
	a.Input(t0, gratuitous(1))
	if _, ok := a.State(ipN(1)); ok {
		t.Fatal("gratuitous ARP created an entry (RFC 826: merge only)")
	}
	a.Input(t0, reqFrom(1))
	moved := arpPacket(wire.ARPRequest, macN(9), ipN(1), wire.MAC{}, ipN(1))
	if _, r := a.Input(t0, moved); r != ReasonARPNotForUs {
		t.Fatalf("reason %v", r)
	}
	if mac, _ := a.Lookup(ipN(1)); mac != macN(9) {
		t.Fatalf("entry not updated by announcement: %v", mac)
	}
}

func TestARPOwnAddressNeverLearned(t *testing.T) {
	a, _ := newTestARP(ARPConfig{})
	reply, _ := a.Input(t0, arpPacket(wire.ARPRequest, peerMAC, ourIP, wire.MAC{}, ourIP))
	if reply || a.Len() != 0 {
		t.Fatalf("conflicting claim of our address: reply %v len %d", reply, a.Len())
	}
}

func TestARPGlobalRequestRateLimit(t *testing.T) {
	a, l := newTestARP(ARPConfig{RequestsPerSec: 2})
	for i := 0; i < 5; i++ {
		a.Resolve(t0, ipN(i), []byte{byte(i)})
	}
	c := a.Counters()
	if len(l.requests) != 2 || c.Requests != 2 || c.RequestsLimited != 3 {
		t.Fatalf("requests %d (counter %d), limited %d", len(l.requests), c.Requests, c.RequestsLimited)
	}
	a.Poll(t0.Add(time.Second)) // retries: tokens refilled to 2
	if len(l.requests) != 4 {
		t.Fatalf("after refill: %d requests", len(l.requests))
	}
}

func TestARPEvictionOrder(t *testing.T) {
	a, l := newTestARP(ARPConfig{Size: 3, MaxProbes: 1})
	a.Input(t0, reqFrom(1))                               // Reachable
	a.Input(t0.Add(time.Second), reqFrom(2))              // Reachable, newer
	a.Resolve(t0.Add(2*time.Second), ipN(3), []byte("x")) // Incomplete
	a.Resolve(t0.Add(3*time.Second), ipN(4), []byte("y")) // evicts 1, the oldest resolved
	if _, ok := a.State(ipN(1)); ok {
		t.Fatal("oldest Reachable not evicted")
	}
	if _, ok := a.State(ipN(3)); !ok {
		t.Fatal("Incomplete entry evicted")
	}
	if a.Counters().Drops[ARPDropEvicted] != 1 || a.Len() != 3 {
		t.Fatalf("evicted %d len %d", a.Counters().Drops[ARPDropEvicted], a.Len())
	}
	a.Resolve(t0.Add(3*time.Second), ipN(5), []byte("z")) // evicts 2; table: 3,4,5 all Incomplete
	a.Resolve(t0.Add(3*time.Second), ipN(6), []byte("w"))
	if a.Counters().Drops[ARPDropNoRoom] != 1 || l.dropped[len(l.dropped)-1] != ReasonARPNoRoom {
		t.Fatalf("all Incomplete: want a NoRoom drop, got %v", l.dropped)
	}
}

// TestARPEveryRuleFires drives one cache through every rule of spec/arp.fsm
// that can fire (the rows marked NETSPEC:arp only make the table total) and
// checks the machine's counters on the way.
func TestARPEveryRuleFires(t *testing.T) {
	a, _ := newTestARP(ARPConfig{Size: 2, MaxProbes: 2, MaxPending: 2,
		ReachableTime: 10 * time.Second, StaleTime: 10 * time.Second, FailedTime: 10 * time.Second})
	now := t0
	at := func(d time.Duration) time.Time { now = t0.Add(d); return now }
	a.Resolve(at(0), ipN(1), []byte("a"))                                           // None Send -> Incomplete
	a.Resolve(at(0), ipN(1), []byte("b"))                                           // Incomplete Send (queued)
	a.Resolve(at(0), ipN(1), []byte("c"))                                           // Incomplete Send QueueFull
	a.Input(at(0), arpPacket(wire.ARPRequest, macN(3), ipN(3), wire.MAC{}, ipN(7))) // None Heard !ForUs
	a.Input(at(0), replyFrom(1))                                                    // Incomplete Heard -> Reachable
	a.Resolve(at(0), ipN(1), []byte("d"))                                           // Reachable Send
	a.Input(at(0), gratuitous(1))                                                   // Reachable Heard
	a.Resolve(at(1*time.Second), ipN(2), []byte("e"))                               // None Send
	a.Input(at(1*time.Second), reqFrom(3))                                          // None Heard ForUs: evicts 1 (Reachable Evict)
	a.Resolve(at(1*time.Second), ipN(4), []byte("f"))                               // None Send: evicts Reachable 3
	a.Input(at(1*time.Second), reqFrom(5))                                          // None Heard ForUs NoRoom (2, 4 Incomplete)
	a.Resolve(at(1*time.Second), ipN(6), []byte("g"))                               // None Send NoRoom
	a.Poll(at(2 * time.Second))                                                     // Incomplete Timer ProbesLeft (2 and 4)
	a.Poll(at(3 * time.Second))                                                     // Incomplete Timer -> Failed
	a.Resolve(at(3*time.Second), ipN(2), []byte("h"))                               // Failed Send
	a.Input(at(3*time.Second), replyFrom(2))                                        // Failed Heard -> Reachable
	a.Poll(at(13 * time.Second))                                                    // Reachable Timer -> Stale (2); Failed Timer (4)
	a.Resolve(at(13*time.Second), ipN(2), []byte("i"))                              // Stale Send !Probed
	a.Resolve(at(13*time.Second), ipN(2), []byte("j"))                              // Stale Send Probed
	a.Input(at(13*time.Second), gratuitous(2))                                      // Stale Heard -> Reachable
	a.Poll(at(23 * time.Second))                                                    // -> Stale
	a.Poll(at(33 * time.Second))                                                    // Stale Timer -> None
	a.Input(at(34*time.Second), reqFrom(1))                                         // Reachable 1
	a.Poll(at(44 * time.Second))                                                    // 1 Stale
	a.Resolve(at(44*time.Second), ipN(2), []byte("k"))                              // 2 Incomplete
	a.Resolve(at(44*time.Second), ipN(3), []byte("l"))                              // evicts Stale 1 (Stale Evict)
	a.Poll(at(45 * time.Second))
	a.Poll(at(46 * time.Second))                       // 2 and 3 Failed
	a.Input(at(46*time.Second), replyFrom(2))          // 2 Reachable
	a.Resolve(at(46*time.Second), ipN(4), []byte("m")) // evicts Failed 3 (Failed Evict)

	c := a.Counters()
	for i := range ARPRules {
		r := &ARPRules[i]
		if strings.HasPrefix(r.Anchor, "NETSPEC:") {
			continue
		}
		if c.Rules[i] == 0 {
			t.Errorf("rule never fired: %v", r)
		}
	}
	for _, r := range []ARPReason{ARPDropNoRoom, ARPDropQueueFull, ARPDropFailed, ARPDropUnresolved, ARPDropEvicted, ARPDropExpired} {
		if c.Drops[r] == 0 {
			t.Errorf("counter %v never counted", r)
		}
	}
}

// TestARPPollHoldsNothingAfterTimeouts: whatever happened, once every timer
// ran its course the cache is empty and every queued frame was sent or dropped.
func TestARPPollHoldsNothingAfterTimeouts(t *testing.T) {
	a, l := newTestARP(ARPConfig{Size: 8})
	for i := 0; i < 20; i++ {
		a.Resolve(t0, ipN(i%10), []byte{byte(i)})
		if i%3 == 0 {
			a.Input(t0, replyFrom(i%10))
		}
	}
	for now := t0; !a.NextDeadline().IsZero(); {
		now = a.NextDeadline()
		a.Poll(now)
	}
	if a.Len() != 0 || len(l.sent)+len(l.dropped) != 20 {
		t.Fatalf("len %d sent %d dropped %d", a.Len(), len(l.sent), len(l.dropped))
	}
}
