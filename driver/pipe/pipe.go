// Package pipe is an in-memory Ethernet link pair with seeded fault injection
// (loss, duplication, reordering, corruption, delay) and an optional Ethernet
// FCS. Both ends implement driver.Link, so a stack runs over a pipe exactly as
// it runs over AF_PACKET. The fault wrapper (Faulty) works on any driver.Link.
package pipe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// Defaults used when a Config field is zero.
const (
	// DefaultMTU is the IP MTU of a pipe (Ethernet's 1500, RFC 894).
	DefaultMTU = 1500
	// DefaultQueueLen is the number of frames each direction buffers.
	DefaultQueueLen = 256
	// ethHeaderLen is the Ethernet II header length (dst, src, EtherType).
	ethHeaderLen = 14
	// fcsLen is the length of the Ethernet frame check sequence (IEEE 802.3 §3.2.9).
	fcsLen = 4
)

// ErrFrameTooLong is returned (wrapped) by WriteBatch when a frame exceeds the
// link's MaxFrame; the frame is dropped and counted, the rest of the batch is sent.
var ErrFrameTooLong = errors.New("frame longer than MaxFrame")

// Config describes a pipe. The zero value is a usable 1500-byte link with no
// FCS and no faults; the two ends get distinct locally administered MACs.
type Config struct {
	// MACA and MACB are the hardware addresses of the ends. Zero means
	// 02:00:00:00:00:0a and 02:00:00:00:00:0b.
	MACA, MACB wire.MAC
	// MTU is the largest IP datagram per frame; zero means DefaultMTU.
	MTU int
	// MaxFrame is the largest frame either end accepts and delivers; zero means
	// MTU+14 (+4 with FCS). Set it larger to carry GSO-sized frames.
	MaxFrame int
	// QueueLen bounds each direction's queue in frames; zero means
	// DefaultQueueLen. A frame sent to a full queue is dropped and counted.
	QueueLen int
	// FCS appends an IEEE 802.3 CRC-32 to every frame on the wire and sets
	// RxMeta.FCS on delivery, so the receiver must check and strip it.
	FCS bool
	// GSO makes both ends accept TCP super-frames (GSOMaxSize 65535): a
	// super-frame is cut by stack.Segment into the segments it stands for, as
	// a kernel would, before it reaches the peer's queue.
	GSO bool
	// AtoB and BtoA are the faults injected on each direction (seeded; the
	// zero value injects none).
	AtoB, BtoA Faults
}

// Stats counts what one end of a pipe did. Drops are counted at the end that
// dropped: queue-full and peer-closed drops at the sender.
type Stats struct {
	Sent          uint64 // frames queued towards the peer
	Received      uint64 // frames delivered by ReadBatch
	DropQueueFull uint64 // the peer's receive queue was full
	DropTooLong   uint64 // frame longer than MaxFrame on send
	DropShortBuf  uint64 // receive buffer shorter than the frame
	DropClosed    uint64 // peer closed; frame discarded
	GSOFrames     uint64 // super-frames cut into segments on send
	DropBadGSO    uint64 // super-frames refused: GSO off or malformed
	Faults        FaultStats
}

// End is one end of a pipe. It is safe for one reader and any number of
// writers at a time.
type End struct {
	mac      wire.MAC
	mtu      int
	maxFrame int
	fcs      bool
	gso      bool

	rx    *queue // frames for this end
	peer  *End
	rxl   driver.Link // what ReadBatch reads: raw or wrapped in faults
	fault *FaultLink  // nil without faults

	closeOnce sync.Once
	done      chan struct{}

	readMu sync.Mutex
	timer  *time.Timer

	sent, received, dropFull, dropLong, dropShort, dropClosed atomic.Uint64
	gsoFrames, dropBadGSO                                     atomic.Uint64

	segMu  sync.Mutex // guards segBuf
	segBuf []byte     // one segment of a super-frame being cut
}

var _ driver.Link = (*End)(nil)

// New returns the two connected ends of a pipe.
func New(cfg Config) (a, b *End) {
	if cfg.MTU <= 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = cfg.MTU + ethHeaderLen
		if cfg.FCS {
			cfg.MaxFrame += fcsLen
		}
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.MACA == (wire.MAC{}) {
		cfg.MACA = wire.MAC{0x02, 0, 0, 0, 0, 0x0a}
	}
	if cfg.MACB == (wire.MAC{}) {
		cfg.MACB = wire.MAC{0x02, 0, 0, 0, 0, 0x0b}
	}
	a = newEnd(cfg, cfg.MACA)
	b = newEnd(cfg, cfg.MACB)
	a.peer, b.peer = b, a
	// Faults on A->B act where B receives; on B->A where A receives.
	b.setFaults(cfg.AtoB)
	a.setFaults(cfg.BtoA)
	return a, b
}

