package stack

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// kernelFilter stands for the driver's filter (driver/afpacket
// synfilter_linux.go) in simulated time: it installs what the stack asks
// for (as driver.Loop does after every call), passes frames as the BPF
// program does, with a seeded random source for the share, and counts what
// it drops.
type kernelFilter struct {
	f         *SynFilter
	rng       *rand.Rand
	installed int // filters installed, nil included
	dropped   int
	passed    int // unproven SYNs passed
}

func (k *kernelFilter) sync(s *Stack) {
	if f, changed := s.SynFilterUpdate(); changed {
		k.f = f
		k.installed++
		s.SynFilterInstalled(f, true)
	}
}

// pass reports whether the filter lets frame through.
func (k *kernelFilter) pass(frame []byte) bool {
	f := k.f
	if f == nil {
		return true
	}
	eth, err := wire.ParseEthernet(frame)
	if err != nil || eth.Type() != wire.EtherTypeIPv4 {
		return true
	}
	ip := wire.IPv4(eth.Payload())
	if ip.Protocol() != wire.ProtoTCP || ip.IsFragment() {
		return true
	}
	seg := ip[ip.IHL():]
	if !bareSYN(seg) {
		return true
	}
	if _, ok := slices.BinarySearch(f.Ports, wire.TCP(seg).DstPort()); !ok {
		return true
	}
	if slices.Contains(f.Proven, ip.Src()) {
		return true
	}
	mask := ^uint32(0) << (32 - f.SubnetBits)
	admit := f.AdmitOffLink
	if src := ip.Src(); binary.BigEndian.Uint32(src[:])&mask == binary.BigEndian.Uint32(f.Subnet[:]) {
		admit = f.AdmitOnLink
	}
	if admit == AdmitAll || k.rng.Uint32() < admit {
		k.passed++
		return true
	}
	k.dropped++
	return false
}

// guardSim is A and B (listening on 80, with gw as its gateway) with B's
// link behind a kernelFilter, after A made one connection: A is proven.
func guardSim(t *testing.T, budget int, gw wire.Addr) (*simNet, FD, *kernelFilter) {
	n := newSim(t, 61)
	n.b = New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 62, Gateway: gw, SynGuard: SynGuardConfig{Budget: budget}})
	k := &kernelFilter{rng: rand.New(rand.NewPCG(63, 64))}
	n.filter = func(to *Stack, f []byte) bool { return to != n.b || k.pass(f) }
	ln, err := n.b.Listen(n.now, 80, 0)
	if err != nil {
		t.Fatal(err)
	}
	guardConnect(t, n, ln, k)
	return n, ln, k
}

// guardConnect opens a connection from A to B and has B accept it within
// 100 ms of simulated time (an RTO is 1 s: no SYN of A was lost).
func guardConnect(t *testing.T, n *simNet, ln FD, k *kernelFilter) {
	t.Helper()
	if _, err := n.a.Dial(n.now, addrB, 80); err != nil {
		t.Fatal(err)
	}
	for end := n.now.Add(100 * time.Millisecond); n.now.Before(end); {
		n.floodStep(nil, 0, time.Millisecond, func() {})
		k.sync(n.b)
		if _, err := n.b.Accept(n.now, ln); err == nil {
			return
		}
	}
	t.Fatal("A's connection not accepted within 100 ms")
}

// guardFlood runs d of simulated time with rate SYNs/s from random
// off-link sources through the filter, syncing it every millisecond; it
// returns the unproven SYNs the filter passed in the last half.
func guardFlood(n *simNet, k *kernelFilter, f *synFlood, rate int, d time.Duration) int {
	per := rate / 1000
	steps := int(d / time.Millisecond)
	passed := 0
	for i := range steps {
		before := k.passed
		for range per {
			if fr := f.frameFrom(f.source()); n.filter(n.b, fr) {
				n.b.Input(n.now, fr, RxMeta{Time: n.now})
			}
		}
		n.floodStep(nil, 0, time.Millisecond, func() {})
		k.sync(n.b)
		if i >= steps/2 {
			passed += k.passed - before
		}
	}
	return passed
}

