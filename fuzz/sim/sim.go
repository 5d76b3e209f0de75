// Package sim is a deterministic multi-stack simulator: N netspec stacks
// (fsm/stack) on one virtual Ethernet segment, in simulated time, with seeded
// loss, duplication, reordering, corruption and delay. After every step (a
// frame delivered, a timer fired, a user call) it asserts the runtime
// invariants of docs/verification.md: the TCP layers' own
// (tcp.InvariantChecker) and those seen on the wire (checksums, MSS only on
// SYN, one FIN sequence number per connection, nothing but a challenge ACK
// in reply to a RST, a delayed ACK held less than 500 ms, queues within their
// bounds). A run can be written as a pcap file.
//
// The same Config and the same calls give the same run, frame for frame: the
// simulator reads no clock and owns its random source.
package sim

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// Epoch is the simulated time at which every run starts.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Config describes a simulation.
type Config struct {
	Seed   uint64 // seeds the wire's faults and each stack's random source
	Stacks int    // number of stacks (default 2)
	Faults Faults // random impairments of the wire
	// TCP configures every stack's TCP layer (defaults as tcp.Config).
	TCP tcp.Config
	// Stack, when set, adjusts stack i's configuration after the simulator
	// has filled in its MAC, address and seed.
	Stack func(i int, c *stack.Config)
	// MaxInFlight bounds the frames on the wire at once (default 4096);
	// frames beyond it are dropped and counted in Stats.Overflow.
	MaxInFlight int
	// NoChecks turns the per-step invariant checks off (benchmarks).
	NoChecks bool
	// Batch hands the frames due at one instant to each host as one
	// batch (stack.BeginBatch .. EndBatch), as a driver loop hands it the
	// frames of one read, so TCP's receive coalescing and batch ACKs run
	// under the invariant checks, which see the host after EndBatch. A
	// frame carrying RST ends the batch and is delivered alone (the RST
	// check reads what answers that one frame).
	Batch bool
}

// Host is one simulated stack and what the simulator knows about it.
type Host struct {
	Index int
	Stack *stack.Stack
	MAC   wire.MAC
	Addr  wire.Addr
	inv   *tcp.InvariantChecker
}

// Stats counts what the wire did.
type Stats struct {
	Steps      uint64 // frames delivered plus timer polls
	Sent       uint64 // frames put on the wire by the stacks
	Delivered  uint64 // frames handed to a stack
	Lost       uint64 // frames dropped (random or forced loss, partition)
	Duplicated uint64 // extra copies
	Reordered  uint64 // frames held back so later ones overtake them
	Corrupted  uint64 // frames with one bit flipped
	Overflow   uint64 // frames dropped because MaxInFlight were in flight
	Unroutable uint64 // frames for a MAC no host has
}

// Sim is a running simulation. It is not safe for concurrent use.
type Sim struct {
	cfg    Config
	now    time.Time
	hosts  []*Host
	rng    *rand.Rand
	wire   frameHeap
	seq    uint64      // tie-break: frames due at the same time keep their order
	segBuf []byte      // segments of a super-frame being cut (stack.Segment)
	batch  []*inflight // the frames of one instant (Config.Batch), reused
	forced []Fault
	part   bool // partition: every frame is lost
	stats  Stats
	err    error
	wc     wireChecker
	pcap   *PcapWriter
	// OnFrame, when set, sees every frame a stack emits (before faults).
	OnFrame func(from int, frame []byte)
	// OnStep, when set, runs after every step's checks; a non-nil error
	// stops the simulation like a violated invariant.
	OnStep func() error
}

// ErrIdle is returned by Run when nothing is in flight, no timer is pending
// and the condition does not hold: no input can change anything.
var ErrIdle = errors.New("sim: idle")

// ErrSteps is returned by Run when the step budget runs out.
var ErrSteps = errors.New("sim: step budget exhausted")

// OnNew, when set, is called with every new simulation before it runs (test
// mains use it to register the stacks for rule coverage, fuzz/cover).
var OnNew func(*Sim)

