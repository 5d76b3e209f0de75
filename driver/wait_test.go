package driver

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
)

// tokens counts the tokens waiting on ch (0 or 1) and takes them.
func tokens(ch chan struct{}) int {
	select {
	case <-ch:
		return 1
	default:
		return 0
	}
}

// registered counts the descriptors with waiters in l's registry.
func registered(l *Loop) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiters.len()
}

// waitersOf counts fd's registrations in l's registry.
func waitersOf(l *Loop, fd stack.FD) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters.get(fd))
}

// TestLoopDoWaitOnSendsOneToken: a caller's own channel registered by
// DoWaitOn receives one token on matching readiness (none for another
// mask or another fd), is registered once however often the caller waits,
// and drops a stale token when registered again; Forget and Close send one
// too. A nil channel registers nothing. Every woken registration leaves the
// registry.
func TestLoopDoWaitOnSendsOneToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{}, LoopOptions{})
		const fd = stack.FD(3)
		wouldBlock := func(time.Time, *stack.Stack) error { return sock.ErrWouldBlock }
		rd, wr := make(chan struct{}, 1), make(chan struct{}, 1)
		for range 3 {
			if err := h.loop.DoWaitOn(fd, sock.Readable, rd, wouldBlock); !errors.Is(err, sock.ErrWouldBlock) {
				t.Fatalf("DoWaitOn = %v", err)
			}
		}
		h.loop.DoWaitOn(fd, sock.Writable, wr, wouldBlock)
		if err := h.loop.DoWaitOn(fd, sock.Readable, nil, wouldBlock); !errors.Is(err, sock.ErrWouldBlock) {
			t.Fatalf("DoWaitOn(nil) = %v", err)
		}
		if n := waitersOf(h.loop, fd); n != 2 {
			t.Fatalf("%d registrations for two channels waited on four times (and a nil one)", n)
		}

		h.with(func(_ time.Time, e *fakeEngine) {
			e.ready = append(e.ready, readyEv{fd, sock.Writable}, readyEv{fd + 1, sock.Readable})
		})
		if r, w := tokens(rd), tokens(wr); r != 0 || w != 1 {
			t.Fatalf("Writable of fd and Readable of another: reader got %d tokens (want 0), writer %d (want 1)", r, w)
		}
		h.with(func(_ time.Time, e *fakeEngine) {
			e.ready = append(e.ready, readyEv{fd, sock.Readable}, readyEv{fd, sock.Readable})
		})
		if r := len(rd); r != 1 {
			t.Fatalf("two Readable reports left %d tokens, want 1 (one wake-up per registration)", r)
		}
		if n := registered(h.loop); n != 0 {
			t.Fatalf("%d fds still registered after all waiters woke", n)
		}

		// rd still holds its token, as after a caller that stopped waiting:
		// the next registration drops it, so it cannot end a wait early.
		h.loop.DoWaitOn(fd, sock.Readable, rd, wouldBlock)
		if r := len(rd); r != 0 {
			t.Fatalf("a stale token survived the next registration")
		}
		h.loop.Forget(fd)
		if tokens(rd) != 1 {
			t.Fatal("Forget sent no token")
		}
		h.loop.DoWaitOn(fd, sock.Readable, rd, wouldBlock)
		if err := h.loop.Close(); err != nil {
			t.Fatal(err)
		}
		if tokens(rd) != 1 {
			t.Fatal("Close sent no token")
		}
		if err := h.loop.DoWaitOn(fd, sock.Readable, rd, wouldBlock); !errors.Is(err, ErrLoopClosed) {
			t.Fatalf("DoWaitOn after Close = %v, want ErrLoopClosed", err)
		}
	})
}

