package link

import (
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// NeighborState is the state of one ARP cache entry (after RFC 4861's NUD
// states, which Linux also uses for IPv4).
type NeighborState uint8

// Neighbour states.
const (
	Incomplete NeighborState = iota // request sent, no reply yet; frames wait
	Reachable                       // learned recently
	Stale                           // learned long ago; used, refreshed on the next request/reply
)

// ARPConfig bounds and times the neighbour cache.
type ARPConfig struct {
	Size          int           // most entries (default 256)
	ReachableTime time.Duration // Reachable -> Stale after this (default 30 s)
	StaleTime     time.Duration // Stale entries are removed after this (default 60 s)
	RetryInterval time.Duration // between ARP requests while Incomplete (default 1 s; RFC 1122 §2.3.2.1 rate limit)
	MaxProbes     int           // requests before giving up (default 3)
	MaxPending    int           // frames held per unresolved neighbour (default 16)
}

func (c *ARPConfig) defaults() {
	if c.Size <= 0 {
		c.Size = 256
	}
	if c.ReachableTime <= 0 {
		c.ReachableTime = 30 * time.Second
	}
	if c.StaleTime <= 0 {
		c.StaleTime = 60 * time.Second
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = time.Second
	}
	if c.MaxProbes <= 0 {
		c.MaxProbes = 3
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 16
	}
}

// ARPHooks are how the cache acts: it asks for requests to be sent, hands back
// frames whose next hop became known, and gives up frames it must drop.
type ARPHooks struct {
	Request func(target wire.Addr)           // broadcast a who-has for target
	Send    func(frame []byte, dst wire.MAC) // a waiting frame may leave now
	Drop    func(frame []byte, r Reason)     // a waiting frame is dropped
}

type neighbor struct {
	mac     wire.MAC
	state   NeighborState
	until   time.Time // Reachable/Stale: state change; Incomplete: next probe
	probes  int
	pending [][]byte
}

// ARP is the neighbour cache of RFC 826 with RFC 1122 §2.3.2 timeouts and
// bounded queues. It holds no clock: every call takes now.
type ARP struct {
	cfg   ARPConfig
	hooks ARPHooks
	ours  wire.Addr
	table map[wire.Addr]*neighbor
	free  []*neighbor
}

// NewARP returns an empty cache for our address.
func NewARP(ours wire.Addr, cfg ARPConfig, hooks ARPHooks) *ARP {
	cfg.defaults()
	return &ARP{cfg: cfg, hooks: hooks, ours: ours, table: make(map[wire.Addr]*neighbor, cfg.Size)}
}

// Len returns the number of entries.
func (a *ARP) Len() int { return len(a.table) }

// Lookup returns the hardware address of ip if it is known.
func (a *ARP) Lookup(ip wire.Addr) (wire.MAC, bool) {
	n := a.table[ip]
	if n == nil || n.state == Incomplete {
		return wire.MAC{}, false
	}
	return n.mac, true
}

// State returns the state of ip's entry and whether one exists.
func (a *ARP) State(ip wire.Addr) (NeighborState, bool) {
	n := a.table[ip]
	if n == nil {
		return 0, false
	}
	return n.state, true
}

// Resolve sends frame to ip: at once when ip is known, otherwise after ARP
// resolves it (the frame waits in a bounded queue). The cache owns frame until
// it passes it to Send or Drop.
func (a *ARP) Resolve(now time.Time, ip wire.Addr, frame []byte) {
	n := a.table[ip]
	if n != nil && n.state != Incomplete {
		if n.state == Stale && n.probes == 0 {
			// Refresh a stale entry in use once; it stays usable meanwhile.
			n.probes = 1
			a.hooks.Request(ip)
		}
		a.hooks.Send(frame, n.mac)
		return
	}
	if n == nil {
		n = a.insert(now, ip)
		if n == nil {
			a.hooks.Drop(frame, ReasonARPQueueFull)
			return
		}
		n.state = Incomplete
		n.probes = 1
		n.until = now.Add(a.cfg.RetryInterval)
		a.hooks.Request(ip)
	}
	if len(n.pending) >= a.cfg.MaxPending {
		a.hooks.Drop(frame, ReasonARPQueueFull)
		return
	}
	n.pending = append(n.pending, frame)
}

// insert makes a new entry, evicting a resolved one when the table is full.
// It returns nil when every entry is Incomplete (those hold frames).
func (a *ARP) insert(now time.Time, ip wire.Addr) *neighbor {
	if len(a.table) >= a.cfg.Size {
		var victim wire.Addr
		found := false
		for k, n := range a.table {
			if n.state != Incomplete {
				victim, found = k, true
				if n.state == Stale {
					break
				}
			}
		}
		if !found {
			return nil
		}
		a.remove(victim)
	}
	var n *neighbor
	if k := len(a.free); k > 0 {
		n = a.free[k-1]
		a.free = a.free[:k-1]
		*n = neighbor{pending: n.pending[:0]}
	} else {
		n = &neighbor{}
	}
	a.table[ip] = n
	return n
}

func (a *ARP) remove(ip wire.Addr) {
	n := a.table[ip]
	if n == nil {
		return
	}
	delete(a.table, ip)
	for i, f := range n.pending {
		a.hooks.Drop(f, ReasonARPFailed)
		n.pending[i] = nil
	}
	n.pending = n.pending[:0]
	a.free = append(a.free, n)
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
	if spa.IsUnspecified() || spa.IsLimitedBroadcast() || spa.IsMulticast() || sha.IsMulticast() {
		// ARP probes (RFC 5227) carry sender 0.0.0.0: answer, learn nothing.
		return forUs && p.Op() == wire.ARPRequest, ReasonNone
	}
	if n := a.table[spa]; n != nil {
		a.learn(now, spa, n, sha)
	} else if forUs {
		if n := a.insert(now, spa); n != nil {
			a.learn(now, spa, n, sha)
		}
	}
	if !forUs {
		return false, ReasonARPNotForUs
	}
	return p.Op() == wire.ARPRequest, ReasonNone
}

func (a *ARP) learn(now time.Time, ip wire.Addr, n *neighbor, mac wire.MAC) {
	n.mac = mac
	n.state = Reachable
	n.until = now.Add(a.cfg.ReachableTime)
	n.probes = 0
	for i, f := range n.pending {
		a.hooks.Send(f, mac)
		n.pending[i] = nil
	}
	n.pending = n.pending[:0]
}

// Poll retries requests, gives up on silent neighbours and ages entries.
func (a *ARP) Poll(now time.Time) {
	for ip, n := range a.table {
		if now.Before(n.until) {
			continue
		}
		switch n.state {
		case Incomplete:
			if n.probes >= a.cfg.MaxProbes {
				a.remove(ip)
				continue
			}
			n.probes++
			n.until = now.Add(a.cfg.RetryInterval)
			a.hooks.Request(ip)
		case Reachable:
			n.state = Stale
			n.until = now.Add(a.cfg.StaleTime)
		case Stale:
			a.remove(ip)
		}
	}
}

// NextDeadline is when Poll next has work; zero when the cache is empty.
func (a *ARP) NextDeadline() time.Time {
	var d time.Time
	for _, n := range a.table {
		if d.IsZero() || n.until.Before(d) {
			d = n.until
		}
	}
	return d
}
