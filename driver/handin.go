package driver

import (
	"sync"
	"time"
)

// Bounds of a loop's hand-in queue (HandIn): datagrams another loop
// reassembled for a flow this loop owns wait here until the loop takes
// them. More are dropped and counted (LoopStats.HandInDrops).
const (
	MaxHandIn      = 64      // datagrams waiting
	MaxHandInBytes = 1 << 20 // their octets
)

// datagramInput is implemented by engines that take a whole IPv4 datagram
// reassembled by another stack (*stack.Stack: InputDatagram).
type datagramInput interface {
	InputDatagram(now time.Time, dgram []byte)
}

// handIn is a loop's hand-in queue. Its mutex is a leaf: HandIn takes it
// under the handing loop's own mutex, the drain under this loop's, and
// nothing is locked while it is held.
type handIn struct {
	mu    sync.Mutex
	q     [][]byte
	spare [][]byte // the drain's swap slice
	bytes int
	// Buffers of drained datagrams kept for the next copies (at most
	// MaxHandIn of them, MaxHandInBytes of capacity), so a steady
	// hand-off allocates nothing.
	free      [][]byte
	freeBytes int
	wake      *time.Timer // runs drainHandIn on a goroutine of its own
	// Counters, guarded by mu (Stats adds them to the loop's).
	queued, drops uint64
}

// HandIn gives the loop a copy of the IPv4 datagram hdr followed by
// payload (one copy, into a buffer of the queue's), which another
// loop's stack reassembled from fragments for a TCP flow this loop owns
// (stack.Config.HandOff): the loop's stack takes it soon after with
// InputDatagram, on a goroutine the loop's wake-up timer starts, as if it
// had arrived whole. HandIn never blocks on the loop: when the queue is
// full (MaxHandIn datagrams or MaxHandInBytes octets), the loop is closed
// or its engine takes no datagram, it drops the datagram, counts it
// (LoopStats.HandInDrops) and returns false.
func (l *Loop) HandIn(hdr, payload []byte) bool {
	h := &l.hin
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(hdr) + len(payload)
	if l.dgIn == nil || len(h.q) >= MaxHandIn || h.bytes+n > MaxHandInBytes || h.wake == nil {
		h.drops++
		return false
	}
	h.q = append(h.q, append(append(h.buffer(n), hdr...), payload...))
	h.bytes += n
	h.queued++
	if len(h.q) == 1 {
		// The first one wakes the loop; the others join the same drain.
		h.wake.Reset(0)
	}
	return true
}

// buffer returns an empty buffer of capacity n or more: the smallest kept
// one that is large enough, else a new one of n rounded up to a power of
// two (2 KiB at least), so that datagrams of similar sizes share buffers.
// h.mu is held.
func (h *handIn) buffer(n int) []byte {
	best := -1
	for i, b := range h.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(h.free[best])) {
			best = i
		}
	}
	if best < 0 {
		c := 2048
		for c < n {
			c *= 2
		}
		return make([]byte, 0, c)
	}
	b := h.free[best]
	last := len(h.free) - 1
	h.free[best], h.free[last] = h.free[last], nil
	h.free = h.free[:last]
	h.freeBytes -= cap(b)
	return b[:0]
}

// drainHandIn gives the queued datagrams to the stack under the loop's
// mutex, in the order they came, then flushes its output. The queue is
// taken under the loop's mutex, so two drains that overlap keep the order.
func (l *Loop) drainHandIn() {
	l.mu.Lock()
	h := &l.hin
	h.mu.Lock()
	batch := h.q
	h.q, h.spare = h.spare[:0], nil
	h.bytes = 0
	h.mu.Unlock()
	if l.closed || len(batch) == 0 {
		l.mu.Unlock()
		l.recycleHandIn(batch)
		return
	}
	now := l.nowLocked()
	for _, d := range batch {
		l.dgIn.InputDatagram(now, d)
	}
	l.unlockAndWrite(l.flushLocked(now, false))
	l.recycleHandIn(batch)
}

// recycleHandIn keeps a drained batch's buffers (within the free list's
// bounds) and its slice for the next swap.
func (l *Loop) recycleHandIn(batch [][]byte) {
	h := &l.hin
	h.mu.Lock()
	for _, b := range batch {
		if len(h.free) < MaxHandIn && h.freeBytes+cap(b) <= MaxHandInBytes {
			h.free = append(h.free, b)
			h.freeBytes += cap(b)
		}
	}
	clear(batch)
	if h.spare == nil {
		h.spare = batch[:0]
	}
	h.mu.Unlock()
}

// stopHandIn stops the wake-up timer and drops what waits (shutdown); a
// later HandIn is dropped and counted.
func (l *Loop) stopHandIn() {
	h := &l.hin
	h.mu.Lock()
	if h.wake != nil {
		h.wake.Stop()
		h.wake = nil
	}
	h.drops += uint64(len(h.q))
	clear(h.q)
	clear(h.free)
	h.q, h.bytes, h.free, h.freeBytes = h.q[:0], 0, nil, 0
	h.mu.Unlock()
}

// handInStats adds the hand-in queue's counters to st.
func (l *Loop) handInStats(st *LoopStats) {
	l.hin.mu.Lock()
	st.HandIns, st.HandInDrops = l.hin.queued, l.hin.drops
	l.hin.mu.Unlock()
}
