// Package pipe is an in-memory Ethernet link pair with seeded fault injection
// (loss, duplication, reordering, corruption, delay) and an optional Ethernet
// FCS. Both ends implement driver.Link, so a stack runs over a pipe exactly as
// it runs over AF_PACKET, and driver.LendingLink: the loop reads the frames
// where they lie in the queue, so a frame is copied once, into the peer's
// queue. A batch takes the queue's lock twice on each side, not per frame.
// The fault wrapper (Faulty) works on any driver.Link.
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
	// a kernel would, before it reaches the peer's queue, and checksums left
	// to the link (TxMeta.NeedsCsum) are completed likewise.
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
	isClosed  atomic.Bool // set by Close before done is closed

	readMu sync.Mutex // one reader at a time; guards timer and the lending state
	timer  *time.Timer
	lent   [][]byte // queue buffers the last ReadLent lent; freed at the next read
	lendTo [][]byte // ReadLent's own buffers when faults sit in front (made on first use)
	lendN  []int    // their lengths

	sent, received, dropFull, dropLong, dropShort, dropClosed atomic.Uint64
	gsoFrames, dropBadGSO                                     atomic.Uint64

	segMu  sync.Mutex // guards segBuf
	segBuf []byte     // one segment of a super-frame being cut
}

var _ driver.LendingLink = (*End)(nil)

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
	e.closeOnce.Do(func() {
		e.isClosed.Store(true)
		close(e.done)
	})
	return nil
}

func (e *End) closed() bool { return e.isClosed.Load() }

// WriteBatch copies each frame to the peer's queue (the caller may reuse the
// buffers at once). With FCS on, the CRC-32 is appended. Frames longer than
// MaxFrame are dropped, counted and reported with ErrFrameTooLong after the rest
// of the batch is sent; a full peer queue drops the frame and counts it. A
// super-frame (meta[i].GSO, Config.GSO) is sent as its segments, and a frame
// whose checksum the stack left to the link (meta[i].NeedsCsum) with it
// completed, both by stack.Segment; one the pipe cannot cut is dropped,
// counted (DropBadGSO) and reported.
func (e *End) WriteBatch(frames [][]byte, meta []driver.TxMeta) error {
	if e.closed() {
		return fmt.Errorf("pipe: write: %w", driver.ErrClosed)
	}
	var tooLong int
	var bad error
	start := 0 // the plain frames frames[start:i] are sent together
	for i, f := range frames {
		if i < len(meta) && meta[i] != (driver.TxMeta{}) {
			e.send(frames[start:i], &tooLong)
			start = i + 1
			if err := e.writeGSO(f, meta[i], &tooLong); err != nil && bad == nil {
				bad = err
			}
		}
	}
	e.send(frames[start:], &tooLong)
	if tooLong > 0 {
		return fmt.Errorf("pipe: write %d-byte frame (max %d): %w", tooLong, e.maxFrame, ErrFrameTooLong)
	}
	return bad
}

// writeGSO cuts a super-frame into segments and sends each, or completes a
// plain frame's checksum (NeedsCsum) and sends it.
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
	if m.GSO != stack.GSONone {
		e.gsoFrames.Add(1)
	}
	return nil
}

// writeOne queues one plain frame for the peer (a segment of a super-frame).
func (e *End) writeOne(f []byte, tooLong *int) { e.send([][]byte{f}, tooLong) }

// sendChunk is how many frames send copies per reservation of the peer's
// queue: two critical sections per chunk instead of two per frame.
const sendChunk = 64

// send queues plain frames for the peer in order, recording in tooLong the
// length of a frame dropped for exceeding MaxFrame. It reserves buffers of
// the peer's queue for a chunk of frames under one lock, copies the frames
// into them without it, and queues them under one lock again, so the peer's
// reader is held off only while buffers change hands.
func (e *End) send(frames [][]byte, tooLong *int) {
	if len(frames) == 0 {
		return
	}
	if e.peer.closed() {
		e.dropClosed.Add(uint64(len(frames)))
		return
	}
	var bufs [sendChunk][]byte
	for len(frames) > 0 {
		chunk := frames[:min(len(frames), sendChunk)]
		frames = frames[len(chunk):]
		want := 0
		for _, f := range chunk {
			if e.frameLen(f) <= e.maxFrame {
				want++
			}
		}
		got := e.peer.rx.reserve(bufs[:want])
		k := 0
		for _, f := range chunk {
			n := e.frameLen(f)
			if n > e.maxFrame {
				e.dropLong.Add(1)
				*tooLong = n
				continue
			}
			if k == got {
				e.dropFull.Add(1)
				continue
			}
			buf := bufs[k][:n]
			copy(buf, f)
			if e.fcs {
				// IEEE 802.3 §3.2.9: the CRC-32 goes out least significant byte first.
				binary.LittleEndian.PutUint32(buf[len(f):], crc32.ChecksumIEEE(f))
			}
			bufs[k] = buf
			k++
		}
		e.peer.rx.put(bufs[:k])
		e.sent.Add(uint64(k))
		clear(bufs[:k])
	}
}