// TestLoopDoWaitOnAllocatesNothing: a wait on a reused channel and its
// wake-up by readiness, the per-request path of a blocked Read, allocate
// nothing once the loop has seen one (the registry keeps the emptied
// slice for the next wait).
func TestLoopDoWaitOnAllocatesNothing(t *testing.T) {
	eng := &fakeEngine{}
	l := newLoop(newFakeLink(), nil, eng, LoopOptions{})
	defer l.Close()
	const fd = stack.FD(4)
	ch := make(chan struct{}, 1)
	wouldBlock := func(time.Time, *stack.Stack) error { return sock.ErrWouldBlock }
	eng.ready = make([]readyEv, 0, 1)
	ready := func(time.Time, *stack.Stack) { eng.ready = append(eng.ready, readyEv{fd, sock.Readable}) }
	cycle := func() {
		if err := l.DoWaitOn(fd, sock.Readable, ch, wouldBlock); !errors.Is(err, sock.ErrWouldBlock) {
			t.Fatal(err)
		}
		l.Do(ready)
		if tokens(ch) != 1 {
			t.Fatal("no wake-up")
		}
	}
	cycle()
	if a := testing.AllocsPerRun(100, cycle); a != 0 {
		t.Fatalf("a wait and its wake-up allocate %.1f times, want 0", a)
	}
}

// TestLoopWakesAfterUnlock: the waiters readiness wakes (more of them than
// one wake batch, token and closed channels alike) get no wake-up while the
// loop still holds its mutex (the engine, under it after its readiness
// drain, sees none), and every one has it when the call that made them
// ready returns; DoForget runs its call and wakes the released
// descriptor's waiters in one critical section, after it too.
func TestLoopWakesAfterUnlock(t *testing.T) {
	eng := &fakeEngine{}
	l := newLoop(newFakeLink(), nil, eng, LoopOptions{})
	defer l.Close()
	wouldBlock := func(time.Time, *stack.Stack) error { return sock.ErrWouldBlock }
	const n = wakeBatch + 4
	toks := make([]chan struct{}, n)
	closed := make([]<-chan struct{}, n)
	for i := range n {
		fd := stack.FD(10 + i)
		toks[i] = make(chan struct{}, 1)
		l.DoWaitOn(fd, sock.Readable, toks[i], wouldBlock)
		closed[i], _ = l.DoWait(fd, sock.Readable, wouldBlock)
	}
	woken := func() (k int) {
		for i := range n {
			k += len(toks[i])
			if isClosed(closed[i]) {
				k++
			}
		}
		return k
	}
	inside := -1
	eng.onReady = func() { inside = woken() }
	l.Do(func(time.Time, *stack.Stack) {
		for i := range n {
			eng.ready = append(eng.ready, readyEv{stack.FD(10 + i), sock.Readable})
		}
	})
	if inside != 0 || woken() != 2*n {
		t.Fatalf("%d of %d waiters woken under the mutex, %d once the call returned; want 0 and all", inside, 2*n, woken())
	}

	const fd = stack.FD(7)
	rd := make(chan struct{}, 1)
	l.DoWaitOn(fd, sock.Readable, rd, wouldBlock)
	calls := l.Stats().Calls
	inside = -1
	eng.onReady = func() { inside = len(rd) }
	ran := false
	err := l.DoForget(fd, func(time.Time, *stack.Stack) error { ran = true; return sock.ErrBadFD })
	if !ran || !errors.Is(err, sock.ErrBadFD) || l.Stats().Calls != calls+1 {
		t.Fatalf("DoForget: ran %v, err %v, %d calls; want its call run once and its error", ran, err, l.Stats().Calls-calls)
	}
	if inside != 0 || tokens(rd) != 1 {
		t.Fatalf("DoForget: the waiter had %d tokens under the mutex, want 0 then 1 after", inside)
	}
	if left := registered(l); left != 0 {
		t.Fatalf("%d descriptors still registered", left)
	}
	l.Close()
	if err := l.DoForget(fd, func(time.Time, *stack.Stack) error { ran = false; return nil }); !errors.Is(err, ErrLoopClosed) || !ran {
		t.Fatalf("DoForget after Close = %v (ran: %v), want ErrLoopClosed without running", err, !ran)
	}
}