func newEnd(cfg Config, mac wire.MAC) *End {
	t := time.NewTimer(time.Hour)
	t.Stop()
	e := &End{
		mac:      mac,
		mtu:      cfg.MTU,
		maxFrame: cfg.MaxFrame,
		fcs:      cfg.FCS,
		gso:      cfg.GSO,
		rx:       newQueue(cfg.QueueLen, cfg.MaxFrame),
		done:     make(chan struct{}),
		timer:    t,
	}
	e.rxl = rawEnd{e}
	return e
}

func (e *End) setFaults(f Faults) {
	if f.zero() {
		return
	}
	e.fault = NewFaulty(rawEnd{e}, f)
	e.rxl = e.fault
}

// MTU returns the pipe's IP MTU.
func (e *End) MTU() int { return e.mtu }

// MaxFrame returns the largest frame the pipe carries (FCS included).
func (e *End) MaxFrame() int { return e.maxFrame }

// MAC returns this end's hardware address.
func (e *End) MAC() wire.MAC { return e.mac }

// Stats returns a snapshot of this end's counters.
func (e *End) Stats() Stats {
	s := Stats{
		Sent:          e.sent.Load(),
		Received:      e.received.Load(),
		DropQueueFull: e.dropFull.Load(),
		DropTooLong:   e.dropLong.Load(),
		DropShortBuf:  e.dropShort.Load(),
		DropClosed:    e.dropClosed.Load(),
		GSOFrames:     e.gsoFrames.Load(),
		DropBadGSO:    e.dropBadGSO.Load(),
	}
	if e.fault != nil {
		s.Faults = e.fault.Stats()
	}
	return s
}

// Close closes this end: its blocked and future ReadBatch calls return
// driver.ErrClosed, and frames the peer sends to it are dropped (DropClosed).
func (e *End) Close() error {
	e.closeOnce.Do(func() { close(e.done) })
	return nil
}

func (e *End) closed() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// WriteBatch copies each frame to the peer's queue (the caller may reuse the
// buffers at once). With FCS on, the CRC-32 is appended. Frames longer than
// MaxFrame are dropped, counted and reported with ErrFrameTooLong after the rest
// of the batch is sent; a full peer queue drops the frame and counts it. A
// super-frame (meta[i].GSO, Config.GSO) is sent as its segments; one the pipe
// cannot cut is dropped, counted (DropBadGSO) and reported.
func (e *End) WriteBatch(frames [][]byte, meta []driver.TxMeta) error {
	if e.closed() {
		return fmt.Errorf("pipe: write: %w", driver.ErrClosed)
	}
	var tooLong int
	var bad error
	for i, f := range frames {
		if i < len(meta) && meta[i] != (driver.TxMeta{}) {
			if err := e.writeGSO(f, meta[i], &tooLong); err != nil && bad == nil {
				bad = err
			}
			continue
		}
		e.writeOne(f, &tooLong)
	}
	if tooLong > 0 {
		return fmt.Errorf("pipe: write %d-byte frame (max %d): %w", tooLong, e.maxFrame, ErrFrameTooLong)
	}
	return bad
}

// writeGSO cuts a super-frame into segments and sends each.
func (e *End) writeGSO(f []byte, m driver.TxMeta, tooLong *int) error {
	if !e.gso {
		e.dropBadGSO.Add(1)
		return fmt.Errorf("pipe: write: super-frame on a link without GSO: %w", stack.ErrBadGSO)
	}
	e.segMu.Lock()
	defer e.segMu.Unlock()
	if e.segBuf == nil {
		e.segBuf = make([]byte, 1<<16)
	}
	err := stack.Segment(f, m, e.segBuf, func(seg []byte) { e.writeOne(seg, tooLong) })
	if err != nil {
		e.dropBadGSO.Add(1)
		return fmt.Errorf("pipe: write: %w", err)
	}
	e.gsoFrames.Add(1)
	return nil
}