// New builds a simulation of cfg.Stacks stacks on addresses 198.18.0.1,
// 198.18.0.2, ... (/24) with MACs 02:00:00:00:00:01, ...
func New(cfg Config) *Sim {
	if cfg.Stacks <= 0 {
		cfg.Stacks = 2
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 4096
	}
	s := &Sim{cfg: cfg, now: Epoch, rng: rand.New(rand.NewPCG(cfg.Seed, 0x73696d))}
	s.wc.init()
	for i := 0; i < cfg.Stacks; i++ {
		h := &Host{Index: i, MAC: HostMAC(i), Addr: HostAddr(i), inv: tcp.NewInvariantChecker()}
		sc := stack.Config{MAC: h.MAC, Addr: h.Addr, PrefixLen: 24, Seed: cfg.Seed*1000 + uint64(i) + 1, TCP: cfg.TCP}
		if cfg.Stack != nil {
			cfg.Stack(i, &sc)
		}
		h.Stack = stack.New(sc)
		s.hosts = append(s.hosts, h)
	}
	if OnNew != nil {
		OnNew(s)
	}
	return s
}

// HostAddr is the IPv4 address of host i: 198.18.0.(i+1).
func HostAddr(i int) wire.Addr { return wire.Addr{198, 18, byte((i + 1) >> 8), byte(i + 1)} }

// HostMAC is the MAC address of host i: 02:00:00:00:00:(i+1).
func HostMAC(i int) wire.MAC { return wire.MAC{2, 0, 0, 0, byte((i + 1) >> 8), byte(i + 1)} }

// Now returns the simulated time.
func (s *Sim) Now() time.Time { return s.now }

// Host returns host i.
func (s *Sim) Host(i int) *Host { return s.hosts[i] }

// Hosts returns every host.
func (s *Sim) Hosts() []*Host { return s.hosts }

// Stats returns what the wire did so far.
func (s *Sim) Stats() Stats { return s.stats }

// Err returns the first invariant violation, or nil. Once set, the
// simulation stops stepping.
func (s *Sim) Err() error { return s.err }

// InFlight returns how many frames are on the wire.
func (s *Sim) InFlight() int { return len(s.wire) }

// SetPcap makes the simulator write every delivered frame, with its
// simulated delivery time, to w.
func (s *Sim) SetPcap(w *PcapWriter) { s.pcap = w }

// Partition loses every frame while on is true (a black hole).
func (s *Sim) Partition(on bool) { s.part = on }

// Force applies f to the next frame put on the wire (then to the next
// frames, one forced fault each, in the order given). FaultLoss drops it,
// FaultDuplicate delivers it twice, FaultReorder holds it back, FaultCorrupt
// flips one bit.
func (s *Sim) Force(f ...Fault) { s.forced = append(s.forced, f...) }

// Do runs a user call fn on host i's stack at the current time, then
// collects what the stack sent and checks the invariants.
func (s *Sim) Do(i int, fn func(now time.Time, st *stack.Stack)) error {
	if s.err != nil {
		return s.err
	}
	h := s.hosts[i]
	fn(s.now, h.Stack)
	s.collect(h, nil)
	s.check()
	return s.err
}

// Step performs the next event: the earliest frame delivery or timer
// (frames first at equal times). It reports false when nothing is pending.
func (s *Sim) Step() bool {
	if s.err != nil {
		return false
	}
	var th *Host
	var tAt time.Time
	for _, h := range s.hosts {
		if d := h.Stack.NextDeadline(); !d.IsZero() && (th == nil || d.Before(tAt)) {
			th, tAt = h, d
		}
	}
	if len(s.wire) > 0 && (th == nil || !tAt.Before(s.wire[0].at)) {
		f := heap.Pop(&s.wire).(*inflight)
		if f.at.After(s.now) {
			s.now = f.at
		}
		if s.cfg.Batch {
			s.deliverBatch(f)
		} else {
			s.deliver(f)
		}
	} else if th != nil {
		if tAt.After(s.now) {
			s.now = tAt
		}
		th.Stack.Poll(s.now)
		s.collect(th, nil)
	} else {
		return false
	}
	s.stats.Steps++
	s.check()
	return s.err == nil
}

// Run steps until cond holds (checked before every step), and returns nil;
// ErrIdle when nothing is pending and cond is false; ErrSteps after
// maxSteps steps; or the invariant violation that stopped the run.
func (s *Sim) Run(cond func() bool, maxSteps int) error {
	for i := 0; i < maxSteps; i++ {
		if s.err != nil {
			return s.err
		}
		if cond != nil && cond() {
			return nil
		}
		if !s.Step() {
			if s.err != nil {
				return s.err
			}
			return ErrIdle
		}
	}
	if cond != nil && cond() {
		return nil
	}
	return fmt.Errorf("%w after %d steps at %v", ErrSteps, maxSteps, s.now.Sub(Epoch))
}

