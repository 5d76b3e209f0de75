package pipe

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/wire"
)

// Fault defaults used when a Faults field is zero.
const (
	// DefaultReorderHold is how long a frame picked for reordering is held
	// back, so that frames arriving meanwhile overtake it.
	DefaultReorderHold = time.Millisecond
	// DefaultFaultQueueLen bounds the frames a FaultLink holds (delayed or
	// reordered) at once.
	DefaultFaultQueueLen = 1024
	// faultBatch is how many frames a FaultLink reads from its inner link at once.
	faultBatch = 16
)

// Faults describes seeded impairments applied to received frames. The same
// seed and the same sequence of frames give the same decisions: every frame
// draws the same random numbers whatever the outcome.
type Faults struct {
	// Seed seeds the fault generator (PCG).
	Seed uint64
	// Loss, Duplicate, Reorder and Corrupt are per-frame probabilities in [0,1].
	// Corrupt flips one random bit of the frame, as on the wire: the frame
	// is delivered with its checksum unverified (RxMeta.CsumValid and
	// CsumPartial cleared), so the receiver checks it; Reorder holds the frame back
	// for ReorderHold so later frames overtake it; Duplicate delivers it twice.
	Loss, Duplicate, Reorder, Corrupt float64
	// Delay is added to every frame's delivery time.
	Delay time.Duration
	// ReorderHold is the extra delay of a reordered frame; zero means
	// DefaultReorderHold.
	ReorderHold time.Duration
	// QueueLen bounds the frames held back at once; zero means
	// DefaultFaultQueueLen. Frames beyond it are dropped (DropOverflow).
	QueueLen int
	// TxLoss is the probability in [0,1] that a frame given to the
	// FaultLink's WriteBatch is dropped instead of sent: loss on our own
	// transmissions (a GSO super-frame is one frame). It draws from its own
	// generator seeded from Seed, so the receive-side decisions stay the same
	// with or without it. A pipe.Config's AtoB/BtoA impair receiving only and
	// ignore it.
	TxLoss float64
	// MarkCE is the probability in [0,1] that a received ECN-capable IPv4
	// frame (ECT(0) or ECT(1)) is marked CE, as a congested ECN router
	// marks instead of dropping (RFC 3168 §5); the IP header checksum is
	// updated. It draws from its own generator seeded from Seed, one draw
	// per frame, so the other decisions stay the same with or without it.
	MarkCE float64
}

func (f Faults) zero() bool {
	return f.Loss == 0 && f.Duplicate == 0 && f.Reorder == 0 && f.Corrupt == 0 && f.Delay == 0 && f.MarkCE == 0
}

// FaultStats counts the impairments a FaultLink applied.
type FaultStats struct {
	Lost         uint64 // frames dropped by Loss
	Duplicated   uint64 // extra copies delivered
	Reordered    uint64 // frames held back by Reorder
	Corrupted    uint64 // frames with a flipped bit
	Delayed      uint64 // frames delivered after Delay
	DropOverflow uint64 // frames dropped because QueueLen frames were held
	DropShortBuf uint64 // frames longer than the caller's buffer
	TxLost       uint64 // frames given to WriteBatch and dropped by TxLoss
	TxSent       uint64 // frames given to WriteBatch and passed on (with TxLoss set)
	CEMarked     uint64 // ECN-capable frames marked CE by MarkCE
}

// FaultLink wraps a driver.Link and impairs the frames it receives. Writes
// pass through unchanged: to impair both directions of a conversation, wrap
// both receivers (pipe.Config does this with AtoB and BtoA).
type FaultLink struct {
	inner driver.Link
	f     Faults

	mu   sync.Mutex // one reader at a time; guards everything below
	rng  *rand.Rand
	seq  uint64
	held []heldFrame
	pool [][]byte
	sf   [][]byte
	sn   []int
	sm   []driver.RxMeta

	txMu  sync.Mutex // one writer at a time; guards the transmit side below
	txRng *rand.Rand
	txF   [][]byte
	txM   []driver.TxMeta

	ceRng *rand.Rand // MarkCE decisions (guarded by mu)

	txLost, txSent, ceMarked                                                 atomic.Uint64
	lost, duplicated, reordered, corrupted, delayed, dropOverflow, dropShort atomic.Uint64
}

type heldFrame struct {
	buf     []byte
	meta    driver.RxMeta
	release time.Time
	seq     uint64
}

var _ driver.Link = (*FaultLink)(nil)

