package driver

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// fakeLink is an in-memory Link: tests push received frames into rx and read
// what the loop wrote from written.
type fakeLink struct {
	rx      chan []byte
	closed  chan struct{}
	once    sync.Once
	readErr error // returned by ReadBatch once rx is empty, if set

	mu      sync.Mutex
	written [][]byte
	metas   []TxMeta
	batches int
}

func newFakeLink() *fakeLink {
	return &fakeLink{rx: make(chan []byte, 256), closed: make(chan struct{})}
}

func (f *fakeLink) ReadBatch(frames [][]byte, n []int, meta []RxMeta, deadline time.Time) (int, error) {
	select {
	case fr := <-f.rx:
		if fr == nil {
			return 0, f.readErr
		}
		k := 0
		for {
			n[k] = copy(frames[k], fr)
			meta[k] = RxMeta{}
			k++
			if k == len(frames) {
				return k, nil
			}
			select {
			case fr = <-f.rx:
				if fr == nil {
					return k, f.readErr
				}
			default:
				return k, nil
			}
		}
	case <-f.closed:
		return 0, ErrClosed
	}
}

func (f *fakeLink) WriteBatch(frames [][]byte, meta []TxMeta) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches++
	for i, fr := range frames {
		f.written = append(f.written, bytes.Clone(fr))
		f.metas = append(f.metas, meta[i])
	}
	return nil
}

func (f *fakeLink) MTU() int      { return 1500 }
func (f *fakeLink) MaxFrame() int { return 1514 }
func (f *fakeLink) MAC() wire.MAC { return wire.MAC{2, 0, 0, 0, 0, 1} }
func (f *fakeLink) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeLink) sent() ([][]byte, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.written...), f.batches
}

type readyEv struct {
	fd stack.FD
	ev stack.Readiness
}

// fakeEngine stands in for *stack.Stack: it records inputs and polls, and
// emits whatever the test queued. Optionally it echoes every input frame.
type fakeEngine struct {
	echo     bool
	tagMeta  bool // emit each frame with TxMeta.GSOSize = its first byte
	out      [][]byte
	ready    []readyEv
	deadline time.Time
	inputs   []time.Time
	dgrams   [][]byte // handed-in datagrams (InputDatagram)
	polls    []time.Time
	onPoll   func(now time.Time)
	onReady  func() // called under the loop's mutex after the readiness drain
}

func (e *fakeEngine) Input(now time.Time, frame []byte, meta RxMeta) {
	e.inputs = append(e.inputs, now)
	if e.echo {
		e.out = append(e.out, bytes.Clone(frame))
	}
}

// InputDatagram records a handed-in datagram (Loop.HandIn) and, with
// echo, sends it back as a frame.
func (e *fakeEngine) InputDatagram(now time.Time, dgram []byte) {
	e.dgrams = append(e.dgrams, bytes.Clone(dgram))
	if e.echo {
		e.out = append(e.out, bytes.Clone(dgram))
	}
}

func (e *fakeEngine) Poll(now time.Time) {
	e.polls = append(e.polls, now)
	if e.onPoll != nil {
		e.onPoll(now)
	}
}

func (e *fakeEngine) NextDeadline() time.Time { return e.deadline }

func (e *fakeEngine) Output(emit func([]byte, TxMeta)) int {
	n := len(e.out)
	for _, f := range e.out {
		var m TxMeta
		if e.tagMeta && len(f) > 0 {
			m = TxMeta{GSO: stack.GSOTCPv4, GSOSize: uint16(f[0])}
		}
		emit(f, m)
	}
	e.out = e.out[:0]
	return n
}

func (e *fakeEngine) Ready(fn func(stack.FD, stack.Readiness)) int {
	n := len(e.ready)
	for _, r := range e.ready {
		fn(r.fd, r.ev)
	}
	e.ready = e.ready[:0]
	if e.onReady != nil {
		e.onReady()
	}
	return n
}