// frameLen is f's length on the wire (with the FCS when the pipe adds one).
func (e *End) frameLen(f []byte) int {
	if e.fcs {
		return len(f) + fcsLen
	}
	return len(f)
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

// ReadLent is ReadBatch without a copy (driver.LendingLink): frames[i] is
// set to the i-th frame where it lies in the queue, valid until the next
// ReadLent, ReadBatch or Close. With faults configured the frames come
// through the fault wrapper into buffers of the End's own, lent likewise.
func (e *End) ReadLent(frames [][]byte, meta []driver.RxMeta, deadline time.Time) (int, error) {
	max := min(len(frames), len(meta))
	if max == 0 {
		return 0, nil
	}
	if e.fault != nil {
		return e.readFaultyLent(frames[:max], meta, deadline)
	}
	e.readMu.Lock()
	defer e.readMu.Unlock()
	return e.wait(deadline, func(now time.Time) int {
		e.lent = e.rx.takeBatch(e.lent, max)
		copy(frames, e.lent)
		for i := range e.lent {
			meta[i] = driver.RxMeta{Time: now, FCS: e.fcs}
		}
		return len(e.lent)
	})
}

// readFaultyLent reads through the fault wrapper into the End's own buffers
// and lends them.
func (e *End) readFaultyLent(frames [][]byte, meta []driver.RxMeta, deadline time.Time) (int, error) {
	e.readMu.Lock()
	if len(e.lendTo) < len(frames) {
		e.lendTo = make([][]byte, len(frames))
		for i := range e.lendTo {
			e.lendTo[i] = make([]byte, e.maxFrame)
		}
		e.lendN = make([]int, len(frames))
	}
	to, n := e.lendTo[:len(frames)], e.lendN[:len(frames)]
	e.readMu.Unlock()
	k, err := e.fault.ReadBatch(to, n, meta, deadline) // takes readMu itself, in readRaw
	for i := range k {
		frames[i] = to[i][:n[i]]
	}
	return k, err
}

// readRaw is the fault-free receive path: frames are copied into the
// caller's buffers.
func (e *End) readRaw(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	max := min(len(frames), len(n), len(meta))
	if max == 0 {
		return 0, nil
	}
	e.readMu.Lock()
	defer e.readMu.Unlock()
	return e.wait(deadline, func(now time.Time) int {
		got := 0
		for got < max { // a frame too long for its buffer is dropped: take more
			e.lent = e.rx.takeBatch(e.lent, max-got)
			if len(e.lent) == 0 {
				break
			}
			for _, buf := range e.lent {
				if len(buf) > len(frames[got]) {
					e.dropShort.Add(1)
					continue
				}
				n[got] = copy(frames[got], buf)
				meta[got] = driver.RxMeta{Time: now, FCS: e.fcs}
				got++
			}
			e.lent = e.rx.giveBack(e.lent)
		}
		return got
	})
}

// wait calls take until it delivers frames, blocking between tries until a
// frame is queued, the deadline passes (0, nil) or the end is closed. The
// caller holds readMu.
func (e *End) wait(deadline time.Time, take func(now time.Time) int) (int, error) {
	e.lent = e.rx.giveBack(e.lent)
	for {
		if e.closed() {
			return 0, fmt.Errorf("pipe: read: %w", driver.ErrClosed)
		}
		if got := take(time.Now()); got > 0 {
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

// queue is a bounded FIFO of frame buffers: at most len(frames) frames are
// queued or reserved by writers at once. Buffers are allocated lazily and
// recycled, so steady traffic allocates nothing; besides the queued and
// reserved ones, the reader holds those it took (at most one batch). Every
// buffer is in exactly one place: the pool, reserved by a writer, queued, or
// taken by the reader.
type queue struct {
	mu       sync.Mutex
	frames   [][]byte // ring of queued frames
	head, n  int
	reserved int      // buffers writers reserved and have not queued yet
	pool     [][]byte // free buffers
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

// reserve fills bufs with free buffers of maxFrame bytes and returns how many
// it got: fewer than len(bufs) when the queue is full. Buffers first needed
// are allocated outside the lock.
func (q *queue) reserve(bufs [][]byte) int {
	if len(bufs) == 0 {
		return 0
	}
	q.mu.Lock()
	got := min(len(bufs), len(q.frames)-q.n-q.reserved)
	q.reserved += got
	for i := range got {
		bufs[i] = nil
		if k := len(q.pool); k > 0 {
			bufs[i] = q.pool[k-1]
			q.pool[k-1] = nil
			q.pool = q.pool[:k-1]
		}
	}
	q.mu.Unlock()
	for i := range got {
		if bufs[i] == nil {
			bufs[i] = make([]byte, q.maxFrame)
		} else {
			bufs[i] = bufs[i][:q.maxFrame]
		}
	}
	return got
}

// put queues buffers obtained from reserve, in order, and wakes the reader.
func (q *queue) put(bufs [][]byte) {
	if len(bufs) == 0 {
		return
	}
	q.mu.Lock()
	for _, b := range bufs {
		q.frames[(q.head+q.n)%len(q.frames)] = b
		q.n++
	}
	q.reserved -= len(bufs)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// takeBatch dequeues up to max of the oldest frames into taken (emptied
// first) and returns it; the caller owns them until giveBack.
func (q *queue) takeBatch(taken [][]byte, max int) [][]byte {
	taken = taken[:0]
	q.mu.Lock()
	for q.n > 0 && len(taken) < max {
		taken = append(taken, q.frames[q.head])
		q.frames[q.head] = nil
		q.head = (q.head + 1) % len(q.frames)
		q.n--
	}
	q.mu.Unlock()
	return taken
}

// giveBack recycles buffers taken with takeBatch and returns taken emptied.
func (q *queue) giveBack(taken [][]byte) [][]byte {
	if len(taken) == 0 {
		return taken
	}
	q.mu.Lock()
	for _, b := range taken {
		q.pool = append(q.pool, b[:cap(b)])
	}
	q.mu.Unlock()
	clear(taken)
	return taken[:0]
}