// Faulty wraps link so that the frames it receives suffer the faults f.
func Faulty(link driver.Link, f Faults) driver.Link { return NewFaulty(link, f) }

// NewFaulty is Faulty returning the concrete type, whose Stats reports the
// faults applied.
func NewFaulty(link driver.Link, f Faults) *FaultLink {
	if f.ReorderHold <= 0 {
		f.ReorderHold = DefaultReorderHold
	}
	if f.QueueLen <= 0 {
		f.QueueLen = DefaultFaultQueueLen
	}
	return &FaultLink{
		inner: link,
		f:     f,
		rng:   rand.New(rand.NewPCG(f.Seed, 0x6e657473706563)), // "netspec"
		held:  make([]heldFrame, 0, f.QueueLen),
		txRng: rand.New(rand.NewPCG(f.Seed, 0x74786c6f7373)), // "txloss"
		ceRng: rand.New(rand.NewPCG(f.Seed, 0x65636e6365)),   // "ecnce"
	}
}

// Stats returns a snapshot of the fault counters.
func (l *FaultLink) Stats() FaultStats {
	return FaultStats{
		Lost:         l.lost.Load(),
		Duplicated:   l.duplicated.Load(),
		Reordered:    l.reordered.Load(),
		Corrupted:    l.corrupted.Load(),
		Delayed:      l.delayed.Load(),
		DropOverflow: l.dropOverflow.Load(),
		DropShortBuf: l.dropShort.Load(),
		TxLost:       l.txLost.Load(),
		TxSent:       l.txSent.Load(),
		CEMarked:     l.ceMarked.Load(),
	}
}

// WriteBatch passes the frames to the inner link, unchanged unless
// Faults.TxLoss is set: then each frame is dropped with that probability
// (one draw per frame, counted in TxLost) and the rest are sent in order.
func (l *FaultLink) WriteBatch(frames [][]byte, meta []driver.TxMeta) error {
	if l.f.TxLoss <= 0 {
		return l.inner.WriteBatch(frames, meta)
	}
	l.txMu.Lock()
	defer l.txMu.Unlock()
	l.txF, l.txM = l.txF[:0], l.txM[:0]
	for i, fr := range frames {
		if l.txRng.Float64() < l.f.TxLoss {
			l.txLost.Add(1)
			continue
		}
		l.txF = append(l.txF, fr)
		if meta != nil {
			l.txM = append(l.txM, meta[i])
		}
	}
	if len(l.txF) == 0 {
		return nil
	}
	l.txSent.Add(uint64(len(l.txF)))
	var m []driver.TxMeta
	if meta != nil {
		m = l.txM
	}
	err := l.inner.WriteBatch(l.txF, m)
	clear(l.txF) // do not keep the caller's buffers alive
	return err
}

// Unwrap returns the link l impairs (driver.Wrapper).
func (l *FaultLink) Unwrap() driver.Link { return l.inner }

// GSOMaxSize is the inner link's (driver.GSOLink).
func (l *FaultLink) GSOMaxSize() int { return driver.GSOMaxSize(l.inner) }

// MTU returns the inner link's MTU.
func (l *FaultLink) MTU() int { return l.inner.MTU() }

// MaxFrame returns the inner link's MaxFrame.
func (l *FaultLink) MaxFrame() int { return l.inner.MaxFrame() }

// MAC returns the inner link's MAC.
func (l *FaultLink) MAC() wire.MAC { return l.inner.MAC() }

// Close closes the inner link; frames still held are discarded.
func (l *FaultLink) Close() error {
	if err := l.inner.Close(); err != nil {
		return fmt.Errorf("faulty: close: %w", err)
	}
	return nil
}

// ReadBatch delivers frames whose (possibly delayed) release time has come,
// reading more from the inner link while none is due. It honours the deadline
// and returns the inner link's error (driver.ErrClosed after Close).
func (l *FaultLink) ReadBatch(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	max := min(len(frames), len(n), len(meta))
	if max == 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sf == nil {
		l.sf = make([][]byte, faultBatch)
		for i := range l.sf {
			l.sf[i] = make([]byte, l.inner.MaxFrame())
		}
		l.sn = make([]int, faultBatch)
		l.sm = make([]driver.RxMeta, faultBatch)
	}
	for polled := false; ; polled = true {
		now := time.Now()
		if got := l.deliver(now, frames[:max], n, meta); got > 0 {
			return got, nil
		}
		// Poll the inner link at least once, even with a deadline in the past.
		if polled && !deadline.IsZero() && !now.Before(deadline) {
			return 0, nil
		}
		wait := deadline
		if next, ok := l.nextRelease(); ok && (wait.IsZero() || next.Before(wait)) {
			wait = next
		}
		k, err := l.inner.ReadBatch(l.sf, l.sn, l.sm, wait)
		if err != nil {
			return 0, err
		}
		now = time.Now()
		for i := 0; i < k; i++ {
			l.admit(now, l.sf[i][:l.sn[i]], l.sm[i])
		}
	}
}