// Advance moves the clock forward by d, performing every event due on the
// way, so no timer is ever skipped. It stops early on a violation.
func (s *Sim) Advance(d time.Duration) error {
	end := s.now.Add(d)
	for s.err == nil {
		at, ok := s.nextEvent()
		if !ok || at.After(end) {
			break
		}
		s.Step()
	}
	if s.err == nil && end.After(s.now) {
		s.now = end
		s.check()
	}
	return s.err
}

// Quiesce runs until nothing is in flight and no timer is pending, or the
// step budget runs out (ErrSteps).
func (s *Sim) Quiesce(maxSteps int) error {
	err := s.Run(nil, maxSteps)
	if errors.Is(err, ErrIdle) {
		return nil
	}
	return err
}

// nextEvent returns the time of the next frame or timer.
func (s *Sim) nextEvent() (time.Time, bool) {
	var at time.Time
	ok := false
	if len(s.wire) > 0 {
		at, ok = s.wire[0].at, true
	}
	for _, h := range s.hosts {
		if d := h.Stack.NextDeadline(); !d.IsZero() && (!ok || d.Before(at)) {
			at, ok = d, true
		}
	}
	return at, ok
}

// deliver hands a frame to the host(s) its destination MAC names.
func (s *Sim) deliver(f *inflight) {
	eth, err := wire.ParseEthernet(f.b)
	if err != nil {
		s.stats.Unroutable++
		return
	}
	dst := eth.Dst()
	hit := false
	for _, h := range s.hosts {
		if h.Index == f.from || (dst != h.MAC && dst != wire.BroadcastMAC) {
			continue
		}
		hit = true
		s.stats.Delivered++
		s.writePcap(f)
		rst := s.wc.rstContext(f.b)
		h.Stack.Input(s.now, f.b, stack.RxMeta{Time: s.now})
		s.collect(h, rst)
	}
	if !hit {
		s.stats.Unroutable++
	}
}

// deliverBatch delivers f and the frames due at the same instant after it,
// up to the first that carries RST (Config.Batch): to each host the frames
// its MAC receives, in wire order, between BeginBatch and EndBatch; then
// what the host sent is collected. A RST frame that comes first goes alone.
func (s *Sim) deliverBatch(f *inflight) {
	if s.wc.rstContext(f.b) != nil {
		s.deliver(f)
		return
	}
	batch := append(s.batch[:0], f)
	for len(s.wire) > 0 && s.wire[0].at.Equal(f.at) && s.wc.rstContext(s.wire[0].b) == nil {
		batch = append(batch, heap.Pop(&s.wire).(*inflight))
	}
	s.batch = batch
	hit := make([]bool, len(batch))
	for _, h := range s.hosts {
		begun := false
		for i, g := range batch {
			if !s.receives(h, g) {
				continue
			}
			if !begun {
				h.Stack.BeginBatch()
				begun = true
			}
			hit[i] = true
			s.stats.Delivered++
			s.writePcap(g)
			h.Stack.Input(s.now, g.b, stack.RxMeta{Time: s.now})
		}
		if begun {
			h.Stack.EndBatch(s.now)
			s.collect(h, nil)
		}
	}
	for _, ok := range hit {
		if !ok {
			s.stats.Unroutable++
		}
	}
}

// receives reports whether host h takes frame f off the wire: addressed
// to its MAC or broadcast, and not its own.
func (s *Sim) receives(h *Host, f *inflight) bool {
	eth, err := wire.ParseEthernet(f.b)
	if err != nil || h.Index == f.from {
		return false
	}
	dst := eth.Dst()
	return dst == h.MAC || dst == wire.BroadcastMAC
}

// writePcap writes f to the capture, if one is set.
func (s *Sim) writePcap(f *inflight) {
	if s.pcap != nil {
		if err := s.pcap.WritePacket(s.now, f.b); err != nil && s.err == nil {
			s.err = fmt.Errorf("sim: pcap: %w", err)
		}
	}
}

// collect drains what host h queued, checks each frame, and puts it on the
// wire through the fault model. rst, when not nil, is the flow of a RST that
// h just received: only a challenge ACK may answer it.
func (s *Sim) collect(h *Host, rst *flowKey) {
	if s.segBuf == nil {
		s.segBuf = make([]byte, 65536)
	}
	h.Stack.Output(func(sf []byte, meta stack.TxMeta) {
		// A super-frame (Config.GSOMaxSize) travels as the segments a kernel
		// would cut it into.
		err := stack.Segment(sf, meta, s.segBuf, func(frame []byte) {
			s.stats.Sent++
			if s.OnFrame != nil {
				s.OnFrame(h.Index, frame)
			}
			if !s.cfg.NoChecks && s.err == nil {
				if err := s.wc.frame(h, frame, rst, s.now); err != nil {
					s.err = err
				}
			}
			s.transmit(h.Index, frame)
		})
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("host %d: %w", h.Index, err)
		}
	})
}

