package netconn

import (
	"sync"
	"sync/atomic"
	"time"
)

// A Conn's deadlines cost no timer of their own: a direction's deadline is
// one word (connDeadline), checked before every call, and a call that
// blocks with a deadline set is one entry in a heap shared by every Conn of
// the process (sleepers), under a single timer. At the deadline the timer
// sends the call the token it waits for (the direction's wake-up channel,
// which readiness, Close and the loop's shutdown also wake); the call
// retries, finds its deadline passed and returns. A deadline set in the
// past wakes a blocked call at once, from the setter, with neither heap nor
// timer (net/http aborts its background read that way after every
// request). This is the kernel socket's arrangement (a runtime timer in the
// poll descriptor, armed while a call waits) without a pointer-sized timer
// per connection: an idle keep-alive connection, blocked in Read under
// net/http's idle timeout, costs a heap slot instead of a time.Timer, a
// channel and a closure.

// connDeadline is one direction's deadline of a Conn and the wake-up
// channel of its blocked call. Its heap entry is kept in step with two
// words set without the heap's lock (flags' waiting bit, by the call; at,
// by the setter): each side writes its own and then reads the other's, so
// at least one of them sees both and syncs the entry (or, for a passed
// deadline, wakes the call).
type connDeadline struct {
	at    atomic.Int64  // on the heap's clock (sleeperHeap.now); 0: none; <= now: passed
	flags atomic.Uint32 // waiting: a call of this direction is blocked (or about to be); queued: it has an entry in sleepers.h
	idx   int32         // that entry's index; -1: none (guarded by the heap's mu)
	// ch wakes the direction's blocked call: capacity one, registered with
	// the loop (driver.Loop.DoWaitOn) by the call that blocks, and made by
	// the first call that would block; the call's own goroutine writes it,
	// before it first sets waiting.
	ch chan struct{}
}

// The bits of connDeadline.flags.
const (
	waiting uint32 = 1 << iota
	queued
)

func (d *connDeadline) isWaiting() bool { return d.flags.Load()&waiting != 0 }
func (d *connDeadline) isQueued() bool  { return d.flags.Load()&queued != 0 }

// setFlag sets or clears bit.
func (d *connDeadline) setFlag(bit uint32, on bool) {
	if on {
		d.flags.Or(bit)
	} else {
		d.flags.And(^bit)
	}
}

// wake sends the blocked call its token (one pending is enough).
func (d *connDeadline) wake() {
	select {
	case d.ch <- struct{}{}:
	default:
	}
}

// passed reports whether the deadline has passed.
func (d *connDeadline) passed(s *sleeperHeap) bool {
	at := d.at.Load()
	return at != 0 && s.now() >= at
}

// set moves the deadline to t (zero: none, a past time: passed now). A call
// blocked in this direction is woken when the new deadline passes, at once
// (by this call) if it already has.
func (d *connDeadline) set(s *sleeperHeap, t time.Time) {
	var at int64
	if !t.IsZero() {
		// No clock read: t - base on the monotonic clock when t has a
		// reading (time.Now().Add, as net/http's deadlines), else on the
		// wall clock, as time.Until would.
		at = max(int64(t.Sub(s.base)), 1)
	}
	d.at.Store(at)
	f := d.flags.Load()
	if f&waiting != 0 && at != 0 && at <= s.now() {
		d.wake()
	}
	if f != 0 {
		s.sync(d)
	}
}

// block records that a call of this direction is about to wait on ch, which
// its runner registered. It reports false when the deadline has already
// passed: the call must not wait. With a deadline to come, the call takes a
// heap entry until unblock.
func (d *connDeadline) block(s *sleeperHeap) bool {
	d.setFlag(waiting, true)
	at := d.at.Load()
	if at == 0 {
		return true
	}
	if at <= s.now() {
		return false
	}
	s.sync(d)
	return true
}

// unblock records that the call stopped waiting; its heap entry goes.
func (d *connDeadline) unblock(s *sleeperHeap) {
	d.setFlag(waiting, false)
	if d.isQueued() {
		s.sync(d)
	}
}

// sleeper is a blocked call with a deadline.
type sleeper struct {
	at int64
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

// armLocked points the timer at the earliest deadline. A timer armed no
// later than it is left alone: when the earliest entry goes (its call got
// its data, as every keep-alive request's idle wait does) the next is
// later, and the early expiry wakes nobody and re-arms, which costs less
// than a timer reset per request.
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
	if s.armedAt != 0 && at >= s.armedAt {
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
// call waits with a deadline to come; absent otherwise (a call whose
// deadline has passed is woken by whoever saw it pass: set, or the call
// itself in block).
func (s *sleeperHeap) sync(d *connDeadline) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := d.at.Load()
	switch want := at != 0 && d.isWaiting() && at > s.now(); {
	case want && d.idx >= 0:
		if s.h[d.idx].at != at {
			s.h[d.idx].at = at
			s.fix(int(d.idx))
		}
	case want:
		s.push(sleeper{at: at, d: d})
		d.setFlag(queued, true)
		if !d.isWaiting() { // unblock ran meanwhile and may not have seen queued
			s.remove(int(d.idx))
		}
	case d.idx >= 0:
		s.remove(int(d.idx))
	}
	s.armLocked()
}

// fire wakes every call whose deadline has passed and re-arms the timer.
func (s *sleeperHeap) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.armedAt = 0
	for len(s.h) > 0 && s.h[0].at <= now {
		s.h[0].d.wake()
		s.remove(0)
	}
	s.armLocked()
}

func (s *sleeperHeap) push(e sleeper) {
	e.d.idx = int32(len(s.h))
	s.h = append(s.h, e)
	s.up(len(s.h) - 1)
}

func (s *sleeperHeap) remove(i int) {
	last := len(s.h) - 1
	s.h[i].d.idx = -1
	s.h[i].d.setFlag(queued, false)
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
