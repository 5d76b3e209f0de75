package stack

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// SYN admission under a flood (docs/robustness.md, "SYN admission in the
// kernel"; docs/architecture.md). A SYN flood costs a user-space stack
// every SYN it reads: the kernel's copy into the link's ring, the stack's input and, with a route
// back, a cookie and a SYN,ACK; and the flooder runs free, where the
// kernel's own TCP pays for each SYN in softirq within the flooder's time
// slice. So while the stack is under a flood it asks the driver for a
// filter in the kernel (SynFilter; driver/afpacket compiles it into classic
// BPF on the link's sockets) that drops the excess flood SYNs before they
// are copied: the SYNs of proven sources always pass, of the others a share
// sized to Budget, and every other frame passes. This file is the policy:
// when the filter goes on and off, which sources are proven, what share
// passes, and the counts. It decides on windows of synWindow of the time it
// is given, and knows the SYNs the kernel dropped only as an estimate (the
// kernel counts none of what a filter drops).
//
// Under a flood is: in one window, the SYNs to listening ports from sources
// not proven come at OnRate or more (estimated through the shares, while a
// filter is on) and fewer than half as many connections from unproven
// sources were accepted (a flash crowd of real clients completes its
// handshakes, a flood does not). It ends after synCalmWindows windows in a
// row below OnRate/2. Proven are the sources of the last MaxProven
// connections accepted (Stack.Accept) within ProvenTTL: a spoofed source
// equal to one of them passes, as it would without the filter. The others
// fall in two classes with a share each, so that a flood from one does not
// shut out the other's new clients: on-link sources (the subnet) and
// off-link ones. Each class is sampled down to Budget SYNs/s, or not at
// all below it; off-link sources with no route back (no gateway) are
// dropped by the stack anyway (stack.IPNoRouteIn), so of those the filter
// passes only synNoRouteAdmit, enough to count them.

// SynFilter is the SYN admission filter a stack under a SYN flood wants on
// its link (Stack.SynFilterUpdate). The driver passes every frame but a bare
// SYN (SYN without ACK or RST) over IPv4 to one of Ports, and of those
// passes the ones from a Proven source and, of the others, a random share:
// AdmitOnLink out of 2^32 of those from the stack's own subnet (Subnet,
// SubnetBits), AdmitOffLink of the rest. A share of AdmitAll passes all.
type SynFilter struct {
	Ports      []uint16    // listening ports whose SYNs it judges, ascending
	Proven     []wire.Addr // sources whose SYNs always pass, ascending
	Subnet     wire.Addr   // the on-link prefix (host bits zero)
	SubnetBits int         // its length, 0..32
	// The shares of the other SYNs that pass, out of 2^32, by source.
	AdmitOnLink, AdmitOffLink uint32
}

// AdmitAll is the share of a SynFilter that passes every SYN of its class.
const AdmitAll = 1<<32 - 1

// SynGuardConfig tunes SYN admission (Config.SynGuard). Zero fields take
// the defaults.
type SynGuardConfig struct {
	// Off: never ask for a filter.
	Off bool
	// OnRate is the rate of bare SYNs to listening ports from unproven
	// sources, per second, at which the filter goes on (default 10,000).
	OnRate int
	// Budget is the rate of those SYNs the filter lets through while on,
	// per second and class of source (on-link, off-link): what the loop
	// answers of a flood (default 20,000: docs/robustness.md weighs it
	// against a new client's wait).
	Budget int
	// MaxProven bounds the proven sources (default and at most MaxProven).
	MaxProven int
	// ProvenTTL is how long a source stays proven after its last accepted
	// connection (default 10 minutes).
	ProvenTTL time.Duration
}

// Bounds of the SYN filter.
const (
	// MaxProven is the most proven sources a filter carries.
	MaxProven = 64
	// MaxSynFilterPorts is the most listening ports a filter judges; with
	// more listeners the stack asks for no filter.
	MaxSynFilterPorts = 16
)