// TestSynGuardFilterOnAndOff: a flood of 50,000 SYNs/s from spoofed
// off-link sources turns the filter on within two windows, for port 80,
// with A (whose connection was accepted) proven, a share of the off-link
// SYNs that lets about Budget SYNs/s through and all of the on-link ones; A still connects at once during the flood;
// the estimated kernel drops are within 3 % of the true count; and the
// filter goes off about a second after the flood ends, and stays off.
func TestSynGuardFilterOnAndOff(t *testing.T) {
	n, ln, k := guardSim(t, 5000, addrA)
	f := &synFlood{rng: rand.New(rand.NewPCG(65, 66))}
	guardFlood(n, k, f, 50_000, 200*time.Millisecond)
	if k.f == nil {
		t.Fatal("no filter 200 ms into a flood of 50,000 SYNs/s")
	}
	// The flood is off-link: on-link sources keep passing, all of them.
	if !slices.Equal(k.f.Ports, []uint16{80}) || !slices.Equal(k.f.Proven, []wire.Addr{addrA}) ||
		k.f.Subnet != (wire.Addr{198, 18, 0, 0}) || k.f.SubnetBits != 24 || k.f.AdmitOnLink != AdmitAll || k.f.AdmitOffLink > 1<<30 {
		t.Fatalf("filter %+v: want port 80, A proven, on-link SYNs all passed, a share of the off-link ones", k.f)
	}
	passed := guardFlood(n, k, f, 50_000, 2*time.Second)
	if budget := n.b.cfg.SynGuard.withDefaults().Budget; passed < budget*7/10 || passed > budget*13/10 {
		t.Fatalf("%d unproven SYNs passed in the flood's last second: want about %d", passed, budget)
	}
	guardConnect(t, n, ln, k)
	guardFlood(n, k, f, 50_000, 100*time.Millisecond)
	c := n.b.Counters()
	if est := float64(c.TCPSynFilterDropEstimate); est < 0.97*float64(k.dropped) || est > 1.03*float64(k.dropped) {
		t.Fatalf("estimated drops %d, true %d", c.TCPSynFilterDropEstimate, k.dropped)
	}
	// The stack counts what passed IP's checks: the flood's sources in
	// 127/8 (1 in 190) are dropped before (ip.drop.BadSource).
	if s := float64(c.TCPSynFilterSampled); s > float64(k.passed) || s < 0.98*float64(k.passed) || c.TCPSynFilterProven == 0 {
		t.Fatalf("counted %d sampled (the filter passed %d), %d proven", c.TCPSynFilterSampled, k.passed, c.TCPSynFilterProven)
	}
	// The flood ends: off after synCalmWindows windows, on the timer alone.
	end := n.now
	for n.now.Sub(end) < 2*time.Second && k.f != nil {
		d := n.b.NextDeadline()
		if d.IsZero() {
			t.Fatal("filter on and no deadline to take it off")
		}
		n.floodStep(nil, 0, max(d.Sub(n.now), time.Millisecond), func() {})
		k.sync(n.b)
	}
	if off := n.now.Sub(end); k.f != nil || off < (synCalmWindows-1)*synWindow || off > (synCalmWindows+2)*synWindow {
		t.Fatalf("filter %+v %v after the flood", k.f, off)
	}
	if c.TCPSynFloods != 1 || k.installed < 2 {
		t.Fatalf("%d floods, %d filters installed", c.TCPSynFloods, k.installed)
	}
	// No flood: no filter, and no deadline of the guard's.
	installed := k.installed
	guardFlood(n, k, f, 0, time.Second)
	guardConnect(t, n, ln, k)
	if k.installed != installed || !n.b.synDeadline().IsZero() {
		t.Fatalf("filters installed %d -> %d without a flood, deadline %v", installed, k.installed, n.b.synDeadline())
	}
}

// TestSynGuardNoHalfOpenAfterFlood: with a share small enough that the
// flood's embryos never fill half the SYN queue (so neither a full queue
// nor a half-full one prunes them, fsm/tcp synAckLimit), nothing is left
// half-open one RTO after the flood's last SYN: the stack told TCP it was
// under a flood (tcp.Layer.SetSynFlood). Without it 200 were.
func TestSynGuardNoHalfOpenAfterFlood(t *testing.T) {
	n, ln, k := guardSim(t, 200, addrA)
	f := &synFlood{rng: rand.New(rand.NewPCG(75, 76))}
	guardFlood(n, k, f, 50_000, 2*time.Second)
	syn0, _ := n.b.fds.socks[ln].ln.QueueLens()
	for end := n.now; n.now.Sub(end) < 1100*time.Millisecond; {
		n.floodStep(nil, 0, 10*time.Millisecond, func() {})
		k.sync(n.b)
	}
	if syn, _ := n.b.fds.socks[ln].ln.QueueLens(); syn0 < 100 || syn != 0 {
		t.Fatalf("%d half-open at the flood's end, %d 1.1 s after", syn0, syn)
	}
}

// TestSynGuardClasses: without a gateway, off-link sources have no route
// back (the stack drops their SYNs, IPNoRouteIn), so under their flood the
// filter passes only synNoRouteAdmit of them, to count them, and all the
// on-link ones; an on-link flood then gets its own share, down to about
// Budget, while the off-link one keeps its.
func TestSynGuardClasses(t *testing.T) {
	n, _, k := guardSim(t, 5000, wire.Addr{})
	f := &synFlood{rng: rand.New(rand.NewPCG(81, 82))}
	guardFlood(n, k, f, 50_000, time.Second)
	if k.f == nil || k.f.AdmitOffLink != synNoRouteAdmit || k.f.AdmitOnLink != AdmitAll {
		t.Fatalf("filter %+v under an off-link flood with no gateway", k.f)
	}
	est0, drop0 := n.b.Counters().TCPSynFilterDropEstimate, k.dropped
	f.onLink = 0.5
	passed := guardFlood(n, k, f, 100_000, 2*time.Second)
	share := float64(k.f.AdmitOnLink) / (1 << 32)
	if k.f.AdmitOffLink != synNoRouteAdmit || share < 0.07 || share > 0.13 {
		t.Fatalf("filter %+v (on-link share %.3f) under 50,000 SYNs/s from each class: want on-link about 0.1", k.f, share)
	}
	budget := n.b.cfg.SynGuard.withDefaults().Budget
	if off := 25_000 / 64; passed < budget*7/10+off || passed > budget*13/10+off {
		t.Fatalf("%d unproven SYNs passed in the last second: want about %d on-link and %d off-link", passed, budget, off)
	}
	est, drop := float64(n.b.Counters().TCPSynFilterDropEstimate-est0), float64(k.dropped-drop0)
	if est < 0.95*drop || est > 1.05*drop {
		t.Fatalf("estimated drops %.0f, true %.0f", est, drop)
	}
}