// harness runs a loop over a fake link and engine inside the synctest bubble.
type harness struct {
	t    *testing.T
	link *fakeLink
	eng  *fakeEngine
	loop *Loop
	errc chan error
}

func startLoop(t *testing.T, eng *fakeEngine, opts LoopOptions) *harness {
	t.Helper()
	h := &harness{t: t, link: newFakeLink(), eng: eng, errc: make(chan error, 1)}
	h.loop = newLoop(h.link, nil, eng, opts)
	go func() { h.errc <- h.loop.Run(context.Background()) }()
	t.Cleanup(func() { h.loop.Close() })
	return h
}

// with runs fn on the engine under the loop mutex, like a user call would.
func (h *harness) with(fn func(now time.Time, e *fakeEngine)) {
	h.t.Helper()
	if err := h.loop.Do(func(now time.Time, _ *stack.Stack) { fn(now, h.eng) }); err != nil {
		h.t.Fatalf("Do: %v", err)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestLoopInputBatchFlushesOutput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{echo: true}, LoopOptions{})
		for i := range 3 {
			h.link.rx <- []byte{byte(i), 0xaa}
		}
		synctest.Wait()
		sent, batches := h.link.sent()
		if len(sent) != 3 {
			t.Fatalf("sent %d frames, want 3", len(sent))
		}
		for i, f := range sent {
			if !bytes.Equal(f, []byte{byte(i), 0xaa}) {
				t.Errorf("frame %d = %x", i, f)
			}
		}
		if batches != 1 {
			t.Errorf("WriteBatch calls = %d, want 1 (one flush per read batch)", batches)
		}
		st := h.loop.Stats()
		if st.RxFrames != 3 || st.RxBatches != 1 || st.TxFrames != 3 || st.RxBytes != 6 {
			t.Errorf("stats = %+v", st)
		}
	})
}

// TestLoopPassesTxMeta checks that each frame reaches WriteBatch with the
// metadata the stack gave it, across batch boundaries.
func TestLoopPassesTxMeta(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{echo: true, tagMeta: true}, LoopOptions{Batch: 2})
		for i := range 5 {
			h.link.rx <- []byte{byte(10 + i), 0xaa}
		}
		synctest.Wait()
		h.link.mu.Lock()
		defer h.link.mu.Unlock()
		if len(h.link.written) != 5 {
			t.Fatalf("sent %d frames, want 5", len(h.link.written))
		}
		for i, f := range h.link.written {
			if m := h.link.metas[i]; m.GSO != stack.GSOTCPv4 || m.GSOSize != uint16(f[0]) {
				t.Errorf("frame %x went with meta %+v", f, m)
			}
		}
	})
}

func TestLoopOutputLargerThanBatchKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{}, LoopOptions{Batch: 4})
		h.with(func(now time.Time, e *fakeEngine) {
			for i := range 10 {
				e.out = append(e.out, []byte{byte(i)})
			}
		})
		sent, batches := h.link.sent()
		if len(sent) != 10 || batches != 3 {
			t.Fatalf("sent %d frames in %d batches, want 10 in 3", len(sent), batches)
		}
		for i, f := range sent {
			if f[0] != byte(i) {
				t.Fatalf("frame %d carries %d: order lost", i, f[0])
			}
		}
	})
}

func TestLoopTimerFiresAtDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{}, LoopOptions{})
		var dl time.Time
		h.with(func(now time.Time, e *fakeEngine) {
			dl = now.Add(200 * time.Millisecond)
			e.deadline = dl
			e.onPoll = func(now time.Time) {
				if !now.Before(e.deadline) {
					e.deadline = time.Time{}
					e.out = append(e.out, []byte("rexmit"))
				}
			}
		})
		time.Sleep(199 * time.Millisecond) // virtual time inside the bubble
		synctest.Wait()
		if n := len(h.eng.pollsLocked(h.loop)); n != 0 {
			t.Fatalf("polled %d times before the deadline", n)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		polls := h.eng.pollsLocked(h.loop)
		if len(polls) != 1 || !polls[0].Equal(dl) {
			t.Fatalf("polls = %v, want one at %v", polls, dl)
		}
		if sent, _ := h.link.sent(); len(sent) != 1 || string(sent[0]) != "rexmit" {
			t.Fatalf("after poll sent %q, want the frame Poll queued", sent)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := len(h.eng.pollsLocked(h.loop)); n != 1 {
			t.Fatalf("polled %d times with no deadline pending", n)
		}
	})
}

