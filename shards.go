package netspec

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/afpacket"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// A Stack runs one event loop per link (Options.Loops; docs/architecture.md,
// "Several loops"). Each loop owns a protocol stack of its own with the
// same address and MAC; the kernel's AF_PACKET fanout group gives each
// loop the TCP flows that hash to it (afpacket.Group), and everything
// else (ARP, UDP, ICMP echo, every IPv4 fragment) to loop 0. Nothing is
// shared on the per-packet path but for fragmented TCP: loop 0's stack
// reassembles it and hands a datagram of another loop's flow to that
// loop's bounded queue (stack.Config.HandOff, driver.Loop.HandIn). A
// listener is one per loop, merged for Accept; a connection the stack
// opens takes a local port whose flow comes back to the loop that opened
// it; what one loop's ARP cache learns is replayed in the others' by the
// neighbour goroutine, through their Do.

// MaxLoops is the most event loops a Stack runs.
const MaxLoops = afpacket.MaxGroup

// shard is one event loop and the stack it owns.
type shard struct {
	loop   *driver.Loop
	st     *stack.Stack    // touched only through loop, or after it stopped
	dialer *netconn.Dialer // Dial's on this loop: its connections share one deadline heap
}

// Links are the links a Stack runs on, one per event loop (OpenLinks).
type Links struct {
	// Each holds one link per loop: loop i runs on Each[i].
	Each []driver.Link
	// Shard, with more than one link, is the index of the link that
	// receives the TCP flow between local port a and remote port b (the
	// order does not matter); nil with one link.
	Shard func(a, b uint16) int
}

// Close closes every link (for a caller that does not hand them to
// NewLinks after all).
func (l *Links) Close() error {
	var errs []error
	for _, k := range l.Each {
		errs = append(errs, k.Close())
	}
	return errors.Join(errs...)
}

// OpenLinks opens the links Open would use, in the calling thread's
// network namespace, without starting a stack on them: hand them to
// NewLinks. With opts.Loops > 1 they are that many AF_PACKET sockets of
// one fanout group (afpacket.OpenGroup); otherwise one link, OpenLink's.
func OpenLinks(iface string, opts *Options) (*Links, error) {
	o := opts.orZero()
	if o.Loops <= 1 {
		l, err := OpenLink(iface, opts)
		if err != nil {
			return nil, err
		}
		return &Links{Each: []driver.Link{l}}, nil
	}
	if err := checkLoops(&o); err != nil {
		return nil, err
	}
	g, err := afpacket.OpenGroup(iface, o.Loops, afpacket.Options{Promisc: o.MAC != nil, Logger: o.logger()})
	if err != nil {
		return nil, err
	}
	ls := &Links{Each: make([]driver.Link, len(g.Links)), Shard: g.Shard}
	for i, l := range g.Links {
		ls.Each[i] = l
	}
	return ls, nil
}

// checkLoops checks Options.Loops against the other options.
func checkLoops(o *Options) error {
	switch {
	case o.Loops < 0 || o.Loops > MaxLoops:
		return configErr("loops", "%d: want 0..%d", o.Loops, MaxLoops)
	case o.Loops <= 1:
		return nil
	case o.Driver == DriverTAP:
		return configErr("loops", "%d loops need the %s driver (a TAP device has one queue)", o.Loops, DriverAFPacket)
	case o.Pcap != nil:
		return configErr("loops", "%d loops with a capture: one capture file is written by one loop", o.Loops)
	}
	return nil
}

// shardConfig is loop i's stack configuration of n: cfg, with the seed
// moved by i and, with several loops, the hooks that keep each flow and
// each neighbour where it belongs.
func (s *Stack) shardConfig(cfg stack.Config, i int, links *Links) stack.Config {
	if len(links.Each) == 1 {
		return cfg
	}
	cfg.Seed += uint64(i)
	cfg.NoAnnounce = i > 0 // one gratuitous ARP for the address, not one per loop
	cfg.TCP.OwnsFlow = func(_ wire.Addr, lport uint16, _ wire.Addr, rport uint16) bool {
		return links.Shard(lport, rport) == i
	}
	cfg.ARP.Learned = func(ip wire.Addr, mac wire.MAC, forUs bool) { s.nb.publish(i, ip, mac, forUs) }
	// Every fragment reaches loop 0, whose fsm/ip reassembles it; a
	// datagram of another loop's flow goes to that loop's hand-in queue
	// (bounded, counted: driver.Loop.HandIn), never blocking this loop.
	cfg.HandOff = func(hdr, payload []byte, lport, rport uint16) {
		s.shards[links.Shard(lport, rport)].loop.HandIn(hdr, payload)
	}
	return cfg
}