// TestLoopTimerLaterDeadlineFiresOnTime: a deadline that moves later while
// the timer is armed (a busy connection's retransmission timer) is still
// met: Poll runs at the new deadline, and at most once before it (the
// timer armed for the old one, whose Poll finds nothing due).
func TestLoopTimerLaterDeadlineFiresOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, start := startTimerLoop(t, 100*time.Millisecond, "due")
		for _, at := range []time.Duration{150, 200, 300} {
			time.Sleep(10 * time.Millisecond)
			h.with(func(_ time.Time, e *fakeEngine) { e.deadline = start.Add(at * time.Millisecond) })
		}
		time.Sleep(time.Second)
		synctest.Wait()
		polls := offsets(h.eng.pollsLocked(h.loop), start)
		if len(polls) == 0 || len(polls) > 2 || polls[len(polls)-1] != 300*time.Millisecond {
			t.Fatalf("polls at %v after start, want the last at 300ms and at most one before", polls)
		}
		if sent, _ := h.link.sent(); len(sent) != 1 {
			t.Fatalf("sent %q, want the one frame of the due Poll", sent)
		}
	})
}

// startTimerLoop starts a loop whose engine's deadline is first after d
// from start; its Poll clears the deadline once due and then, unless out
// is empty, queues the frame out.
func startTimerLoop(t *testing.T, d time.Duration, out string) (h *harness, start time.Time) {
	h = startLoop(t, &fakeEngine{}, LoopOptions{})
	h.with(func(now time.Time, e *fakeEngine) {
		start = now
		e.deadline = now.Add(d)
		e.onPoll = func(now time.Time) {
			if !now.Before(e.deadline) {
				e.deadline = time.Time{}
				if out != "" {
					e.out = append(e.out, []byte(out))
				}
			}
		}
	})
	return h, start
}

// TestWaitRegistry: the registry holds waiters by descriptor, the stack's
// small numbers in its slice and others (negative, or past denseFDs) in
// its map, counts the descriptors with waiters, lists each once, and
// keeps a dropped descriptor's emptied slice for its next wait, so that
// wait allocates nothing.
func TestWaitRegistry(t *testing.T) {
	var r waitRegistry
	ch := make(chan struct{}, 1)
	fds := []stack.FD{0, 5, -1, denseFDs, denseFDs + 7}
	for i, fd := range fds {
		r.set(fd, append(r.get(fd), waitEntry{mask: stack.Readiness(i + 1), ch: ch}))
	}
	r.set(5, append(r.get(5), waitEntry{mask: sock.Writable, ch: ch}))
	if r.len() != len(fds) {
		t.Fatalf("len %d, want %d", r.len(), len(fds))
	}
	seen := map[stack.FD]int{}
	r.each(func(fd stack.FD, ws []waitEntry) { seen[fd] += len(ws) })
	for i, fd := range fds {
		want := 1
		if fd == 5 {
			want = 2
		}
		if seen[fd] != want || r.get(fd)[0].mask != stack.Readiness(i+1) {
			t.Fatalf("fd %d: %d waiters listed, first %+v; want %d, mask %d", fd, seen[fd], r.get(fd)[0], want, i+1)
		}
	}
	for _, fd := range fds {
		r.drop(fd)
		if len(r.get(fd)) != 0 {
			t.Fatalf("fd %d still has waiters after drop", fd)
		}
	}
	r.drop(3) // never registered: nothing to do
	if r.len() != 0 {
		t.Fatalf("len %d after dropping all, want 0", r.len())
	}
	if a := testing.AllocsPerRun(10, func() {
		r.set(5, append(r.get(5), waitEntry{ch: ch}))
		r.drop(5)
	}); a != 0 {
		t.Fatalf("a wait on a descriptor that waited before allocates %.1f times, want 0", a)
	}
}