// writeOne queues one plain frame for the peer, recording in tooLong the length
// of a frame dropped for exceeding MaxFrame.
func (e *End) writeOne(f []byte, tooLong *int) {
	n := len(f)
	if e.fcs {
		n += fcsLen
	}
	if n > e.maxFrame {
		e.dropLong.Add(1)
		*tooLong = n
		return
	}
	if e.peer.closed() {
		e.dropClosed.Add(1)
		return
	}
	buf, ok := e.peer.rx.get()
	if !ok {
		e.dropFull.Add(1)
		return
	}
	copy(buf, f)
	if e.fcs {
		// IEEE 802.3 §3.2.9: the CRC-32 goes out least significant byte first.
		binary.LittleEndian.PutUint32(buf[len(f):], crc32.ChecksumIEEE(f))
	}
	e.peer.rx.put(buf[:n])
	e.sent.Add(1)
}

// GSOMaxSize is 65535 when the pipe was built with Config.GSO, else 0
// (driver.GSOLink).
func (e *End) GSOMaxSize() int {
	if e.gso {
		return 65535
	}
	return 0
}

// ReadBatch delivers queued frames (after faults, if configured). It blocks
// until a frame arrives, the deadline passes (0, nil) or the end is closed.
func (e *End) ReadBatch(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	return e.rxl.ReadBatch(frames, n, meta, deadline)
}

// readRaw is the fault-free receive path.
func (e *End) readRaw(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	max := min(len(frames), len(n), len(meta))
	if max == 0 {
		return 0, nil
	}
	e.readMu.Lock()
	defer e.readMu.Unlock()
	for {
		if e.closed() {
			return 0, fmt.Errorf("pipe: read: %w", driver.ErrClosed)
		}
		got := 0
		now := time.Now()
		for got < max {
			buf, ok := e.rx.take()
			if !ok {
				break
			}
			if len(buf) > len(frames[got]) {
				e.dropShort.Add(1)
				e.rx.free(buf)
				continue
			}
			n[got] = copy(frames[got], buf)
			e.rx.free(buf)
			meta[got] = driver.RxMeta{Time: now, FCS: e.fcs}
			got++
		}
		if got > 0 {
			e.received.Add(uint64(got))
			return got, nil
		}
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, nil
			}
			e.timer.Reset(d)
			select {
			case <-e.rx.ready:
			case <-e.done:
			case <-e.timer.C:
			}
			e.timer.Stop()
		} else {
			select {
			case <-e.rx.ready:
			case <-e.done:
			}
		}
	}
}

// rawEnd exposes an End's fault-free receive path as a driver.Link, so the
// fault wrapper can sit on it.
type rawEnd struct{ e *End }

func (r rawEnd) ReadBatch(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	return r.e.readRaw(frames, n, meta, deadline)
}
func (r rawEnd) WriteBatch(frames [][]byte, meta []driver.TxMeta) error {
	return r.e.WriteBatch(frames, meta)
}
func (r rawEnd) MTU() int      { return r.e.mtu }
func (r rawEnd) MaxFrame() int { return r.e.maxFrame }
func (r rawEnd) MAC() wire.MAC { return r.e.mac }
func (r rawEnd) Close() error  { return r.e.Close() }

// queue is a bounded FIFO of frame buffers. Buffers are allocated lazily up to
// the bound and recycled, so steady traffic allocates nothing.
type queue struct {
	mu       sync.Mutex
	frames   [][]byte // ring of queued frames
	head, n  int
	pool     [][]byte // free buffers
	alloc    int      // buffers allocated so far
	maxFrame int
	ready    chan struct{} // signalled (capacity 1) when a frame is queued
}

func newQueue(size, maxFrame int) *queue {
	return &queue{
		frames:   make([][]byte, size),
		pool:     make([][]byte, 0, size),
		maxFrame: maxFrame,
		ready:    make(chan struct{}, 1),
	}
}

// get returns a free buffer of maxFrame bytes, or false when the queue's
// buffers are all in use (the queue is full).
func (q *queue) get() ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if k := len(q.pool); k > 0 {
		b := q.pool[k-1]
		q.pool = q.pool[:k-1]
		return b[:q.maxFrame], true
	}
	if q.alloc < len(q.frames) {
		q.alloc++
		return make([]byte, q.maxFrame), true
	}
	return nil, false
}

// put queues a buffer obtained from get and wakes the reader.
func (q *queue) put(b []byte) {
	q.mu.Lock()
	q.frames[(q.head+q.n)%len(q.frames)] = b
	q.n++
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take dequeues the oldest frame; the caller returns it with free.
func (q *queue) take() ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return nil, false
	}
	b := q.frames[q.head]
	q.frames[q.head] = nil
	q.head = (q.head + 1) % len(q.frames)
	q.n--
	return b, true
}

// free recycles a buffer.
func (q *queue) free(b []byte) {
	q.mu.Lock()
	q.pool = append(q.pool, b[:cap(b)])
	q.mu.Unlock()
}