// admit applies the faults to one received frame and holds the surviving
// copies until their release time.
func (l *FaultLink) admit(now time.Time, frame []byte, meta driver.RxMeta) {
	// Fixed draws per frame keep the sequence of decisions independent of outcomes.
	pLoss, pDup, pCorrupt, pReorder := l.rng.Float64(), l.rng.Float64(), l.rng.Float64(), l.rng.Float64()
	bit := l.rng.Uint64()
	if pLoss < l.f.Loss {
		l.lost.Add(1)
		return
	}
	if l.f.MarkCE > 0 && l.ceRng.Float64() < l.f.MarkCE && markCE(frame) {
		l.ceMarked.Add(1)
	}
	if pCorrupt < l.f.Corrupt && len(frame) > 0 {
		l.corrupted.Add(1)
		i := bit % uint64(len(frame)*8)
		frame[i/8] ^= 1 << (i % 8)
		// The bit flipped on the wire, before any checksum was verified:
		// the kernel's or NIC's verdict (verified, or not computed yet as
		// with CHECKSUM_PARTIAL over a veth) no longer holds, so the stack
		// must check the checksum itself, and catch the flip.
		meta.CsumValid, meta.CsumPartial = false, false
	}
	copies := 1
	if pDup < l.f.Duplicate {
		copies = 2
		l.duplicated.Add(1)
	}
	for c := 0; c < copies; c++ {
		release := now.Add(l.f.Delay)
		if c == 0 && pReorder < l.f.Reorder {
			release = release.Add(l.f.ReorderHold)
			l.reordered.Add(1)
		}
		if len(l.held) == l.f.QueueLen {
			l.dropOverflow.Add(1)
			continue
		}
		buf := l.buffer()
		buf = buf[:copy(buf, frame)]
		l.seq++
		l.held = append(l.held, heldFrame{buf: buf, meta: meta, release: release, seq: l.seq})
		if l.f.Delay > 0 {
			l.delayed.Add(1)
		}
	}
}

// markCE marks an Ethernet II frame carrying an ECN-capable IPv4 datagram
// CE (wire.IPv4.MarkCE) and reports whether it did.
func markCE(frame []byte) bool {
	if len(frame) < wire.EthernetHeaderLen+wire.IPv4MinHeaderLen ||
		wire.Ethernet(frame).Type() != wire.EtherTypeIPv4 || frame[wire.EthernetHeaderLen]>>4 != 4 {
		return false
	}
	return wire.IPv4(frame[wire.EthernetHeaderLen:]).MarkCE()
}

func (l *FaultLink) buffer() []byte {
	if k := len(l.pool); k > 0 {
		b := l.pool[k-1]
		l.pool = l.pool[:k-1]
		return b[:cap(b)]
	}
	return make([]byte, l.inner.MaxFrame())
}

// nextRelease returns the earliest release time of the held frames.
func (l *FaultLink) nextRelease() (time.Time, bool) {
	if len(l.held) == 0 {
		return time.Time{}, false
	}
	next := l.held[0].release
	for _, h := range l.held[1:] {
		if h.release.Before(next) {
			next = h.release
		}
	}
	return next, true
}

// deliver copies due frames out in (release, arrival) order.
func (l *FaultLink) deliver(now time.Time, frames [][]byte, n []int, meta []driver.RxMeta) int {
	got := 0
	for got < len(frames) {
		best := -1
		for i, h := range l.held {
			if h.release.After(now) {
				continue
			}
			if best < 0 || h.release.Before(l.held[best].release) ||
				(h.release.Equal(l.held[best].release) && h.seq < l.held[best].seq) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		h := l.held[best]
		copy(l.held[best:], l.held[best+1:])
		l.held[len(l.held)-1] = heldFrame{}
		l.held = l.held[:len(l.held)-1]
		l.pool = append(l.pool, h.buf)
		if len(h.buf) > len(frames[got]) {
			l.dropShort.Add(1)
			continue
		}
		n[got] = copy(frames[got], h.buf)
		m := h.meta
		m.Time = now
		meta[got] = m
		got++
	}
	return got
}
