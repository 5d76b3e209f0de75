package netspec

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/afpacket"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/pcap"
	"github.com/netspec/netspec/driver/tap"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// Errors of OpenLink (and Open) that callers may want to tell apart.
var (
	// ErrNoInterface: DriverAFPacket was asked for an interface that does
	// not exist.
	ErrNoInterface = afpacket.ErrNoInterface
	// ErrNotTAP: DriverTAP was asked for a device that exists but is not a
	// single-queue TAP device.
	ErrNotTAP = tap.ErrNotTAP
)

// Stack is a running netspec stack: a protocol stack (fsm/stack) on a
// link, driven by an event loop goroutine (driver.Loop), or several such
// loops sharing one interface (Options.Loops; shards.go). Its methods are
// safe for concurrent use.
type Stack struct {
	loop    *driver.Loop // loop 0's: UDP sockets, and everything with one loop
	st      *stack.Stack // loop 0's; touched only through loop, or after done
	shards  []*shard     // every loop, loop 0 first
	nb      *neighbours  // with several loops: ARP shared between them
	next    atomic.Uint64
	link    driver.Link // the link as given (loop 0's)
	capture *pcap.Link  // nil without Options.Pcap
	prefix  netip.Prefix
	mac     wire.MAC
	backlog int
	rec     netconn.Recorder // nil without Options.History
	obs     observers        // Options.Metrics, MetricsListen, Control
	watch   traceWatchers    // the tracers' parts: Options' and WatchTrace's
	log     *slog.Logger

	lnMu      sync.Mutex
	listeners map[listener]struct{} // opened by Listen, for Shutdown
	draining  bool                  // Shutdown began: Listen fails

	done   chan struct{} // closed once every loop goroutine returned
	runErr error         // the first loop's error; read after done

	closeOnce sync.Once
	closeErr  error
}

// Open runs a stack with address addr (such as 198.18.0.2/24) on the
// network interface iface: through an AF_PACKET socket by default, or on a
// TAP device (opts.Driver). It needs root (CAP_NET_RAW or CAP_NET_ADMIN).
// The interface should have no kernel IPv4 address of its own, so that only
// netspec answers on it. Close stops the stack.
func Open(iface string, addr netip.Prefix, opts *Options) (*Stack, error) {
	if err := Check(addr, opts); err != nil {
		return nil, err
	}
	links, err := OpenLinks(iface, opts)
	if err != nil {
		return nil, err
	}
	return NewLinks(links, addr, opts)
}

// OpenLink opens the link Open would use, in the calling thread's network
// namespace, without starting a stack on it: hand it to New. A program that
// serves inside another namespace opens the link there (with the thread
// locked to it) and starts the stack from anywhere. Only opts.Driver and
// opts.MAC matter here.
func OpenLink(iface string, opts *Options) (driver.Link, error) {
	o := opts.orZero()
	var mac wire.MAC
	if o.MAC != nil {
		mac = wire.MAC(o.MAC)
	}
	switch o.Driver {
	case "", DriverAFPacket:
		// A MAC of our own must see the frames sent to it, not only those
		// sent to the interface's.
		l, err := afpacket.Open(iface, afpacket.Options{Promisc: o.MAC != nil, Logger: o.logger()})
		if err != nil {
			return nil, err
		}
		return l, nil
	case DriverTAP:
		// The device's own MAC is the kernel side's; the stack takes
		// opts.MAC or a random locally administered address.
		l, err := tap.Open(iface, tap.Options{MAC: mac})
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	return nil, configErr("driver", "unknown driver %q (want %s or %s)", o.Driver, DriverAFPacket, DriverTAP)
}

// New runs a stack with address addr on link, any driver.Link: one from
// OpenLink, an end of driver/pipe, or a link of your own. New owns link from
// then on: Close closes it, and so does a failed New.
func New(link driver.Link, addr netip.Prefix, opts *Options) (*Stack, error) {
	return NewLinks(&Links{Each: []driver.Link{link}}, addr, opts)
}

// NewLinks runs a stack with address addr on links, one event loop per
// link (OpenLinks); with one link it is New. It owns the links from then
// on, as New does. Options.Loops does not matter here: the links decide.
func NewLinks(links *Links, addr netip.Prefix, opts *Options) (*Stack, error) {
	if err := Check(addr, opts); err != nil {
		links.Close()
		return nil, err
	}
	switch n := len(links.Each); {
	case n == 0:
		return nil, configErr("loops", "no link")
	case n > 1 && links.Shard == nil:
		links.Close()
		return nil, configErr("loops", "%d links without the Shard of their fanout group", n)
	case n > 1:
		o := opts.orZero()
		o.Loops = n
		if err := checkLoops(&o); err != nil {
			links.Close()
			return nil, err
		}
	}
	link := links.Each[0]
	o := opts.orZero()
	s := &Stack{link: link, prefix: addr, backlog: o.Backlog, done: make(chan struct{})}
	if s.backlog == 0 {
		s.backlog = DefaultBacklog
	}
	if o.History != nil {
		s.rec = netconn.NewHistory(o.History)
	}
	if o.Pcap != nil {
		c, err := pcap.Wrap(link, o.Pcap)
		if err != nil {
			link.Close()
			return nil, fmt.Errorf("netspec: pcap: %w", err)
		}
		s.capture = c
		link = c
	}
	cfg := o.stackConfig(addr, link.MAC(), link.MTU(), driver.GSOMaxSize(link))
	s.mac = cfg.MAC
	log := o.logger()
	s.log = log
	if len(links.Each) > 1 {
		s.nb = &neighbours{ch: make(chan learnedARP, neighbourQueue)}
	}
	for i, l := range links.Each {
		if i == 0 {
			l = link // with the capture
		}
		st := stack.New(s.shardConfig(cfg, i, links))
		loop := driver.NewLoop(l, st, driver.LoopOptions{Logger: log})
		s.shards = append(s.shards, &shard{loop: loop, st: st, dialer: netconn.NewDialer(loop, netconn.Options{Recorder: s.rec})})
	}
	s.loop, s.st = s.shards[0].loop, s.shards[0].st
	if s.nb != nil {
		s.nb.shards = s.shards
	}
	s.watch.several = len(s.shards) > 1
	s.traceTo(&o)
	s.run()
	if err := s.startObservers(&o); err != nil {
		s.Close()
		return nil, err
	}
	if o.ReleaseMemory > 0 {
		go s.releaseWhenQuiet(o.ReleaseMemory, debug.FreeOSMemory)
	}
	return s, nil
}

// Close stops the stack: the event loop ends, the link is closed, blocked
// socket calls return errors wrapping net.ErrClosed, and the pcap capture is
// flushed. It waits for the loop goroutine to return. Close is idempotent:
// later calls return what the first returned.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		err := s.obs.stop()
		for _, sh := range s.shards {
			err = errors.Join(err, sh.loop.Close())
		}
		<-s.done
		if s.capture != nil {
			// The loop's Close flushed already; frames read since then are
			// flushed now that the reader left.
			err = errors.Join(err, s.capture.Flush())
		}
		s.closeErr = err
	})
	return s.closeErr
}