const (
	synWindow      = 100 * time.Millisecond // one decision per window
	synCalmWindows = 10                     // windows below OnRate/2 that end a flood
	synMinAdmit    = 1 << 16                // the smallest share: 1/65536
	synShareSlack  = 1.25                   // the share changes the filter beyond this factor
	synFloodLinger = 2 * time.Second        // embryos are pruned this long after a flood decision
	// synNoRouteAdmit is the share of SYNs from sources with no route back
	// that passes (1/64): the stack drops them, the sample counts them
	// (within ~3 % over a second of 100,000/s).
	synNoRouteAdmit = 1 << 26
)

// SYN classes, by source.
const (
	synOnLink = iota
	synOffLink
	synClasses
)

func (c SynGuardConfig) withDefaults() SynGuardConfig {
	if c.OnRate <= 0 {
		c.OnRate = 10000
	}
	if c.Budget <= 0 {
		c.Budget = 20000
	}
	if c.MaxProven <= 0 || c.MaxProven > MaxProven {
		c.MaxProven = MaxProven
	}
	if c.ProvenTTL <= 0 {
		c.ProvenTTL = 10 * time.Minute
	}
	return c
}

// synGuard is the policy's state.
type synGuard struct {
	cfg    SynGuardConfig
	winEnd time.Time // end of the open window (zero: none)
	on     bool
	calm   int // windows in a row below OnRate/2 while on

	// this window's counts
	sampled  [synClasses]uint32 // bare SYNs to filtered ports from unproven sources, by class (all of them with no filter)
	open     uint32             // bare SYNs to listening ports the filter does not judge
	newConns uint32             // connections accepted from sources not proven

	proven map[wire.Addr]time.Time // source -> its last accepted connection
	dirty  bool                    // proven changed since the filter was built

	want      *SynFilter // the filter last wanted
	changed   bool       // want changed since SynFilterUpdate
	installed *SynFilter // the filter the link has (nil: none)
	inProven  map[wire.Addr]struct{}
	dropFrac  float64  // estimated drops not yet counted (below one)
	ports     []uint16 // listenPorts' scratch
}

func (g *synGuard) init(cfg SynGuardConfig) {
	g.cfg = cfg.withDefaults()
	g.proven = make(map[wire.Addr]time.Time, g.cfg.MaxProven)
	g.inProven = make(map[wire.Addr]struct{}, g.cfg.MaxProven)
}

// synSeen is called with every bare SYN to a listening port (before any
// other check drops it) unless SynGuardConfig.Off: it counts it and
// decides when a window ends.
func (s *Stack) synSeen(now time.Time, src wire.Addr, dport uint16) {
	g := &s.guard
	s.synRoll(now)
	if f := g.installed; f != nil {
		if _, ok := slices.BinarySearch(f.Ports, dport); !ok {
			g.open++ // a listener opened since the filter was built
			return
		}
		if _, ok := g.inProven[src]; ok {
			s.ctr.TCPSynFilterProven++
			return
		}
		s.ctr.TCPSynFilterSampled++
		g.sampled[s.synClass(src)]++
		return
	}
	if t, ok := g.proven[src]; ok && now.Sub(t) < g.cfg.ProvenTTL {
		return
	}
	g.sampled[s.synClass(src)]++
}

// synClass is the class of a SYN from src.
func (s *Stack) synClass(src wire.Addr) int {
	if s.ipTx.OnLink(src) {
		return synOnLink
	}
	return synOffLink
}

// admitOf is the share of class c in f, as a fraction.
func admitOf(f *SynFilter, c int) float64 {
	a := f.AdmitOnLink
	if c == synOffLink {
		a = f.AdmitOffLink
	}
	if a == AdmitAll {
		return 1
	}
	return float64(a) / (1 << 32)
}

