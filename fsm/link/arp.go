package link

import (
	"fmt"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// NeighborState is the state of one ARP cache entry: a state of the neighbour
// machine of spec/arp.fsm.
type NeighborState = ARPState

// Neighbour states (spec/arp.fsm).
const (
	Incomplete = ARPStateIncomplete // request sent, no reply yet; frames wait
	Reachable  = ARPStateReachable  // learned recently
	Stale      = ARPStateStale      // learned long ago; used, refreshed on first use
	Failed     = ARPStateFailed     // unanswered; frames dropped until FailedTime passed
)

// Defaults applied by NewARP to zero ARPConfig fields.
const (
	DefaultARPSize        = 256
	DefaultReachableTime  = 30 * time.Second
	DefaultStaleTime      = 60 * time.Second
	DefaultRetryInterval  = time.Second // RFC 1122 §2.3.2.1: at most one request a second
	DefaultMaxProbes      = 3
	DefaultMaxPending     = 64 // a 65535-byte datagram is 45 fragments at MTU 1500
	DefaultFailedTime     = 5 * time.Second
	DefaultRequestsPerSec = 50
	DefaultPendingTotal   = 256 // frames waiting over all neighbours
)

// ARPConfig bounds and times the neighbour cache.
type ARPConfig struct {
	Size           int           // most entries (default 256)
	ReachableTime  time.Duration // Reachable -> Stale after this (default 30 s)
	StaleTime      time.Duration // Stale entries are removed after this (default 60 s)
	RetryInterval  time.Duration // between ARP requests while Incomplete (default 1 s; RFC 1122 §2.3.2.1 rate limit)
	MaxProbes      int           // requests before giving up (default 3)
	MaxPending     int           // frames held per unresolved neighbour (default 64)
	FailedTime     time.Duration // how long a Failed entry drops frames before a new try (default 5 s)
	RequestsPerSec int           // most new-resolution requests sent per second over all neighbours (default 50)
	// MaxUnresolved bounds the entries nobody has answered (INCOMPLETE or
	// FAILED): default Size/4. Known neighbours keep the rest of the table.
	MaxUnresolved int
	// MaxPendingTotal bounds the frames waiting for resolution over all
	// neighbours (default 256), so that unresolved neighbours cannot take
	// the frame buffers that known ones need.
	MaxPendingTotal int
	// Learned, if not nil, is called for every received ARP packet the
	// cache took its sender's address from (the entry is then REACHABLE
	// at mac), with whether the packet was addressed to us. A host whose
	// link is shared by several caches (the loops of a multi-loop
	// netspec.Stack: ARP reaches only one of them) passes it on to the
	// others' Heard.
	Learned func(ip wire.Addr, mac wire.MAC, forUs bool)
}

func (c *ARPConfig) defaults() {
	if c.Size <= 0 {
		c.Size = DefaultARPSize
	}
	if c.ReachableTime <= 0 {
		c.ReachableTime = DefaultReachableTime
	}
	if c.StaleTime <= 0 {
		c.StaleTime = DefaultStaleTime
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.MaxProbes <= 0 {
		c.MaxProbes = DefaultMaxProbes
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.FailedTime <= 0 {
		c.FailedTime = DefaultFailedTime
	}
	if c.RequestsPerSec <= 0 {
		c.RequestsPerSec = DefaultRequestsPerSec
	}
	if c.MaxUnresolved <= 0 || c.MaxUnresolved > c.Size {
		c.MaxUnresolved = max(1, c.Size/4)
	}
	if c.MaxPendingTotal <= 0 {
		c.MaxPendingTotal = DefaultPendingTotal
	}
}

// ARPHooks are how the cache acts: it asks for requests to be sent, hands back
// frames whose next hop became known, and gives up frames it must drop.
type ARPHooks struct {
	Request func(target wire.Addr)           // broadcast a who-has for target
	Send    func(frame []byte, dst wire.MAC) // a waiting frame may leave now
	Drop    func(frame []byte, r Reason)     // a waiting frame is dropped
}

// ARPCounters are the cache's counters. Drops is indexed by ARPReason (the
// reasons of spec/arp.fsm); Rules counts how often each rule fired.
type ARPCounters struct {
	Requests        uint64 // who-has requests asked for
	RequestsLimited uint64 // requests suppressed by the global rate limit
	Internal        uint64 // internal errors: rows of spec/arp.fsm marked impossible that fired (0 in a correct stack)
	Drops           [NumARPReasons]uint64
	Rules           [len(ARPRules)]uint64
}

// neighbor is one slot of the cache: a neighbour machine and its queue.
type neighbor struct {
	ip      wire.Addr
	mac     wire.MAC
	state   ARPState
	until   time.Time // deadline of the state's timer
	touched time.Time // last state change, for eviction order
	probes  int
	pending [][]byte
}

// ARP is the neighbour cache of RFC 826 with RFC 1122 §2.3.2 timeouts and
// bounded queues. Each entry runs the machine of spec/arp.fsm. It holds no
// clock: every call takes now.
type ARP struct {
	cfg   ARPConfig
	hooks ARPHooks
	ours  wire.Addr
	slots []neighbor          // fixed table; state None means free
	index map[wire.Addr]int32 // ip -> slot
	// seen counts the entries per bucket of a hash of their address (a
	// counting filter in front of index): an address whose bucket counts
	// none has no entry, found without a map lookup; the common case of a
	// flood from spoofed sources. 16 buckets an entry at the default Size;
	// more entries only make the filter pass more addresses to index.
	seen  [1 << seenBits]uint32
	used  int
	count [NumARPStates]int // slots in each state (count[None]: the free ones)
	held  int               // frames waiting over all entries (ARPConfig.MaxPendingTotal)
	next  time.Time         // NextDeadline's answer, valid while !dirty
	dirty bool              // an entry's state or deadline changed since next was computed
	c     ARPCounters
	m     ARPMachine[arpRun] // spec/arp.fsm, for every entry

	// the event being processed
	now   time.Time
	n     *neighbor
	frame []byte
	forUs bool
	sha   wire.MAC
	room  bool // a free slot (after eviction) exists for a new entry

	// global request rate limit (token bucket, RFC 1122 §2.3.2.1)
	tokens int
	refill time.Time
	spare  neighbor // runs the machine for an address with no slot
}

// NewARP returns an empty cache for our address.
func NewARP(ours wire.Addr, cfg ARPConfig, hooks ARPHooks) *ARP {
	cfg.defaults()
	a := &ARP{cfg: cfg, hooks: hooks, ours: ours,
		slots: make([]neighbor, cfg.Size), index: make(map[wire.Addr]int32, cfg.Size),
		tokens: cfg.RequestsPerSec}
	a.count[ARPStateNone] = cfg.Size
	a.m = NewARPMachine[arpRun]()
	a.m.Count(a.c.Rules[:], a.c.Drops[:])
	a.m.CountInternal(&a.c.Internal)
	return a
}

// SetTrace installs fn, called with every rule that fires; nil removes it.
func (a *ARP) SetTrace(fn func(*ARPRule)) { a.m.Hooks.Row = fn }

// arpRun is the context of one step of a neighbour machine: the cache, whose
// entry a.n and event being processed the guards and actions below read
// (ARPImpl).
type arpRun struct{ *ARP }

// Counters returns a copy of the cache's counters.
func (a *ARP) Counters() ARPCounters { return a.c }

// Len returns the number of entries.
func (a *ARP) Len() int { return a.used }

// Unresolved returns how many entries wait for an answer or gave up
// (INCOMPLETE or FAILED, at most ARPConfig.MaxUnresolved) and how many
// frames wait for resolution (at most MaxPendingTotal).
func (a *ARP) Unresolved() (entries, frames int) { return a.unresolved(), a.held }

// unresolved counts the entries nobody has answered (INCOMPLETE or FAILED).
func (a *ARP) unresolved() int { return a.count[Incomplete] + a.count[Failed] }

// Lookup returns the hardware address of ip if it is known.
func (a *ARP) Lookup(ip wire.Addr) (wire.MAC, bool) {
	n := a.get(ip)
	if n == nil || (n.state != Reachable && n.state != Stale) {
		return wire.MAC{}, false
	}
	return n.mac, true
}

// State returns the state of ip's entry and whether one exists.
func (a *ARP) State(ip wire.Addr) (NeighborState, bool) {
	n := a.get(ip)
	if n == nil {
		return 0, false
	}
	return n.state, true
}

// seenBits: ARP.seen has 2^seenBits buckets.
const seenBits = 12

// bucket is ip's counter in seen (Fibonacci hashing: the top bits of the
// address times 2^32/phi).
func bucket(ip wire.Addr) uint32 {
	return (uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])) * 0x9e3779b1 >> (32 - seenBits)
}

func (a *ARP) get(ip wire.Addr) *neighbor {
	if a.seen[bucket(ip)] == 0 {
		return nil
	}
	if i, ok := a.index[ip]; ok {
		return &a.slots[i]
	}
	return nil
}

// step runs one event through n's machine (spec/arp.fsm).
func (a *ARP) step(n *neighbor, ev ARPEvent) {
	state, until, used := n.state, n.until, a.used
	a.n = n
	rule := a.m.Step(arpRun{a}, n.state, ev)
	n = a.n // Create moves the machine from the spare into a slot
	if n.state != rule.Next {
		n.touched = a.now
	}
	n.state = rule.Next
	if n.state != state {
		a.count[state]-- // from None: Create took a free slot
		a.count[n.state]++
	}
	if n.state != state || !n.until.Equal(until) || a.used != used {
		a.dirty = true
	}
	a.n, a.frame = nil, nil
}

// Eviction orders (evict): what a new entry may take the slot of, in order,
// oldest first within a state. A resolution we start may take only entries
// nobody answers, or a STALE one when known neighbours fill the table; it
// never takes a REACHABLE or INCOMPLETE one. A neighbour that asked for us
// (it is there) may take any slot.
var (
	evictForResolve = []ARPState{Failed, Stale}
	evictForHeard   = []ARPState{Failed, Incomplete, Stale, Reachable}
)

// entry returns ip's slot, or the spare (in state None) when it has none; for
// the spare it makes room first for a resolution (Send) or for a neighbour
// that asked for us (heard), as room says.
func (a *ARP) entry(ip wire.Addr, room roomFor) *neighbor {
	if n := a.get(ip); n != nil {
		return n
	}
	if a.room = a.roomFor(room); a.room && a.used == len(a.slots) {
		a.evict(room.order())
	}
	a.spare = neighbor{ip: ip, pending: a.spare.pending[:0]}
	return &a.spare
}

// roomFor reports whether a new entry for room would get a slot
// (GuardNoRoom): a free one, or the one evict(room.order()) frees, which
// entry then frees. It changes nothing, so WouldDrop asks it too. O(1): at
// the bound of unanswered entries no resolution gets a slot until one of
// them answers or times out, and an entry to evict exists when one is in a
// state of the order, so a flood of new sources costs no table scan per
// frame.
func (a *ARP) roomFor(room roomFor) bool {
	switch {
	case room == roomNone, room == roomResolve && a.atUnresolvedBound():
		return false
	case a.used < len(a.slots):
		return true
	}
	for _, s := range room.order() {
		if a.count[s] > 0 {
			return true
		}
	}
	return false
}

// roomFor says for what entry makes room.
type roomFor uint8

const (
	roomNone    roomFor = iota // no new entry (RFC 826: not the target)
	roomResolve                // a frame to send to an unknown neighbour
	roomHeard                  // a neighbour that asked for us
)

// order is what an entry made for r may evict, in order (nil: nothing).
func (r roomFor) order() []ARPState {
	switch r {
	case roomResolve:
		return evictForResolve
	case roomHeard:
		return evictForHeard
	}
	return nil
}

// Resolve sends frame to ip: at once when ip is known, otherwise after ARP
// resolves it (the frame waits in a bounded queue). The cache owns frame until
// it passes it to Send or Drop.
func (a *ARP) Resolve(now time.Time, ip wire.Addr, frame []byte) {
	a.now, a.frame = now, frame
	if n := a.get(ip); n != nil && sendsOnly[n.state] {
		// The fast path (a REACHABLE neighbour, with today's spec): the
		// row Send fires in n's state only transmits, so it changes no
		// entry, bound or deadline and step's bookkeeping has nothing to
		// do. The machine still fires the row: counted, traced, Transmit
		// performed.
		a.n = n
		a.m.Step(arpRun{a}, n.state, ARPEvSend)
		a.n, a.frame = nil, nil
		return
	}
	a.step(a.entry(ip, roomResolve), ARPEvSend)
}

// atUnresolvedBound: the entries nobody answered fill their share of the
// table (ARPConfig.MaxUnresolved), so no new resolution gets a slot.
func (a *ARP) atUnresolvedBound() bool { return a.unresolved() >= a.cfg.MaxUnresolved }

// queueFull: n's queue, or the frames held for all unresolved neighbours,
// reached its bound.
func (a *ARP) queueFull(n *neighbor) bool {
	return len(n.pending) >= a.cfg.MaxPending || a.held >= a.cfg.MaxPendingTotal
}

// Suspect takes negative advice about the neighbour ip from an upper layer
// (RFC 1122 §2.3.2.1; TCP gives it after R1 retransmissions, RFC 9293
// §3.8.3): a REACHABLE entry's confirmation is treated as expired, through
// the spec's Reachable Timer row, so it turns STALE and the next frame to
// it asks the neighbour again with one request. Entries in other states
// are already being probed or unused; it reports whether the entry changed.
func (a *ARP) Suspect(now time.Time, ip wire.Addr) bool {
	n := a.get(ip)
	if n == nil || n.state != Reachable {
		return false
	}
	a.now = now
	a.step(n, ARPEvTimer)
	return true
}

// Input handles one received ARP packet (the Ethernet payload). It implements
// RFC 826's "Packet Reception": update the sender's entry if we have one, add it
// when we are the target, and report whether a reply is due (the caller builds
// it with wire.PutARP). It returns a drop reason for packets it ignores.
func (a *ARP) Input(now time.Time, pkt []byte) (reply bool, r Reason) {
	p, err := wire.ParseARP(pkt)
	if err != nil {
		return false, ReasonARPMalformed
	}
	spa, sha := p.SenderIP(), p.SenderMAC()
	forUs := p.TargetIP() == a.ours
	if !a.learnable(spa, sha) {
		// ARP probes (RFC 5227) carry sender 0.0.0.0: answer, learn nothing.
		// A claim of our own address is a conflict (RFC 5227 §2.4): never learned.
		return forUs && p.Op() == wire.ARPRequest && spa != a.ours, ReasonNone
	}
	a.heard(now, spa, sha, forUs)
	if n := a.get(spa); a.cfg.Learned != nil && n != nil && n.state == Reachable && n.mac == sha {
		a.cfg.Learned(spa, sha, forUs)
	}
	if !forUs {
		return false, ReasonARPNotForUs
	}
	return p.Op() == wire.ARPRequest, ReasonNone
}

// Heard replays in this cache an ARP packet another cache of the same host
// took ip at mac from (ARPConfig.Learned), addressed to us or not: the
// spec's Heard rows run as if the packet had come here (RFC 826 reception),
// so the entry is created (forUs) or confirmed and the frames waiting for
// ip leave. Learned is not called for it.
func (a *ARP) Heard(now time.Time, ip wire.Addr, mac wire.MAC, forUs bool) {
	if a.learnable(ip, mac) {
		a.heard(now, ip, mac, forUs)
	}
}

// learnable reports whether an ARP sender's addresses may enter the cache.
func (a *ARP) learnable(spa wire.Addr, sha wire.MAC) bool {
	return !spa.IsUnspecified() && !spa.IsLimitedBroadcast() && !spa.IsMulticast() && spa != a.ours &&
		!sha.IsMulticast() && sha != (wire.MAC{})
}

// heard runs the Heard event for the sender (spa, sha) of an ARP packet.
func (a *ARP) heard(now time.Time, spa wire.Addr, sha wire.MAC, forUs bool) {
	a.now, a.forUs, a.sha = now, forUs, sha
	room := roomNone
	if forUs {
		room = roomHeard
	}
	a.step(a.entry(spa, room), ARPEvHeard)
}

// Poll runs the timers of entries whose deadline passed: retries requests,
// gives up on silent neighbours and ages entries.
func (a *ARP) Poll(now time.Time) {
	if a.used == 0 {
		return
	}
	a.now = now
	for i := range a.slots {
		n := &a.slots[i]
		if n.state != ARPStateNone && !now.Before(n.until) {
			a.step(n, ARPEvTimer)
		}
	}
}

// NextDeadline is when Poll next has work; zero when the cache is empty. The
// driver asks after every event, so the answer is kept until an entry's state
// or deadline changes (step, evict) rather than scanning the table each time.
func (a *ARP) NextDeadline() time.Time {
	if a.used == 0 {
		return time.Time{}
	}
	if !a.dirty {
		return a.next
	}
	var d time.Time
	for i := range a.slots {
		n := &a.slots[i]
		if n.state != ARPStateNone && (d.IsZero() || n.until.Before(d)) {
			d = n.until
		}
	}
	a.next, a.dirty = d, false
	return d
}

// evict frees the slot of the entry least worth keeping: the oldest entry
// in the first state of order that has one (evictForResolve,
// evictForHeard). It reports whether a slot was freed.
func (a *ARP) evict(order []ARPState) bool {
	rank := func(s ARPState) int {
		for i, o := range order {
			if s == o {
				return i
			}
		}
		return len(order)
	}
	var victim *neighbor
	vr := len(order)
	for i := range a.slots {
		n := &a.slots[i]
		r := rank(n.state)
		if r < vr || r == vr && r < len(order) && n.touched.Before(victim.touched) {
			victim, vr = n, r
		}
	}
	if victim == nil {
		return false
	}
	a.dirty = true
	saveN, saveF := a.n, a.frame
	a.step(victim, ARPEvEvict)
	a.n, a.frame = saveN, saveF
	return true
}

// request asks for a who-has for ip unless the global rate limit is spent.
// The limit is for new resolutions: a known neighbour's refresh (limited
// false) is at most one per entry per ReachableTime already, and must not
// wait behind requests for neighbours that never answer.
func (a *ARP) request(ip wire.Addr, limited bool) {
	if !limited {
		a.c.Requests++
		a.hooks.Request(ip)
		return
	}
	rate := a.cfg.RequestsPerSec
	if a.refill.IsZero() {
		a.refill = a.now
	}
	if el := a.now.Sub(a.refill); el > 0 {
		if add := int(el * time.Duration(rate) / time.Second); add > 0 {
			a.tokens = min(rate, a.tokens+add)
			a.refill = a.now
		}
	}
	if a.tokens == 0 {
		a.c.RequestsLimited++
		return
	}
	a.tokens--
	a.c.Requests++
	a.hooks.Request(ip)
}

// GuardForUs: the packet heard is addressed to us (RFC 826: then the sender
// is learned).
func (a arpRun) GuardForUs() bool { return a.forUs }

// GuardNoRoom: no slot is free for a new entry, even after eviction.
func (a arpRun) GuardNoRoom() bool { return !a.room }

// GuardQueueFull: the neighbour's queue, or the frames held for all
// unresolved neighbours, reached its bound.
func (a arpRun) GuardQueueFull() bool { return a.queueFull(a.n) }

// GuardProbesLeft: fewer than MaxProbes requests went out.
func (a arpRun) GuardProbesLeft() bool { return a.n.probes < a.cfg.MaxProbes }

// GuardProbed: a request went out since the entry was last confirmed.
func (a arpRun) GuardProbed() bool { return a.n.probes > 0 }

// ActCreate moves the spare entry into a free slot.
func (a arpRun) ActCreate() {
	for i := range a.slots {
		s := &a.slots[i]
		if s.state == ARPStateNone {
			pend := s.pending[:0]
			*s = neighbor{ip: a.n.ip, touched: a.now, pending: pend}
			a.index[s.ip] = int32(i)
			a.seen[bucket(s.ip)]++
			a.used++
			a.n = s
			return
		}
	}
}

// ActProbe sends a request and schedules the next (RFC 1122 §2.3.2.1).
func (a arpRun) ActProbe() {
	n := a.n
	n.probes++
	n.until = a.now.Add(a.cfg.RetryInterval)
	a.request(n.ip, true)
}

// ActQueue holds the frame until the neighbour resolves.
func (a arpRun) ActQueue() {
	if a.n.pending == nil {
		a.n.pending = make([][]byte, 0, min(a.cfg.MaxPending, 4))
	}
	a.n.pending = append(a.n.pending, a.frame)
	a.held++
	a.frame = nil
}

// ActTransmit sends the frame to the known hardware address. It changes no
// entry (Resolve's fast path relies on it).
func (a arpRun) ActTransmit() { a.hooks.Send(a.frame, a.n.mac); a.frame = nil }

// ActLearn records the sender's hardware address (RFC 826) and confirms the
// entry for ReachableTime.
func (a arpRun) ActLearn() {
	n := a.n
	n.mac = a.sha
	n.until = a.now.Add(a.cfg.ReachableTime)
	n.probes = 0
}

// ActFlush sends the frames that waited for the address.
func (a arpRun) ActFlush() {
	n := a.n
	for i, f := range n.pending {
		a.hooks.Send(f, n.mac)
		n.pending[i] = nil
	}
	a.held -= len(n.pending)
	n.pending = n.pending[:0]
}

// ActRefresh asks once whether a stale neighbour is still there.
func (a arpRun) ActRefresh() { a.n.probes = 1; a.request(a.n.ip, false) }

// ActAge times a stale entry out after StaleTime.
func (a arpRun) ActAge() { a.n.until = a.now.Add(a.cfg.StaleTime) }

// ActFail drops the waiting frames and keeps the failure for FailedTime.
func (a arpRun) ActFail() {
	n := a.n
	for i, f := range n.pending {
		a.hooks.Drop(f, ReasonARPFailed)
		n.pending[i] = nil
	}
	a.held -= len(n.pending)
	n.pending = n.pending[:0]
	n.until = a.now.Add(a.cfg.FailedTime)
}

// ActForget frees the entry's slot.
func (a arpRun) ActForget() {
	n := a.n
	if n == &a.spare {
		return
	}
	delete(a.index, n.ip)
	a.seen[bucket(n.ip)]--
	a.used--
	pend := n.pending[:0]
	*n = neighbor{pending: pend}
}

// ActDropFrame drops the frame to send for the firing rule's reason.
func (a arpRun) ActDropFrame() {
	r := ReasonARPUnresolved
	switch a.m.Firing().Reason {
	case ARPDropNoRoom:
		r = ReasonARPNoRoom
	case ARPDropQueueFull:
		r = ReasonARPQueueFull
	}
	a.hooks.Drop(a.frame, r)
	a.frame = nil
}

// CheckInvariants checks the cache against the machines that own its slots
// (spec/arp.fsm): a slot is claimed (Create) exactly when its machine is out
// of None, and a claimed slot is indexed under its address; the count of
// claimed slots is the cache's length; a free slot holds no queued frame
// (Forget and Flush/Fail gave them back). A row that reaches None without
// Forget, or leaves it without Create, is reported, and so is a row marked
// impossible in the spec that fired (ARPCounters.Internal). nil means all
// hold.
func (a *ARP) CheckInvariants() error {
	if a.c.Internal != 0 {
		for i := range ARPRules {
			if ARPRules[i].Outcome == ARPOutImpossible && a.c.Rules[i] != 0 {
				return fmt.Errorf("link: %d impossible rows fired (arp.Internal), among them %s", a.c.Internal, ARPRules[i].String())
			}
		}
		return fmt.Errorf("link: %d impossible rows fired (arp.Internal)", a.c.Internal)
	}
	used, count, seen := 0, [NumARPStates]int{}, [len(a.seen)]uint32{}
	for i := range a.slots {
		n := &a.slots[i]
		count[n.state]++
		if n.state != ARPStateNone {
			seen[bucket(n.ip)]++
		}
		idx, ok := a.index[n.ip]
		indexed := ok && int(idx) == i
		if live := n.state != ARPStateNone; live != indexed {
			return fmt.Errorf("link: ARP slot %d (%v) in %v is indexed=%v (Create and Forget must pair with leaving and entering None)", i, n.ip, n.state, indexed)
		}
		if n.state == ARPStateNone {
			if len(n.pending) != 0 {
				return fmt.Errorf("link: free ARP slot %d holds %d queued frames", i, len(n.pending))
			}
			continue
		}
		used++
	}
	if used != a.used || len(a.index) != used {
		return fmt.Errorf("link: ARP cache has %d live slots, counts %d, indexes %d", used, a.used, len(a.index))
	}
	if count != a.count {
		return fmt.Errorf("link: ARP cache has %v entries by state, counts %v", count, a.count)
	}
	if seen != a.seen {
		return fmt.Errorf("link: ARP cache's address filter does not count its entries")
	}
	return nil
}