// pollsLocked copies the poll log under the loop mutex.
func (e *fakeEngine) pollsLocked(l *Loop) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), e.polls...)
}

func TestLoopTimerRearmsEarlier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, start := startTimerLoop(t, time.Second, "")
		time.Sleep(10 * time.Millisecond)
		h.with(func(now time.Time, e *fakeEngine) { e.deadline = start.Add(100 * time.Millisecond) })
		time.Sleep(time.Second)
		synctest.Wait()
		polls := h.eng.pollsLocked(h.loop)
		if len(polls) != 1 || polls[0].Sub(start) != 100*time.Millisecond {
			t.Fatalf("polls at %v after start, want one at 100ms", offsets(polls, start))
		}
	})
}

func offsets(ts []time.Time, start time.Time) []time.Duration {
	var d []time.Duration
	for _, t := range ts {
		d = append(d, t.Sub(start))
	}
	return d
}

func TestLoopTimerDoesNotSpinOnStaleDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{}, LoopOptions{})
		h.with(func(now time.Time, e *fakeEngine) {
			e.deadline = now.Add(-time.Second) // a buggy stack: always due
		})
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		st := h.loop.Stats()
		if st.TimerFires < 5 || st.TimerFires > 12 {
			t.Fatalf("timer fired %d times in 10ms with a stuck deadline, want about 10", st.TimerFires)
		}
		if st.TimerClamps == 0 {
			t.Fatal("TimerClamps not counted")
		}
	})
}

func TestLoopDoWaitWakesOnMatchingReadiness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{}, LoopOptions{})
		const fd = stack.FD(3)
		wouldBlock := func(time.Time, *stack.Stack) error { return sock.ErrWouldBlock }
		rd, err := h.loop.DoWait(fd, sock.Readable, wouldBlock)
		if !errors.Is(err, sock.ErrWouldBlock) || rd == nil {
			t.Fatalf("DoWait = %v, %v", rd, err)
		}
		rd2, _ := h.loop.DoWait(fd, sock.Readable, wouldBlock)
		if rd2 != rd {
			t.Error("same (fd, mask) waiters do not share a channel")
		}
		wr, _ := h.loop.DoWait(fd, sock.Writable, wouldBlock)
		other, _ := h.loop.DoWait(fd+1, sock.Readable, wouldBlock)

		h.with(func(_ time.Time, e *fakeEngine) { e.ready = append(e.ready, readyEv{fd, sock.Writable}) })
		if isClosed(rd) || !isClosed(wr) {
			t.Fatalf("Writable: reader woken %v (want false), writer woken %v (want true)", isClosed(rd), isClosed(wr))
		}
		h.with(func(_ time.Time, e *fakeEngine) { e.ready = append(e.ready, readyEv{fd, sock.Readable}) })
		if !isClosed(rd) {
			t.Fatal("Readable did not wake the reader")
		}
		if isClosed(other) {
			t.Fatal("readiness of one fd woke another fd's waiter")
		}
		h.with(func(_ time.Time, e *fakeEngine) { e.ready = append(e.ready, readyEv{fd + 1, sock.Closed}) })
		if !isClosed(other) {
			t.Fatal("Closed did not wake a Readable waiter")
		}
		if n := registered(h.loop); n != 0 {
			t.Fatalf("%d fds still registered after all waiters woke", n)
		}
	})
}

func TestLoopDoWaitNoWaiterOnSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{}, LoopOptions{})
		ch, err := h.loop.DoWait(1, sock.Readable, func(time.Time, *stack.Stack) error { return nil })
		if ch != nil || err != nil {
			t.Fatalf("DoWait = %v, %v; want nil, nil", ch, err)
		}
		ch, err = h.loop.DoWait(1, sock.Readable, func(time.Time, *stack.Stack) error { return sock.ErrReset })
		if ch != nil || !errors.Is(err, sock.ErrReset) {
			t.Fatalf("DoWait = %v, %v; want nil, ErrReset", ch, err)
		}
	})
}

func TestLoopForgetWakesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{}, LoopOptions{})
		ch := h.loop.Wait(7, sock.Readable)
		h.loop.Forget(7)
		if !isClosed(ch) {
			t.Fatal("Forget did not wake the waiter")
		}
	})
}

func TestLoopCloseWakesWaitersAndEndsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{}, LoopOptions{})
		ch := h.loop.Wait(5, sock.Acceptable)
		if err := h.loop.Close(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !isClosed(ch) || !isClosed(h.loop.Done()) {
			t.Fatal("Close did not wake waiters / close Done")
		}
		select {
		case err := <-h.errc:
			if err != nil {
				t.Fatalf("Run after Close = %v, want nil", err)
			}
		default:
			t.Fatal("Run still running after Close")
		}
		err := h.loop.Do(func(time.Time, *stack.Stack) { t.Error("fn ran after Close") })
		if !errors.Is(err, ErrLoopClosed) || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Do after Close = %v", err)
		}
		if !isClosed(h.loop.Wait(5, sock.Readable)) {
			t.Fatal("Wait after Close returned an open channel")
		}
		if !isClosed(h.link.closed) {
			t.Fatal("link not closed")
		}
		if err := h.loop.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
	})
}

func TestLoopContextCancelEndsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := newFakeLink()
		l := newLoop(link, nil, &fakeEngine{}, LoopOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- l.Run(ctx) }()
		ch := l.Wait(1, sock.Readable)
		cancel()
		synctest.Wait()
		if err := <-errc; err != nil {
			t.Fatalf("Run = %v", err)
		}
		if !isClosed(ch) {
			t.Fatal("waiter not woken on cancel")
		}
	})
}

func TestLoopLinkErrorEndsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{echo: true}, LoopOptions{})
		ch := h.loop.Wait(1, sock.Readable)
		boom := errors.New("boom")
		h.link.readErr = boom
		h.link.rx <- []byte{1}
		h.link.rx <- nil // the fake returns readErr here
		synctest.Wait()
		err := <-h.errc
		if !errors.Is(err, boom) {
			t.Fatalf("Run = %v, want wrapped boom", err)
		}
		if !isClosed(ch) {
			t.Fatal("waiter not woken after a link failure")
		}
		if sent, _ := h.link.sent(); len(sent) != 1 {
			t.Fatalf("frame read together with the error was not processed (sent %d)", len(sent))
		}
	})
}

func TestLoopRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{}, LoopOptions{})
		synctest.Wait()
		if err := h.loop.Run(context.Background()); err == nil {
			t.Fatal("second Run returned nil")
		}
	})
}

func TestLoopInputTimeNeverGoesBack(t *testing.T) {
	eng := &fakeEngine{}
	l := newLoop(newFakeLink(), nil, eng, LoopOptions{})
	frames := [][]byte{make([]byte, 4), make([]byte, 4), make([]byte, 4), make([]byte, 4)}
	n := []int{4, 4, 4, 99} // the last length is bogus and must be skipped
	base := time.Now()
	l.last = base
	meta := []RxMeta{
		{},                           // zero: use now
		{Time: base.Add(-time.Hour)}, // before the last time: use now
		{Time: base.Add(time.Hour)},  // in the future: use now
		{Time: base},                 // skipped (bad length)
	}
	l.input(frames, n, meta)
	if len(eng.inputs) != 3 {
		t.Fatalf("fed %d frames, want 3 (bogus length skipped)", len(eng.inputs))
	}
	for i, ti := range eng.inputs {
		if ti.Before(base) || ti.After(time.Now()) {
			t.Errorf("input %d at %v, outside [last, now]", i, ti)
		}
	}
	// A driver time inside [last, now] is used as given.
	eng.inputs = nil
	l.last = base.Add(-time.Second)
	mid := base.Add(-time.Millisecond)
	l.input(frames[:1], n[:1], []RxMeta{{Time: mid}})
	if !eng.inputs[0].Equal(mid) {
		t.Fatalf("driver time %v replaced by %v", mid, eng.inputs[0])
	}
}

