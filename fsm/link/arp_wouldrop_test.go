package link

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// arpView is what resolving a frame may change in a cache, as its user and
// the table see it (the entry of ip, the bounds, what went out).
type arpView struct {
	state                         ARPState
	had                           bool
	len, unresolved, held         int
	requests, sent, dropped       int
	next                          time.Time
	noRoom, queueFull, unresolvbl uint64 // ARP's drop counters of the Send rows
}

func viewOf(a *ARP, l *arpLog, ip wire.Addr) arpView {
	st, had := a.State(ip)
	c := a.Counters()
	return arpView{state: st, had: had, len: a.Len(), unresolved: a.unresolved(), held: a.held,
		requests: len(l.requests), sent: len(l.sent), dropped: len(l.dropped), next: a.NextDeadline(),
		noRoom: c.Drops[ARPDropNoRoom], queueFull: c.Drops[ARPDropQueueFull], unresolvbl: c.Drops[ARPDropUnresolved]}
}

// dropOnly reports whether after differs from before only by one frame
// dropped and counted under one of the Send rows' reasons.
func dropOnly(before, after arpView) bool {
	b, c := before, after
	if c.dropped != b.dropped+1 || c.noRoom+c.queueFull+c.unresolvbl != b.noRoom+b.queueFull+b.unresolvbl+1 {
		return false
	}
	b.dropped, b.noRoom, b.queueFull, b.unresolvbl = c.dropped, c.noRoom, c.queueFull, c.unresolvbl
	return b == c
}

// TestARPWouldDropIsExact: WouldDrop(ip) holds exactly when Resolve(ip)
// then drops the frame and changes nothing else (no request, no entry made
// or changed, nothing sent or queued), and asking changes nothing. So an
// upper layer that skips such a frame loses nothing, and skips every frame
// it could: the prediction covers every way spec/arp.fsm drops a frame to
// send without other effect, also an unknown source when known neighbours
// fill the table below the bound of unanswered ones. Run over random
// resolutions, answers, requests for us and timer runs of a small cache;
// each of the three drop-only rows is predicted often.
func TestARPWouldDropIsExact(t *testing.T) {
	const steps = 50000
	rng := rand.New(rand.NewPCG(5, 6))
	a, l := newTestARP(ARPConfig{Size: 16, MaxUnresolved: 4, MaxPending: 2, MaxPendingTotal: 5, MaxProbes: 1})
	now := t0
	var predicted [4]int // NoRoom at the bound of unanswered entries, QueueFull, Unresolved, NoRoom below it
	for i := range steps {
		ip := wire.Addr{198, 18, 0, byte(3 + rng.IntN(20))}
		mac := wire.MAC{2, 0, 0, 0, 1, ip[3]}
		switch rng.IntN(16) {
		case 0: // the neighbour answers
			a.Input(now, arpPacket(wire.ARPReply, mac, ip, ourMAC, ourIP))
			continue
		case 1: // the neighbour asks for us
			a.Input(now, arpPacket(wire.ARPRequest, mac, ip, wire.MAC{}, ourIP))
			continue
		case 2:
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			a.Poll(now)
			continue
		}
		before, c := viewOf(a, l, ip), a.Counters()
		drop := a.WouldDrop(ip)
		if viewOf(a, l, ip) != before || a.Counters() != c {
			t.Fatalf("step %d: WouldDrop(%v) changed the cache", i, ip)
		}
		a.Resolve(now, ip, []byte{byte(i)})
		after := viewOf(a, l, ip)
		if got := dropOnly(before, after); got != drop {
			t.Fatalf("step %d: WouldDrop(%v) = %v in %v (had %v), but Resolve dropped only the frame: %v (%+v -> %+v)",
				i, ip, drop, before.state, before.had, got, before, after)
		}
		if drop {
			below := 0
			if before.unresolved < a.cfg.MaxUnresolved {
				below = 3
			}
			predicted[below] += int(after.noRoom - before.noRoom)
			predicted[1] += int(after.queueFull - before.queueFull)
			predicted[2] += int(after.unresolvbl - before.unresolvbl)
		}
		if err := a.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	}
	for i, what := range []string{"NoRoom at the bound", "QueueFull", "Unresolved", "NoRoom below the bound"} {
		if predicted[i] < 100 {
			t.Errorf("WouldDrop predicted a %s drop %d times in %d steps (%v)", what, predicted[i], steps, predicted)
		}
	}
}