// TestSynGuardNotBelowOnRate: SYNs from unproven sources below OnRate, and
// any number from a proven one, never turn the filter on.
func TestSynGuardNotBelowOnRate(t *testing.T) {
	n, ln, k := guardSim(t, 5000, addrA)
	f := &synFlood{rng: rand.New(rand.NewPCG(67, 68))}
	on := n.b.cfg.SynGuard.withDefaults().OnRate
	guardFlood(n, k, f, on*8/10, time.Second)
	for range 2000 { // 20,000 SYNs/s from A
		f.sendFrom(n.b, n.now, addrA)
		if k.installed > 0 {
			break
		}
		n.floodStep(nil, 0, 100*time.Microsecond, func() {})
		k.sync(n.b)
	}
	guardConnect(t, n, ln, k)
	if k.installed != 0 || n.b.Counters().TCPSynFloods != 0 {
		t.Fatalf("filter installed %d times below OnRate", k.installed)
	}
	// Off: never, whatever the rate.
	n.b.guard.cfg.Off = true
	guardFlood(n, k, f, 5*on, time.Second)
	if k.installed != 0 {
		t.Fatal("a filter with SynGuard.Off")
	}
}

// TestSynGuardProvenBounded: the proven sources are the last MaxProven
// accepted, each forgotten ProvenTTL after its last connection; a filter
// carries them in order, and a new one is wanted when they change.
func TestSynGuardProvenBounded(t *testing.T) {
	s := New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 70, Gateway: addrA})
	now := time.Unix(1_700_000_000, 0)
	addr := func(i int) wire.Addr { return wire.Addr{10, 0, byte(i >> 8), byte(i)} }
	for i := range 2 * MaxProven {
		s.synAccepted(now.Add(time.Duration(i)*time.Second), addr(i))
	}
	s.synAccepted(now.Add(200*time.Second), addr(MaxProven)) // refreshed
	got := s.provenList()
	if len(got) != MaxProven || !slices.IsSortedFunc(got, func(a, b wire.Addr) int { return slices.Compare(a[:], b[:]) }) {
		t.Fatalf("%d proven (sorted %v): want %d", len(got), got, MaxProven)
	}
	for i := range 2 * MaxProven {
		if want := i >= MaxProven; slices.Contains(got, addr(i)) != want {
			t.Fatalf("source %d proven %v, want %v", i, !want, want)
		}
	}
	ttl := s.guard.cfg.ProvenTTL
	s.synExpire(now.Add(2*MaxProven*time.Second - time.Second + ttl)) // all but the refreshed one's
	if got := s.provenList(); !slices.Equal(got, []wire.Addr{addr(MaxProven)}) {
		t.Fatalf("after ProvenTTL: %v", got)
	}
	s.synExpire(now.Add(200*time.Second + ttl))
	if got := s.provenList(); len(got) != 0 {
		t.Fatalf("after ProvenTTL of the last: %v", got)
	}
}

// TestSynGuardLinkWithoutFilter: when the link cannot install the filter,
// the failure is counted and the stack counts every SYN as seen (its rate
// estimate is then the true rate, not one scaled by a share).
func TestSynGuardLinkWithoutFilter(t *testing.T) {
	n := newSim(t, 71)
	n.b = New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 72, Gateway: addrA})
	if _, err := n.b.Listen(n.now, 80, 0); err != nil {
		t.Fatal(err)
	}
	f := &synFlood{rng: rand.New(rand.NewPCG(73, 74))}
	wanted := 0
	for range 1000 {
		for range 50 {
			f.send(n.b, n.now)
		}
		n.floodStep(nil, 0, time.Millisecond, func() {})
		if fl, changed := n.b.SynFilterUpdate(); changed {
			wanted++
			n.b.SynFilterInstalled(fl, false)
		}
	}
	c := n.b.Counters()
	if wanted == 0 || c.TCPSynFilterFailed != uint64(wanted) || c.TCPSynFilterSampled != 0 || c.TCPSynFilterDropEstimate != 0 {
		t.Fatalf("wanted %d filters, counters %+v", wanted, c)
	}
	if fl, _ := n.b.SynFilterUpdate(); fl == nil || wanted > 3 {
		t.Fatalf("filter %+v wanted %d times: want one (the share holds at the true rate)", fl, wanted)
	}
}
