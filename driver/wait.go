package driver

import (
	"errors"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
)

// The loop's registry of blocked callers: a call that would block registers
// a channel for its descriptor and the readiness it waits for, under the
// loop's mutex, and flushLocked's drain of the stack's readiness changes
// takes it off the registry (onReady) and wakes it once the mutex is
// released (unlockWake).

// waitEntry is one channel woken when its fd reports readiness in mask:
// closed when the loop made it for the wait (DoWait, Wait), sent one token
// when the caller owns it and reuses it (DoWaitOn).
type waitEntry struct {
	mask  stack.Readiness
	token bool
	ch    chan struct{}
}

// wake closes the entry's channel, or sends its token; a token already
// pending is wake-up enough.
func (w waitEntry) wake() {
	if !w.token {
		close(w.ch)
		return
	}
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// DoWait runs fn like Do. If fn's error is sock.ErrWouldBlock it also
// registers, before the mutex is released, a channel that is closed when fd
// next reports readiness in mask (or Closed, or the loop shuts down), and
// returns it with the error: the caller waits on it and retries. No readiness
// change can fall between the failed call and the registration. After
// shutdown it returns (nil, ErrLoopClosed).
func (l *Loop) DoWait(fd stack.FD, mask stack.Readiness, fn func(now time.Time, s *stack.Stack) error) (<-chan struct{}, error) {
	return l.doWait(fd, mask, false, nil, fn)
}

// DoWaitOn is DoWait for a caller that owns its wake-up channel and reuses
// it: ch must have a capacity of one (a nil ch registers nothing: the
// caller makes its channel and calls again). If fn's error is
// sock.ErrWouldBlock, ch is registered (a token left on it by an earlier wake-up is dropped
// first) and receives one token when fd next reports readiness in mask (or
// Closed), on Forget(fd), or when the loop shuts down. A caller that blocks
// on every wait makes no channel, as DoWait does, per wait. A token that
// comes after the caller stopped waiting (it gave up for a deadline) stays
// on ch until the next DoWaitOn drops it. After shutdown it returns
// ErrLoopClosed without running fn.
func (l *Loop) DoWaitOn(fd stack.FD, mask stack.Readiness, ch chan struct{}, fn func(now time.Time, s *stack.Stack) error) error {
	_, err := l.doWait(fd, mask, true, ch, fn)
	return err
}

// doWait is DoWait (token false) and DoWaitOn (token true, tok the caller's
// channel).
func (l *Loop) doWait(fd stack.FD, mask stack.Readiness, token bool, tok chan struct{}, fn func(now time.Time, s *stack.Stack) error) (<-chan struct{}, error) {
	now, ok := l.lockCall()
	if !ok {
		return nil, ErrLoopClosed
	}
	err := fn(now, l.st)
	var ch <-chan struct{}
	if errors.Is(err, sock.ErrWouldBlock) {
		if !token {
			ch = l.waitLocked(fd, mask)
		} else if tok != nil {
			select {
			case <-tok: // a stale token: its wake-up was seen by a retry
			default:
			}
			l.addWaiterLocked(fd, waitEntry{mask: mask, token: true, ch: tok})
		}
	}
	l.unlockAndWrite(l.flushLocked(now, false))
	return ch, err
}

// Wait returns a channel closed when fd next reports readiness in mask (or
// Closed), or when the loop shuts down. Prefer DoWait, which cannot miss a
// change that happens between a failed call and the registration.
func (l *Loop) Wait(fd stack.FD, mask stack.Readiness) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.done
	}
	return l.waitLocked(fd, mask)
}

// waitLocked registers (or shares) the waiter for (fd, mask). Waiters with the
// same mask share one channel, so a caller that gives up (deadline) and waits
// again does not grow the registry.
func (l *Loop) waitLocked(fd stack.FD, mask stack.Readiness) <-chan struct{} {
	for _, w := range l.waiters.get(fd) {
		if !w.token && w.mask == mask {
			return w.ch
		}
	}
	ch := make(chan struct{})
	l.addWaiterLocked(fd, waitEntry{mask: mask, ch: ch})
	return ch
}

// addWaiterLocked registers w for fd; a token channel already registered
// for fd widens its mask instead of taking a second entry.
func (l *Loop) addWaiterLocked(fd stack.FD, w waitEntry) {
	ws := l.waiters.get(fd)
	if w.token {
		for i := range ws {
			if ws[i].ch == w.ch {
				ws[i].mask |= w.mask
				return
			}
		}
	}
	l.waiters.set(fd, append(ws, w))
}

// Forget wakes and drops every waiter of fd; socket layers call it when they
// release a descriptor, so the number may be reused without stale waiters.
func (l *Loop) Forget(fd stack.FD) {
	l.mu.Lock()
	l.stats.Calls++
	l.forgetLocked(fd)
	l.unlockWake()
}

// DoForget runs fn like Do, then forgets fd's waiters as Forget does, in
// the same critical section: a socket layer releasing fd (its CLOSE or
// ABORT in fn) takes the loop's mutex once instead of twice. It returns
// fn's error, or ErrLoopClosed (and does not run fn) after shutdown, which
// woke every waiter.
func (l *Loop) DoForget(fd stack.FD, fn func(now time.Time, s *stack.Stack) error) error {
	now, ok := l.lockCall()
	if !ok {
		return ErrLoopClosed
	}
	err := fn(now, l.st)
	l.forgetLocked(fd)
	l.unlockAndWrite(l.flushLocked(now, false))
	return err
}

// forgetLocked takes every waiter of fd off the registry, to be woken by
// unlockWake.
func (l *Loop) forgetLocked(fd stack.FD) {
	l.wakes = append(l.wakes, l.waiters.get(fd)...)
	l.waiters.drop(fd)
}

// wakeBatch is how many of a critical section's wake-ups unlockWake makes
// after releasing the mutex; any beyond are made under it.
const wakeBatch = 16

// onReady takes the waiters of fd whose mask intersects ev (Closed: all)
// off the registry; unlockWake wakes them.
func (l *Loop) onReady(fd stack.FD, ev stack.Readiness) {
	l.stats.ReadyEvents++
	ws := l.waiters.get(fd)
	if len(ws) == 0 {
		return
	}
	keep := ws[:0]
	for _, w := range ws {
		if w.mask&ev != 0 || ev&sock.Closed != 0 {
			l.wakes = append(l.wakes, w)
			l.stats.Wakeups++
			continue
		}
		keep = append(keep, w)
	}
	if len(keep) == 0 {
		l.waiters.drop(fd)
		return
	}
	clear(ws[len(keep):])
	l.waiters.set(fd, keep)
}

// unlockWake releases the mutex, then wakes the waiters onReady took off
// the registry during the critical section. Woken outside the mutex, a
// waiter (a goroutine blocked in Read, on the other core) finds it free
// when it retries its call at once, instead of spinning and sleeping on it
// while the loop still holds it for the rest of an input batch, and the
// thread wake-up a wake may cost is not paid inside the critical section.
// A waiter it wakes is already off the registry, so no other wake reaches
// it twice; a token that arrives after its caller stopped waiting is
// dropped by the caller's next DoWaitOn, as any late token.
func (l *Loop) unlockWake() {
	if len(l.wakes) == 0 {
		l.mu.Unlock()
		return
	}
	var ws [wakeBatch]waitEntry
	n := copy(ws[:], l.wakes)
	for _, w := range l.wakes[n:] {
		w.wake()
	}
	clear(l.wakes)
	l.wakes = l.wakes[:0]
	l.mu.Unlock()
	for _, w := range ws[:n] {
		w.wake()
	}
}