func TestLoopInputDoesNotAllocate(t *testing.T) {
	eng := &fakeEngine{echo: false}
	link := newFakeLink()
	l := newLoop(link, nil, eng, LoopOptions{Batch: 8})
	frames := make([][]byte, 8)
	n := make([]int, 8)
	meta := make([]RxMeta, 8)
	for i := range frames {
		frames[i] = make([]byte, 64)
		n[i] = 64
	}
	out := make([]byte, 60)
	eng.out = make([][]byte, 0, 8)
	link.written = make([][]byte, 0, 1)
	run := func() {
		eng.inputs = eng.inputs[:0]
		for range 8 {
			eng.out = append(eng.out, out)
		}
		l.input(frames, n, meta)
		link.written = link.written[:0]
	}
	run()
	eng.inputs = make([]time.Time, 0, 8)
	// The fake link clones what it is given; count only the loop's allocations
	// by making WriteBatch a no-op here.
	l.link = nopWriteLink{link}
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Fatalf("input+flush allocates %.1f times per batch, want 0", a)
	}
}

type nopWriteLink struct{ *fakeLink }

func (nopWriteLink) WriteBatch([][]byte, []TxMeta) error { return nil }

// gatedLink is a fakeLink whose WriteBatch blocks until the test opens gate,
// like a sendmmsg into a veth whose receiver is slow.
type gatedLink struct {
	*fakeLink
	gate chan struct{}
}

func (g *gatedLink) WriteBatch(frames [][]byte, meta []TxMeta) error {
	<-g.gate
	return g.fakeLink.WriteBatch(frames, meta)
}

// TestLoopWritesOutsideTheMutex checks that a link write in progress does not
// hold up user calls, that frames still leave in the order the stack produced
// them, that the writer returns only once its own frames have been written,
// and that a call finding the writer role held hands its frames to the writer
// and returns at once (as a Write followed by a Close does, so the FIN can
// leave in the same round as the data).
// (Not in a synctest bubble: callers wait on mutexes, which a bubble does not
// count as blocked. The timeouts only turn a hang into a failure.)
func TestLoopWritesOutsideTheMutex(t *testing.T) {
	eng := &fakeEngine{}
	g := &gatedLink{fakeLink: newFakeLink(), gate: make(chan struct{})}
	loop := newLoop(g, nil, eng, LoopOptions{Batch: 4})
	t.Cleanup(func() { loop.Close() })
	opened := false
	t.Cleanup(func() {
		if !opened {
			close(g.gate) // let blocked writers finish
		}
	})
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	do := func(inside chan<- struct{}, frames ...byte) {
		if err := loop.Do(func(time.Time, *stack.Stack) {
			for _, b := range frames {
				eng.out = append(eng.out, []byte{b})
			}
			close(inside)
		}); err != nil {
			t.Errorf("Do: %v", err)
		}
	}
	in1, in2, in3 := make(chan struct{}), make(chan struct{}), make(chan struct{})
	done1, done2 := make(chan struct{}), make(chan struct{})
	go func() { do(in1, 1, 2, 3, 4, 5); close(done1) }()
	wait(in1, "the first call")
	go func() { do(in2, 6); close(done2) }()
	wait(in2, "a second call while the first one's frames are being written")
	go func() { do(in3) }()
	wait(in3, "a third call while a write is blocked: the write holds the loop mutex")
	wait(done2, "the second call to return while the writer is blocked")
	if isClosed(done1) {
		t.Fatal("the writer returned before its frames were written")
	}
	if sent, _ := g.sent(); len(sent) != 0 {
		t.Fatalf("%d frames written through a closed gate", len(sent))
	}
	close(g.gate)
	opened = true
	wait(done1, "the first call to return")
	sent, _ := g.sent()
	if len(sent) != 6 {
		t.Fatalf("sent %d frames, want 6", len(sent))
	}
	for i, f := range sent {
		if f[0] != byte(i+1) {
			t.Fatalf("frame %d carries %d: production order lost", i, f[0])
		}
	}
}