// check runs every invariant on every host.
func (s *Sim) check() {
	if s.cfg.NoChecks || s.err != nil {
		return
	}
	for _, h := range s.hosts {
		if err := h.inv.Check(s.now, h.Stack.TCP()); err != nil {
			s.err = fmt.Errorf("host %d at %v: %w", h.Index, s.now.Sub(Epoch), err)
			return
		}
		if err := s.wc.delayedAcks(h, s.now); err != nil {
			s.err = fmt.Errorf("host %d at %v: %w", h.Index, s.now.Sub(Epoch), err)
			return
		}
		if err := checkBounds(h); err != nil {
			s.err = fmt.Errorf("host %d at %v: %w", h.Index, s.now.Sub(Epoch), err)
			return
		}
	}
	if len(s.wire) > s.cfg.MaxInFlight {
		s.err = fmt.Errorf("sim: %d frames in flight, bound %d", len(s.wire), s.cfg.MaxInFlight)
		return
	}
	if s.OnStep != nil {
		if err := s.OnStep(); err != nil {
			s.err = err
		}
	}
}

// checkBounds checks the stack-level queues against their configured bounds.
func checkBounds(h *Host) error {
	st := h.Stack
	cfg := st.Config()
	if n := st.Pending(); n > cfg.MaxOutput {
		return fmt.Errorf("%w: %d frames queued for output, bound %d", tcp.ErrInvariant, n, cfg.MaxOutput)
	}
	rx := st.IPReceiver()
	if err := rx.CheckInvariants(); err != nil {
		return fmt.Errorf("%w: %w", tcp.ErrInvariant, err)
	}
	if err := st.ARP().CheckInvariants(); err != nil {
		return fmt.Errorf("%w: %w", tcp.ErrInvariant, err)
	}
	ipc := cfg.IP
	if ipc.MemHigh > 0 && rx.HeldBytes() > ipc.MemHigh {
		return fmt.Errorf("%w: reassembly holds %d bytes, bound %d", tcp.ErrInvariant, rx.HeldBytes(), ipc.MemHigh)
	}
	if ipc.MaxReassemblies > 0 && rx.Reassemblies() > ipc.MaxReassemblies {
		return fmt.Errorf("%w: %d reassemblies, bound %d", tcp.ErrInvariant, rx.Reassemblies(), ipc.MaxReassemblies)
	}
	return nil
}

// Leaks reports what a host still holds after every connection should be
// gone (stack.Stack.Quiescent). nil means nothing is left.
func (h *Host) Leaks() error {
	if err := h.Stack.Quiescent(); err != nil {
		return fmt.Errorf("host %d leaks: %w", h.Index, err)
	}
	return nil
}

// FinishSteps bounds the steps Finish may take to drain a run.
const FinishSteps = 5_000_000

// Finish ends a run as its applications would when they exit: every host
// closes every descriptor (stack.Stack.CloseAll), the simulation runs until
// nothing is in flight and no timer is pending (through every FIN exchange,
// 2*MSL of TIME-WAIT, the FIN-WAIT-2 and user timeouts and ARP aging), and
// then every host must hold nothing (Leaks). It returns the first invariant
// violation or leak; a run that already failed is returned as it is.
func (s *Sim) Finish() error {
	if s.err != nil {
		return s.err
	}
	for _, h := range s.hosts {
		h.Stack.CloseAll(s.now, false)
		s.collect(h, nil)
	}
	if err := s.Quiesce(FinishSteps); err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	var errs []error
	for _, h := range s.hosts {
		errs = append(errs, h.Leaks())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("finish at %v (seed %d): %w", s.now.Sub(Epoch), s.cfg.Seed, err)
	}
	return nil
}

// TB is the part of testing.TB that ForTest uses.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Failed() bool
}

// ForTest is New for a test: when the test ends (and has not already
// failed), the run is finished with Finish and any connection, timer, buffer
// or frame still held fails the test. Every test that builds its simulation
// with ForTest gets the end-of-run check for free.
func ForTest(t TB, cfg Config) *Sim {
	t.Helper()
	s := New(cfg)
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		if err := s.Finish(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return s
}
