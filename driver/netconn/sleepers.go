package netconn

import (
	"sync"
	"sync/atomic"
	"time"
)

// A Conn's deadlines cost no timer and no channel of their own: a
// direction's deadline is one word (connDeadline), checked before every
// call, and a call that blocks with a deadline set is one entry in a heap
// shared by every Conn of the process (sleepers), under a single timer. At
// the deadline the timer wakes the call through the runner's forget (which
// closes the readiness channel it waits on, as Close does); the call
// retries, finds its deadline passed and returns. This is the kernel
// socket's arrangement (a runtime timer in the poll descriptor, armed while
// a call waits) without a pointer-sized timer per connection: an idle
// keep-alive connection, blocked in Read under net/http's idle timeout,
// costs a heap slot instead of a time.Timer, a channel and a closure.

// connDeadline is one direction's deadline of a Conn. Its heap entry is
// kept in step with two flags set without the heap's lock (waiting, by the
// call; at, by the setter): each side writes its own flag and then reads
// the other's, so at least one of them sees both and syncs the entry.
type connDeadline struct {
	at      atomic.Int64 // on the heap's clock (sleeperHeap.now); 0: none; <= now: passed
	waiting atomic.Bool  // a call of this direction is blocked (or about to be)
	queued  atomic.Bool  // it has an entry in sleepers.h
	idx     int32        // that entry's index; -1: none (guarded by the heap's mu)
}

// passed reports whether the deadline has passed.
func (d *connDeadline) passed(s *sleeperHeap) bool {
	at := d.at.Load()
	return at != 0 && s.now() >= at
}

// set moves the deadline to t (zero: none, a past time: passed now). A call
// blocked in this direction is woken when the new deadline passes, at once
// if it already has.
func (d *connDeadline) set(s *sleeperHeap, c *Conn, t time.Time) {
	var at int64
	if !t.IsZero() {
		at = max(s.now()+int64(time.Until(t)), 1)
	}
	d.at.Store(at)
	if d.waiting.Load() || d.queued.Load() {
		s.sync(c, d)
	}
}

// block records that a call of this direction is about to wait on a
// readiness channel its runner registered: with a deadline set, the call
// takes a heap entry until unblock.
func (d *connDeadline) block(s *sleeperHeap, c *Conn) {
	d.waiting.Store(true)
	if d.at.Load() != 0 {
		s.sync(c, d)
	}
}

// unblock records that the call stopped waiting; its heap entry goes.
func (d *connDeadline) unblock(s *sleeperHeap, c *Conn) {
	d.waiting.Store(false)
	if d.queued.Load() {
		s.sync(c, d)
	}
}

// sleeper is a blocked call with a deadline.
type sleeper struct {
	at int64
	c  *Conn
	d  *connDeadline
}

// sleeperHeap is the min-heap of blocked calls by deadline, with the timer
// armed at the earliest. Its clock counts nanoseconds from base on the
// monotonic clock, as Go's own poller keeps deadlines.
type sleeperHeap struct {
	base    time.Time
	mu      sync.Mutex
	h       []sleeper
	timer   *time.Timer
	armedAt int64 // the timer's deadline; 0: stopped
}

// newSleeperHeap returns a heap whose clock starts at 1 (0 means no deadline).
func newSleeperHeap() *sleeperHeap { return &sleeperHeap{base: time.Now().Add(-1)} }

// now returns the heap's clock: nanoseconds since base.
func (s *sleeperHeap) now() int64 { return int64(time.Since(s.base)) }

// armLocked points the timer at the earliest deadline.
func (s *sleeperHeap) armLocked() {
	if len(s.h) == 0 {
		if s.armedAt != 0 {
			s.timer.Stop()
			s.armedAt = 0
		}
		if cap(s.h) > 64 && len(s.h) == 0 {
			s.h = nil // a burst of blocked calls gives its heap back
		}
		return
	}
	at := s.h[0].at
	if at == s.armedAt {
		return
	}
	s.armedAt = at
	d := time.Duration(at - s.now())
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.fire)
		return
	}
	s.timer.Reset(d)
}

// sync makes d's entry match its state: present, at d's deadline, while a
// call waits with a deadline set; absent otherwise.
func (s *sleeperHeap) sync(c *Conn, d *connDeadline) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := d.at.Load()
	switch want := at != 0 && d.waiting.Load(); {
	case want && d.idx >= 0:
		if s.h[d.idx].at != at {
			s.h[d.idx].at = at
			s.fix(int(d.idx))
		}
	case want:
		s.push(sleeper{at: at, c: c, d: d})
		d.queued.Store(true)
		if !d.waiting.Load() { // unblock ran meanwhile and may not have seen queued
			s.remove(int(d.idx))
		}
	case d.idx >= 0:
		s.remove(int(d.idx))
	}
	s.armLocked()
}

// fire wakes every call whose deadline has passed and re-arms the timer.
func (s *sleeperHeap) fire() {
	var woken []*Conn
	s.mu.Lock()
	now := s.now()
	s.armedAt = 0
	for len(s.h) > 0 && s.h[0].at <= now {
		woken = append(woken, s.h[0].c)
		s.remove(0)
	}
	s.armLocked()
	s.mu.Unlock()
	for _, c := range woken {
		c.r.forget(c.fd) // closes the readiness channel the call waits on
	}
}

func (s *sleeperHeap) push(e sleeper) {
	e.d.idx = int32(len(s.h))
	s.h = append(s.h, e)
	s.up(len(s.h) - 1)
}

func (s *sleeperHeap) remove(i int) {
	last := len(s.h) - 1
	s.h[i].d.idx = -1
	s.h[i].d.queued.Store(false)
	if i != last {
		s.h[i] = s.h[last]
		s.h[i].d.idx = int32(i)
	}
	s.h[last] = sleeper{}
	s.h = s.h[:last]
	if i != last {
		s.fix(i)
	}
}

func (s *sleeperHeap) fix(i int) {
	if !s.down(i) {
		s.up(i)
	}
}

func (s *sleeperHeap) swap(i, j int) {
	s.h[i], s.h[j] = s.h[j], s.h[i]
	s.h[i].d.idx, s.h[j].d.idx = int32(i), int32(j)
}

func (s *sleeperHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if s.h[p].at <= s.h[i].at {
			return
		}
		s.swap(i, p)
		i = p
	}
}

// down sifts entry i down and reports whether it moved.
func (s *sleeperHeap) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(s.h) {
			break
		}
		m := l
		if r := l + 1; r < len(s.h) && s.h[r].at < s.h[l].at {
			m = r
		}
		if s.h[i].at <= s.h[m].at {
			break
		}
		s.swap(i, m)
		i = m
	}
	return i > start
}