// run runs every loop on a goroutine of its own; when one stops (a
// link failure), the others are closed too. done is closed once all of
// them and the neighbour goroutine returned.
func (s *Stack) run() {
	var wg sync.WaitGroup
	var once sync.Once
	loopsDone := make(chan struct{})
	for _, sh := range s.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := sh.loop.Run(context.Background())
			if err != nil {
				once.Do(func() { s.runErr = err })
			}
			for _, o := range s.shards {
				o.loop.Close()
			}
		}()
	}
	if s.nb != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.nb.run(loopsDone)
		}()
	}
	go func() {
		for _, sh := range s.shards {
			<-sh.loop.Done()
		}
		close(loopsDone)
		wg.Wait()
		close(s.done)
	}()
}

// neighbourQueue bounds the ARP entries waiting to be passed on to the
// other loops; more are dropped (Stats.NeighbourDrops).
const neighbourQueue = 256

// neighbours passes what one loop's ARP cache learned to the others.
// publish runs inside the learning loop (link.ARPConfig.Learned) and never
// blocks; run replays each entry in every other loop's cache through its
// Do (stack.Neighbour), so a loop that asked for a neighbour whose reply
// went to loop 0 sends its waiting frames. Only ARP packets pass here,
// never a data frame.
type neighbours struct {
	shards  []*shard
	ch      chan learnedARP
	shared  atomic.Uint64
	dropped atomic.Uint64
}

// learnedARP is one ARP packet a loop's cache learned from.
type learnedARP struct {
	from  int
	ip    wire.Addr
	mac   wire.MAC
	forUs bool
}

func (nb *neighbours) publish(from int, ip wire.Addr, mac wire.MAC, forUs bool) {
	select {
	case nb.ch <- learnedARP{from, ip, mac, forUs}:
	default:
		nb.dropped.Add(1)
	}
}

// run replays learned entries until stop is closed.
func (nb *neighbours) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case u := <-nb.ch:
			for j, sh := range nb.shards {
				if j == u.from {
					continue
				}
				if sh.loop.Do(func(now time.Time, st *stack.Stack) { st.Neighbour(now, u.ip, u.mac, u.forUs) }) == nil {
					nb.shared.Add(1)
				}
			}
		}
	}
}

// pick returns the loop a new outgoing connection starts on (round robin).
func (s *Stack) pick() *shard {
	if len(s.shards) == 1 {
		return s.shards[0]
	}
	return s.shards[int(s.next.Add(1)%uint64(len(s.shards)))]
}

// listener is what Shutdown closes: a *netconn.Listener or, with several
// loops, a *MultiListener.
type listener interface {
	Close() error
	Closed() <-chan struct{}
}

// MultiListener is a TCP listener of a Stack with several loops: one
// netconn.Listener per loop on the same port (as SO_REUSEPORT sockets
// are), each taking the connections whose flow hashes to its loop, and
// one Accept for all of them. Each part's connections are taken by a
// goroutine of its own and handed to Accept; Close closes the parts and
// waits for those goroutines.
type MultiListener struct {
	parts   []*netconn.Listener
	conns   chan accepted
	closed  chan struct{}
	stopped chan struct{} // every part's goroutine returned
	once    sync.Once
	wg      sync.WaitGroup
}

var _ net.Listener = (*MultiListener)(nil)

type accepted struct {
	c   net.Conn
	err error
}

func newMultiListener(parts []*netconn.Listener) *MultiListener {
	l := &MultiListener{parts: parts, conns: make(chan accepted), closed: make(chan struct{}), stopped: make(chan struct{})}
	for _, p := range parts {
		l.wg.Add(1)
		go l.pump(p)
	}
	go func() {
		l.wg.Wait()
		close(l.stopped)
	}()
	return l
}

// pump hands p's connections to Accept until p is closed.
func (l *MultiListener) pump(p *netconn.Listener) {
	defer l.wg.Done()
	for {
		c, err := p.Accept()
		if err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
		select {
		case l.conns <- accepted{c, err}:
		case <-l.closed:
			if c != nil {
				c.Close()
			}
			return
		}
	}
}

// Accept waits for and returns the next connection of any loop.
func (l *MultiListener) Accept() (net.Conn, error) {
	select {
	case a := <-l.conns:
		return a.c, a.err
	case <-l.closed:
	case <-l.stopped: // the stack stopped
	}
	return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
}

// Addr returns the listening address as a *net.TCPAddr.
func (l *MultiListener) Addr() net.Addr { return l.parts[0].Addr() }

// Parts returns the listener of each loop, in loop order.
func (l *MultiListener) Parts() []*netconn.Listener { return l.parts }

// Closed returns a channel closed once Close was called.
func (l *MultiListener) Closed() <-chan struct{} { return l.closed }

// Close closes every loop's listener (connections not yet accepted are
// reset) and returns once their goroutines did.
func (l *MultiListener) Close() error {
	err := error(&net.OpError{Op: "close", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed})
	l.once.Do(func() {
		close(l.closed)
		for _, p := range l.parts {
			p.Close()
		}
		l.wg.Wait()
		err = nil
	})
	return err
}