// Done returns a channel closed when the stack has stopped: after Close, or
// when the link failed (Err says how).
func (s *Stack) Done() <-chan struct{} { return s.done }

// Err returns why the stack stopped on its own (a link error), or nil while
// it runs and after a Close.
func (s *Stack) Err() error {
	select {
	case <-s.done:
		return s.runErr
	default:
		return nil
	}
}

// Prefix returns the stack's address and prefix.
func (s *Stack) Prefix() netip.Prefix { return s.prefix }

// MAC returns the stack's hardware address.
func (s *Stack) MAC() net.HardwareAddr { return net.HardwareAddr(s.mac[:]) }

// MTU returns the link's MTU: the largest IP datagram sent in one frame.
func (s *Stack) MTU() int { return s.link.MTU() }

// Link returns the link the stack runs on, as given to New (a
// *afpacket.Link or *tap.Link from Open, a *pipe.End from Pipe), for its
// driver's own statistics. Do not read from or write to it.
func (s *Stack) Link() driver.Link { return s.link }

// Counters returns the stack's protocol counters by name: "layer.counter"
// for events and "layer.drop.reason" for each counted drop reason, as in
// Linux's netstat -s (listed in docs/counters.md), e.g. "tcp.ActiveOpens",
// "tcp.Retransmits", "ip.drop.BadChecksum". After Close it returns their
// final values.
//
// With several loops each counter is the sum over the loops' stacks
// (LoopCounters has each loop's).
func (s *Stack) Counters() map[string]uint64 {
	m := make(map[string]uint64, 256)
	for _, sh := range s.shards {
		s.readStack(sh, func(_ time.Time, st *stack.Stack) {
			st.EachCounter(func(name string, v uint64) { m[name] += v })
		})
	}
	return m
}

// Loops returns how many event loops the stack runs.
func (s *Stack) Loops() int { return len(s.shards) }

// LoopCounters returns the protocol counters of loop i's stack alone
// (0 <= i < Loops()), as Counters names them.
func (s *Stack) LoopCounters(i int) map[string]uint64 {
	m := make(map[string]uint64, 256)
	s.readStack(s.shards[i], func(_ time.Time, st *stack.Stack) {
		st.EachCounter(func(name string, v uint64) { m[name] = v })
	})
	return m
}

// readStack runs read inside sh's loop or, once the stack stopped, on its
// stack directly (nothing else touches it after the loop goroutines
// returned).
func (s *Stack) readStack(sh *shard, read func(now time.Time, st *stack.Stack)) {
	if err := sh.loop.Do(read); err != nil {
		<-s.done
		read(time.Now(), sh.st)
	}
}

// Stats are the counters of the machinery around the protocol stack.
type Stats struct {
	// Loop is the event loop's own account: frames and bytes in and out,
	// link write errors, timer fires, socket calls, wake-ups (summed over
	// the loops).
	Loop driver.LoopStats
	// Loops holds each loop's account, loop 0 first.
	Loops []driver.LoopStats
	// NeighboursShared counts ARP entries one loop learned and another's
	// cache took over; NeighbourDrops those dropped because the queue
	// toward the other loops was full (with several loops only).
	NeighboursShared, NeighbourDrops uint64
	// PcapFrames is how many frames Options.Pcap holds.
	PcapFrames uint64
}

// Stats returns a snapshot of the loops' and the capture's counters.
func (s *Stack) Stats() Stats {
	var st Stats
	for _, sh := range s.shards {
		ls := sh.loop.Stats()
		st.Loops = append(st.Loops, ls)
		addLoopStats(&st.Loop, &ls)
	}
	if s.nb != nil {
		st.NeighboursShared, st.NeighbourDrops = s.nb.shared.Load(), s.nb.dropped.Load()
	}
	if s.capture != nil {
		st.PcapFrames = uint64(s.capture.Frames())
	}
	return st
}

// addLoopStats adds b's counters to a's (every field is a uint64 count).
func addLoopStats(a, b *driver.LoopStats) {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		va.Field(i).SetUint(va.Field(i).Uint() + vb.Field(i).Uint())
	}
}
