package link

import (
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// A spec change that adds a guard or action without code to match does not
// compile (ARPImpl); the machine the cache runs passes fsmrt's check of its
// functions, cells, rows and counters.
func TestARPTablesComplete(t *testing.T) {
	a := NewARP(ourIP, ARPConfig{}, ARPHooks{})
	if err := a.m.Check(); err != nil {
		t.Errorf("spec/arp.fsm: %v", err)
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

// TestARPEvictionOrder: a resolution we start never takes the slot of a
// REACHABLE or INCOMPLETE neighbour, only a FAILED one or, when known
// neighbours fill the table, the oldest STALE one; a neighbour that asked
// for us takes an unanswered entry's slot first.
func TestARPEvictionOrder(t *testing.T) {
	a, l := newTestARP(ARPConfig{Size: 3, MaxProbes: 1, MaxUnresolved: 3, ReachableTime: 10 * time.Second, FailedTime: 100 * time.Second})
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	a.Input(at(0), reqFrom(1))            // Reachable
	a.Input(at(1), reqFrom(2))            // Reachable, newer
	a.Resolve(at(2), ipN(3), []byte("x")) // Incomplete
	a.Resolve(at(2), ipN(4), []byte("y")) // no room: 1, 2 Reachable, 3 Incomplete
	if a.Counters().Drops[ARPDropNoRoom] != 1 || l.dropped[len(l.dropped)-1] != ReasonARPNoRoom {
		t.Fatalf("want a NoRoom drop, got %v", l.dropped)
	}
	for _, i := range []int{1, 2, 3} {
		if _, ok := a.State(ipN(i)); !ok {
			t.Fatalf("entry %d evicted for a resolution", i)
		}
	}
	a.Poll(at(3))                         // 3 Failed
	a.Resolve(at(3), ipN(4), []byte("y")) // takes 3's slot
	if _, ok := a.State(ipN(3)); ok {
		t.Fatal("Failed entry kept, resolution refused")
	}
	a.Input(at(3), reqFrom(5)) // asked for us: takes Incomplete 4's slot
	if s, ok := a.State(ipN(5)); !ok || s != Reachable {
		t.Fatal("a neighbour that asked for us found no room")
	}
	if _, ok := a.State(ipN(4)); ok {
		t.Fatal("Incomplete entry kept over a neighbour that asked for us")
	}
	a.Poll(at(12))                         // 1, 2 Stale; 5 Reachable
	a.Resolve(at(12), ipN(6), []byte("z")) // takes the oldest Stale: 1
	if _, ok := a.State(ipN(1)); ok {
		t.Fatal("oldest Stale entry not evicted")
	}
	if s, _ := a.State(ipN(5)); s != Reachable {
		t.Fatal("Reachable entry evicted")
	}
	if a.Counters().Drops[ARPDropEvicted] != 3 || a.Len() != 3 {
		t.Fatalf("evicted %d len %d", a.Counters().Drops[ARPDropEvicted], a.Len())
	}
}

// TestARPUnresolvedBounded: entries nobody answered take at most
// MaxUnresolved slots; the rest stay for neighbours that answer.
func TestARPUnresolvedBounded(t *testing.T) {
	a, l := newTestARP(ARPConfig{Size: 8, MaxUnresolved: 2})
	for i := 1; i <= 5; i++ {
		a.Resolve(t0, ipN(i), []byte{byte(i)})
	}
	if a.Len() != 2 || len(l.requests) != 2 || a.Counters().Drops[ARPDropNoRoom] != 3 {
		t.Fatalf("len %d, requests %d, NoRoom %d: want 2, 2, 3", a.Len(), len(l.requests), a.Counters().Drops[ARPDropNoRoom])
	}
	a.Input(t0, reqFrom(9))
	if s, ok := a.State(ipN(9)); !ok || s != Reachable {
		t.Fatal("no room for a neighbour that asked for us")
	}
}

// TestARPPendingTotalBounded: the frames waiting over all neighbours are
// bounded by MaxPendingTotal; a new neighbour's request still goes out when
// its first frame cannot wait.
func TestARPPendingTotalBounded(t *testing.T) {
	a, l := newTestARP(ARPConfig{MaxPending: 2, MaxPendingTotal: 3})
	a.Resolve(t0, ipN(1), []byte("a"))
	a.Resolve(t0, ipN(1), []byte("b"))
	a.Resolve(t0, ipN(2), []byte("c"))
	a.Resolve(t0, ipN(2), []byte("d")) // total full
	a.Resolve(t0, ipN(3), []byte("e")) // total full: asked, frame dropped
	if len(l.dropped) != 2 || l.dropped[0] != ReasonARPQueueFull || l.dropped[1] != ReasonARPQueueFull {
		t.Fatalf("dropped %v, want two QueueFull", l.dropped)
	}
	if len(l.requests) != 3 {
		t.Fatalf("requests %v: want one for each of 1, 2, 3", l.requests)
	}
	a.Input(t0, replyFrom(1)) // two frames leave: room again
	a.Resolve(t0, ipN(3), []byte("f"))
	a.Input(t0, replyFrom(3))
	if len(l.sent) != 3 || l.sent[2] != "f->"+macN(3).String() {
		t.Fatalf("sent %v", l.sent)
	}
}

// TestARPEveryRuleFires drives one cache through every rule of spec/arp.fsm
// that can fire (the rows marked NETSPEC:arp only make the table total) and
// checks the machine's counters on the way.
func TestARPEveryRuleFires(t *testing.T) {
	a, _ := newTestARP(ARPConfig{Size: 3, MaxProbes: 2, MaxPending: 2, MaxUnresolved: 2, MaxPendingTotal: 2,
		ReachableTime: 10 * time.Second, StaleTime: 10 * time.Second, FailedTime: 10 * time.Second})
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	// Every call is followed by the cache's invariants: a row that frees or
	// claims a slot without Forget or Create fails here.
	chk := func() {
		t.Helper()
		if err := a.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	}
	resolve := func(now time.Time, ip wire.Addr, f []byte) { t.Helper(); a.Resolve(now, ip, f); chk() }
	input := func(now time.Time, p []byte) { t.Helper(); a.Input(now, p); chk() }
	poll := func(now time.Time) { t.Helper(); a.Poll(now); chk() }
	resolve(at(0), ipN(1), []byte("a"))                                           // None Send -> Incomplete
	resolve(at(0), ipN(1), []byte("b"))                                           // Incomplete Send (queued)
	resolve(at(0), ipN(1), []byte("c"))                                           // Incomplete Send QueueFull
	resolve(at(0), ipN(2), []byte("x"))                                           // None Send QueueFull (total) -> Incomplete
	input(at(0), arpPacket(wire.ARPRequest, macN(3), ipN(3), wire.MAC{}, ipN(7))) // None Heard !ForUs
	resolve(at(0), ipN(7), []byte("y"))                                           // None Send NoRoom: 2 unresolved
	input(at(0), replyFrom(1))                                                    // Incomplete Heard -> Reachable
	resolve(at(0), ipN(1), []byte("d"))                                           // Reachable Send
	input(at(0), gratuitous(1))                                                   // Reachable Heard
	input(at(1), reqFrom(3))                                                      // None Heard ForUs (free slot)
	input(at(1), reqFrom(4))                                                      // evicts Incomplete 2 (Incomplete Evict)
	input(at(1), reqFrom(5))                                                      // evicts Reachable 1 (Reachable Evict)
	poll(at(11))                                                                  // 3, 4, 5 Reachable Timer -> Stale
	resolve(at(11), ipN(3), []byte("h"))                                          // Stale Send !Probed
	resolve(at(11), ipN(3), []byte("i"))                                          // Stale Send Probed
	input(at(11), gratuitous(3))                                                  // Stale Heard -> Reachable
	resolve(at(11), ipN(6), []byte("j"))                                          // evicts a Stale one (Stale Evict)
	poll(at(12))                                                                  // Incomplete Timer ProbesLeft
	poll(at(13))                                                                  // Incomplete Timer -> Failed
	resolve(at(13), ipN(6), []byte("k"))                                          // Failed Send
	input(at(13), replyFrom(6))                                                   // Failed Heard -> Reachable
	resolve(at(13), ipN(7), []byte("l"))                                          // evicts the other Stale one
	poll(at(14))
	poll(at(15))                         // 7 Failed
	resolve(at(15), ipN(8), []byte("m")) // evicts Failed 7 (Failed Evict)
	poll(at(16))
	poll(at(17)) // 8 Failed
	for now := at(17); !a.NextDeadline().IsZero(); {
		now = a.NextDeadline() // Failed Timer, Stale Timer -> None
		poll(now)
	}

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
	if a.Len() != 0 || a.unresolved() != 0 || a.held != 0 {
		t.Fatalf("after every timer: len %d, unresolved %d, frames held %d", a.Len(), a.unresolved(), a.held)
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

// TestARPImpossibleRow: the rows spec/arp.fsm marks impossible never fire in
// TestARPEveryRuleFires' run (CheckInvariants after every call); one that
// fires (a timer stepped for an address with no entry) performs nothing, is
// counted in ARPCounters.Internal and fails CheckInvariants, naming the row.
func TestARPImpossibleRow(t *testing.T) {
	a, _ := newTestARP(ARPConfig{})
	if err := a.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	n := &neighbor{ip: ipN(9)}
	a.step(n, ARPEvTimer)
	if n.state != ARPStateNone || a.Len() != 0 {
		t.Fatalf("None/Timer moved the entry to %v (cache length %d)", n.state, a.Len())
	}
	if c := a.Counters(); c.Internal != 1 {
		t.Fatalf("Internal = %d, want 1", c.Internal)
	}
	if err := a.CheckInvariants(); err == nil || !strings.Contains(err.Error(), "None/Timer -> None impossible") {
		t.Fatalf("CheckInvariants = %v, want the row named", err)
	}
}

// TestARPResolveReachableFastPath: a frame to a REACHABLE neighbour, whose
// Send row only transmits (the states Resolve's fast path serves are
// those whose Send cell starts with such a row, read from the table:
// REACHABLE alone today), still fires that row through the machine:
// counted, seen by the trace, the frame sent to the neighbour's address;
// the entry, its deadline and the cache's bounds are as before. A STALE
// neighbour's row also refreshes, so it takes the full step: one request.
func TestARPResolveReachableFastPath(t *testing.T) {
	for s := range ARPState(NumARPStates) {
		if sendsOnly[s] != (s == Reachable) {
			t.Errorf("fast path for %v: %v", s, sendsOnly[s])
		}
	}
	a, l := newTestARP(ARPConfig{})
	a.Input(t0, reqFrom(1))
	var traced []string
	a.SetTrace(func(r *ARPRule) { traced = append(traced, r.Src) })
	before, deadline, c := viewOf(a, l, ipN(1)), a.NextDeadline(), a.Counters()
	a.Resolve(t0.Add(time.Second), ipN(1), []byte("f"))
	row := &ARPRules[ARPCells[Reachable][ARPEvSend].Start]
	after := viewOf(a, l, ipN(1))
	if a.Counters().Rules[row.ID] != c.Rules[row.ID]+1 || len(traced) != 1 || traced[0] != row.Src {
		t.Errorf("row %v not counted or traced: %v", row, traced)
	}
	if len(l.sent) != 1 || l.sent[0] != "f->"+macN(1).String() {
		t.Errorf("sent %v", l.sent)
	}
	before.sent++
	if after != before || !a.NextDeadline().Equal(deadline) || a.n != nil || a.frame != nil {
		t.Errorf("the fast path changed the cache: %+v -> %+v", before, after)
	}
	if err := a.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	a.Poll(t0.Add(DefaultReachableTime))
	a.Resolve(t0.Add(DefaultReachableTime), ipN(1), []byte("g"))
	if st, _ := a.State(ipN(1)); st != Stale || len(l.requests) != 1 || len(l.sent) != 2 {
		t.Errorf("STALE: state %v, requests %v, sent %v", st, l.requests, l.sent)
	}
}