// synAccepted records that a connection from src completed its handshake
// and was accepted: src is proven.
func (s *Stack) synAccepted(now time.Time, src wire.Addr) {
	g := &s.guard
	if g.cfg.Off {
		return
	}
	t, ok := g.proven[src]
	if ok && now.Sub(t) < g.cfg.ProvenTTL {
		g.proven[src] = now
		return
	}
	g.newConns++
	if !ok && len(g.proven) >= g.cfg.MaxProven {
		// Evict the source whose last connection is oldest.
		var old wire.Addr
		var oldT time.Time
		for a, at := range g.proven {
			if oldT.IsZero() || at.Before(oldT) || at.Equal(oldT) && addrLess(a, old) {
				old, oldT = a, at
			}
		}
		delete(g.proven, old)
	}
	g.proven[src] = now
	g.dirty = true
}

func addrLess(a, b wire.Addr) bool { return slices.Compare(a[:], b[:]) < 0 }

// synRoll closes the windows that ended by now, deciding at each.
func (s *Stack) synRoll(now time.Time) {
	g := &s.guard
	if g.winEnd.IsZero() {
		g.winEnd = now.Add(synWindow)
		return
	}
	for !now.Before(g.winEnd) {
		s.synDecide(g.winEnd)
		g.winEnd = g.winEnd.Add(synWindow)
		if !g.on && now.Sub(g.winEnd) >= synWindow {
			g.winEnd = now.Add(synWindow) // idle: skip the empty windows
		}
	}
}

// synDecide ends the window at now: it estimates the rate of unproven
// SYNs of each class, turns the filter on or off, and resizes its shares.
func (s *Stack) synDecide(now time.Time) {
	g := &s.guard
	var rate [synClasses]float64
	seen := float64(g.open)
	for c := range synClasses {
		share := 1.0
		if g.installed != nil {
			share = admitOf(g.installed, c)
		}
		n := float64(g.sampled[c])
		if share > 0 && share < 1 {
			g.dropFrac += n * (1 - share) / share
			n /= share
		}
		rate[c] = n / synWindow.Seconds()
		seen += n
	}
	if d := uint64(g.dropFrac); d > 0 {
		s.ctr.TCPSynFilterDropEstimate += d
		g.dropFrac -= float64(d)
	}
	total := seen / synWindow.Seconds()
	newConns := g.newConns
	g.sampled, g.open, g.newConns = [synClasses]uint32{}, 0, 0
	s.synExpire(now)
	ports := s.listenPorts()
	switch {
	case !g.on && total >= float64(g.cfg.OnRate) && 2*float64(newConns) < seen && len(ports) > 0:
		g.on, g.calm = true, 0
		s.ctr.TCPSynFloods++
	case g.on && (len(ports) == 0 || total < float64(g.cfg.OnRate)/2):
		if g.calm++; g.calm >= synCalmWindows || len(ports) == 0 {
			g.on = false
			s.synWant(nil)
			return
		}
	case g.on:
		g.calm = 0
	}
	if !g.on {
		return
	}
	// Embryos whose SYN,ACK times out while the flood goes on, or within
	// a second of its end (2 s: one RTO past the calm windows), are the
	// flood's: released at their first timeout (fsm/tcp synAckLimit).
	s.tcp.SetSynFlood(now.Add(synFloodLinger))
	var admit [synClasses]uint32
	w := g.want
	for c := range synClasses {
		admit[c] = s.synShare(c, rate[c])
		if w != nil {
			// Down at once, up at most twofold a window: a flood that
			// pauses for a window does not get all through the next.
			prev := uint64(w.AdmitOnLink)
			if c == synOffLink {
				prev = uint64(w.AdmitOffLink)
			}
			if uint64(admit[c]) > 2*prev {
				admit[c] = uint32(min(2*prev, AdmitAll))
			}
		}
	}
	if w != nil && !g.dirty && slices.Equal(w.Ports, ports) &&
		shareClose(w.AdmitOnLink, admit[synOnLink]) && shareClose(w.AdmitOffLink, admit[synOffLink]) {
		return
	}
	bits := min(max(s.cfg.PrefixLen, 0), 32)
	mask := ^uint32(0) << (32 - bits)
	if bits == 0 {
		mask = 0
	}
	net := binary.BigEndian.Uint32(s.cfg.Addr[:]) & mask
	f := &SynFilter{Ports: slices.Clone(ports), Proven: s.provenList(), SubnetBits: bits,
		AdmitOnLink: admit[synOnLink], AdmitOffLink: admit[synOffLink]}
	binary.BigEndian.PutUint32(f.Subnet[:], net)
	s.synWant(f)
}