// TestARPWouldDropRows pins what WouldDrop answers in each state of a
// frame's next hop, and the row of spec/arp.fsm that Resolve then fires
// (its drop counter), so a change to a Send row of the spec shows here:
// an unknown next hop with no slot to take (the unanswered entries at
// their bound, or known and unanswered neighbours filling the table) and
// a FAILED one drop at once; a resolving one drops when its queue is full;
// a resolution that starts is never predicted, even when its first frame
// is dropped (the request goes out); known neighbours are sent to.
func TestARPWouldDropRows(t *testing.T) {
	cfg := ARPConfig{Size: 4, MaxUnresolved: 2, MaxPending: 2, MaxPendingTotal: 2, MaxProbes: 1}
	cases := []struct {
		name  string
		setup func(a *ARP) // ipN(9) is the next hop asked about
		drop  bool
		row   ARPReason // the drop Resolve counts (ARPReasonNone: none)
		state ARPState  // ipN(9)'s entry after Resolve (None: no entry)
		asks  int       // requests Resolve sends
	}{
		{"unknown", func(*ARP) {}, false, ARPReasonNone, Incomplete, 1},
		{"unknown at the bound of unanswered entries", func(a *ARP) {
			a.Resolve(t0, ipN(1), []byte("1"))
			a.Resolve(t0, ipN(2), []byte("2"))
		}, true, ARPDropNoRoom, ARPStateNone, 0},
		{"unknown, known and unanswered neighbours fill the table", func(a *ARP) {
			a.Input(t0, reqFrom(1))
			a.Input(t0, reqFrom(2))
			a.Input(t0, reqFrom(3))
			a.Resolve(t0, ipN(4), []byte("4"))
		}, true, ARPDropNoRoom, ARPStateNone, 0},
		{"unknown, the table full but a STALE entry to take", func(a *ARP) {
			a.Input(t0, reqFrom(1))
			a.Poll(t0.Add(DefaultReachableTime))
			a.Input(t0, reqFrom(2))
			a.Input(t0, reqFrom(3))
			a.Input(t0, reqFrom(4))
		}, false, ARPReasonNone, Incomplete, 1},
		{"unknown, the frames waiting at their bound", func(a *ARP) { a.heldBack(ipN(1), 2) }, false, ARPDropQueueFull, Incomplete, 1},
		{"resolving", func(a *ARP) { a.heldBack(ipN(9), 1) }, false, ARPReasonNone, Incomplete, 0},
		{"resolving, its queue full", func(a *ARP) { a.heldBack(ipN(9), 2) }, true, ARPDropQueueFull, Incomplete, 0},
		{"failed", func(a *ARP) {
			a.Resolve(t0, ipN(9), []byte("9"))
			a.Poll(t0.Add(time.Second))
		}, true, ARPDropUnresolved, Failed, 0},
		{"reachable", func(a *ARP) { a.Input(t0, reqFrom(9)) }, false, ARPReasonNone, Reachable, 0},
		{"stale", func(a *ARP) {
			a.Input(t0, reqFrom(9))
			a.Poll(t0.Add(DefaultReachableTime))
		}, false, ARPReasonNone, Stale, 1},
	}
	for _, c := range cases {
		a, l := newTestARP(cfg)
		c.setup(a)
		before := viewOf(a, l, ipN(9))
		if got := a.WouldDrop(ipN(9)); got != c.drop {
			t.Errorf("%s: WouldDrop = %v, want %v", c.name, got, c.drop)
		}
		drops := a.Counters().Drops
		a.Resolve(t0.Add(time.Second), ipN(9), []byte("frame"))
		after := a.Counters().Drops
		var counted ARPReason // of the Send rows' drops
		for _, r := range []ARPReason{ARPDropNoRoom, ARPDropQueueFull, ARPDropUnresolved} {
			if after[r] != drops[r] {
				counted = r
			}
		}
		st, _ := a.State(ipN(9))
		v := viewOf(a, l, ipN(9))
		if counted != c.row || st != c.state || v.requests-before.requests != c.asks {
			t.Errorf("%s: Resolve counted drop %v, entry %v, %d requests; want %v, %v, %d",
				c.name, counted, st, v.requests-before.requests, c.row, c.state, c.asks)
		}
		if v.sent+v.dropped+v.held != before.sent+before.dropped+before.held+1 ||
			c.row != ARPReasonNone && v.dropped != before.dropped+1 {
			t.Errorf("%s: the frame was not sent, queued or dropped (%+v -> %+v)", c.name, before, v)
		}
		if c.drop && !dropOnly(before, v) {
			t.Errorf("%s: predicted, but Resolve did more than drop the frame", c.name)
		}
		if err := a.CheckInvariants(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// heldBack starts resolving ip and sends it n frames, which wait (at most
// n: a cache that queues none does not loop).
func (a *ARP) heldBack(ip wire.Addr, n int) {
	for range n {
		a.Resolve(t0, ip, []byte("held"))
	}
}

// TestARPWouldDropAllocationFree: the prediction costs no allocation,
// whichever row it picks.
func TestARPWouldDropAllocationFree(t *testing.T) {
	a, _ := newTestARP(ARPConfig{Size: 4, MaxUnresolved: 1})
	a.Resolve(t0, ipN(1), []byte("1"))
	a.Input(t0, reqFrom(2))
	for _, ip := range []wire.Addr{ipN(1), ipN(2), ipN(3)} {
		if n := testing.AllocsPerRun(100, func() { a.WouldDrop(ip) }); n != 0 {
			t.Errorf("WouldDrop(%v): %.1f allocations", ip, n)
		}
	}
}