// failingLink is a fakeLink whose writes fail.
type failingLink struct{ *fakeLink }

func (failingLink) WriteBatch([][]byte, []TxMeta) error { return errors.New("link down") }

// TestLoopCountsWriteFailures: every failed WriteBatch is counted, and the
// loop keeps serving calls and recycling its batches.
func TestLoopCountsWriteFailures(t *testing.T) {
	eng := &fakeEngine{}
	loop := newLoop(failingLink{newFakeLink()}, nil, eng, LoopOptions{Batch: 2})
	t.Cleanup(func() { loop.Close() })
	for range 3 {
		if err := loop.Do(func(time.Time, *stack.Stack) {
			eng.out = append(eng.out, []byte{1}, []byte{2}, []byte{3}) // two batches
		}); err != nil {
			t.Fatal(err)
		}
	}
	if st := loop.Stats(); st.TxErrors != 6 || st.TxBatches != 6 || st.TxFrames != 9 {
		t.Fatalf("stats %+v: want 6 failed batches of 9 frames", st)
	}
	loop.mu.Lock()
	free := len(loop.free)
	loop.mu.Unlock()
	if free != 2 {
		t.Errorf("%d free batches after three calls of two batches each, want 2 reused", free)
	}
}

// lendLink is a fakeLink that lends its frames (LendingLink): ReadLent hands
// out the pushed slices themselves, and ReadBatch must not be called.
type lendLink struct {
	*fakeLink
	lent, copied atomic.Int64
}

func (f *lendLink) ReadLent(frames [][]byte, meta []RxMeta, deadline time.Time) (int, error) {
	select {
	case fr := <-f.rx:
		frames[0], meta[0] = fr, RxMeta{}
		f.lent.Add(1)
		return 1, nil
	case <-f.closed:
		return 0, ErrClosed
	}
}

func (f *lendLink) ReadBatch(frames [][]byte, n []int, meta []RxMeta, deadline time.Time) (int, error) {
	f.copied.Add(1)
	return f.fakeLink.ReadBatch(frames, n, meta, deadline)
}

// TestLoopReadsLentFrames: over a LendingLink the loop reads with ReadLent
// and feeds the lent frames, at their own length, to the stack.
func TestLoopReadsLentFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &lendLink{fakeLink: newFakeLink()}
		eng := &fakeEngine{echo: true}
		loop := newLoop(link, nil, eng, LoopOptions{})
		errc := make(chan error, 1)
		go func() { errc <- loop.Run(context.Background()) }()
		for i := range 3 {
			link.rx <- bytes.Repeat([]byte{byte(i)}, 10+i)
		}
		synctest.Wait()
		sent, _ := link.sent()
		if len(sent) != 3 || link.lent.Load() != 3 || link.copied.Load() != 0 {
			t.Fatalf("sent %d frames; %d lent reads, %d copying reads", len(sent), link.lent.Load(), link.copied.Load())
		}
		for i, f := range sent {
			if !bytes.Equal(f, bytes.Repeat([]byte{byte(i)}, 10+i)) {
				t.Errorf("frame %d = %x", i, f)
			}
		}
		loop.Close()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
}