// synShare is the share of class c's SYNs that passes at rate (SYNs/s):
// Budget of them, all below it, and of sources with no route back only
// synNoRouteAdmit.
func (s *Stack) synShare(c int, rate float64) uint32 {
	if c == synOffLink && s.cfg.Gateway.IsUnspecified() {
		return synNoRouteAdmit
	}
	a := float64(s.guard.cfg.Budget) / rate * (1 << 32)
	switch {
	case rate <= 0 || a >= AdmitAll:
		return AdmitAll
	case a < synMinAdmit:
		return synMinAdmit
	}
	return uint32(a)
}

// shareClose reports whether shares a and b are within synShareSlack of
// each other (and either both pass all or neither does).
func shareClose(a, b uint32) bool {
	if a == AdmitAll || b == AdmitAll {
		return a == b
	}
	r := float64(a) / float64(max(b, 1))
	return r < synShareSlack && r > 1/synShareSlack
}

// synWant records f as the filter wanted.
func (s *Stack) synWant(f *SynFilter) {
	g := &s.guard
	if f == nil && g.want == nil {
		return
	}
	g.want, g.changed, g.dirty = f, true, false
}

// synExpire forgets the sources proven longer ago than ProvenTTL.
func (s *Stack) synExpire(now time.Time) {
	g := &s.guard
	for a, t := range g.proven {
		if now.Sub(t) >= g.cfg.ProvenTTL {
			delete(g.proven, a)
			g.dirty = true
		}
	}
}

// provenList returns the proven sources, ascending.
func (s *Stack) provenList() []wire.Addr {
	l := make([]wire.Addr, 0, len(s.guard.proven))
	for a := range s.guard.proven {
		l = append(l, a)
	}
	slices.SortFunc(l, func(a, b wire.Addr) int { return slices.Compare(a[:], b[:]) })
	return l
}

// listenPorts returns the ports listeners are open on, ascending, or nil
// when there are none or more than MaxSynFilterPorts. The slice is the
// guard's scratch, valid until the next call.
func (s *Stack) listenPorts() []uint16 {
	p := s.tcp.ListenPorts(s.guard.ports[:0])
	s.guard.ports = p
	if len(p) > MaxSynFilterPorts {
		return nil
	}
	slices.Sort(p)
	return slices.Compact(p)
}

// SynFilterUpdate returns the SYN admission filter the stack wants on its
// link (nil: none), with changed true when it differs from the one the last
// call returned; the driver then installs it and reports the outcome with
// SynFilterInstalled. The filter is wanted only while the stack is under a
// SYN flood (synguard.go).
func (s *Stack) SynFilterUpdate() (f *SynFilter, changed bool) {
	g := &s.guard
	if !g.changed {
		return g.want, false
	}
	g.changed = false
	return g.want, true
}

// SynFilterInstalled tells the stack whether the link installed f (from
// SynFilterUpdate): ok false (a link without a filter, or one that failed)
// leaves the stack counting every SYN as seen, as with no filter.
func (s *Stack) SynFilterInstalled(f *SynFilter, ok bool) {
	g := &s.guard
	if !ok {
		if f != nil {
			s.ctr.TCPSynFilterFailed++
		}
		return
	}
	g.installed = f
	clear(g.inProven)
	if f != nil {
		s.ctr.TCPSynFilterUpdates++
		for _, a := range f.Proven {
			g.inProven[a] = struct{}{}
		}
	}
}

// synDeadline is when the guard needs Poll: the end of the window while a
// filter is wanted (so that it goes off when the flood ends, with no
// frame arriving to end the windows), else never.
func (s *Stack) synDeadline() time.Time {
	if !s.guard.on && s.guard.installed == nil {
		return time.Time{}
	}
	return s.guard.winEnd
}
