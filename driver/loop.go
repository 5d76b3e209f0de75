package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/netspec/netspec/fsm/stack"
)

// ErrLoopClosed is returned by Loop calls after the loop shut down. It wraps
// net.ErrClosed, so socket users can test for either.
var ErrLoopClosed = fmt.Errorf("driver: loop closed: %w", net.ErrClosed)

// DefaultBatch is the number of frames one ReadBatch may return when
// LoopOptions.Batch is zero.
const DefaultBatch = 64

// minTimerStep bounds how often the timer may re-fire when the stack keeps
// reporting a deadline that is already due after Poll ran (a stack bug must
// cost a counter and some CPU, not a spinning core).
const minTimerStep = time.Millisecond

// LoopOptions configures a Loop.
type LoopOptions struct {
	// Batch is the most frames read by one ReadBatch and written by one
	// WriteBatch (default DefaultBatch).
	Batch int
	// Logger receives rare events (link errors, shutdown). Nil discards them.
	Logger *slog.Logger
}

// LoopStats are the loop's own counters; protocol counters live in the stack.
type LoopStats struct {
	RxBatches   uint64 // ReadBatch calls that returned frames
	RxFrames    uint64 // frames fed to the stack
	RxBytes     uint64 // bytes fed to the stack
	TxBatches   uint64 // WriteBatch calls
	TxFrames    uint64 // frames handed to WriteBatch
	TxBytes     uint64 // bytes handed to WriteBatch
	TxErrors    uint64 // WriteBatch calls that failed (their frames are lost)
	TimerFires  uint64 // timer expiries that ran Poll
	TimerClamps uint64 // deadlines still due right after Poll (stack bug guard)
	Calls       uint64 // calls run under the loop's mutex (Do, DoWait, DoWaitOn, DoForget, Forget)
	ReadyEvents uint64 // readiness changes drained from the stack
	Wakeups     uint64 // waiter channels woken by readiness
	HandIns     uint64 // datagrams another loop reassembled for this one, queued (HandIn)
	HandInDrops uint64 // ... dropped: hand-in queue full, or the loop closed
}

// engine is the part of *stack.Stack the loop drives; tests substitute a fake.
type engine interface {
	Input(now time.Time, frame []byte, meta RxMeta)
	Poll(now time.Time)
	NextDeadline() time.Time
	Output(emit func(frame []byte, meta TxMeta)) int
	Ready(fn func(fd stack.FD, ev stack.Readiness)) int
}

// batcher is implemented by engines that acknowledge a batch of frames at
// once (*stack.Stack: BeginBatch, EndBatch).
type batcher interface {
	BeginBatch()
	EndBatch(now time.Time)
}

// lender is implemented by engines that lend their frame buffers to the
// loop instead of having it copy each frame (*stack.Stack: LendOutput,
// ReturnFrame); the loop gives each back once WriteBatch has sent it.
type lender interface {
	LendOutput(emit func(frame []byte, meta TxMeta)) int
	ReturnFrame(frame []byte)
}

// synGuard is implemented by engines that ask for a SYN admission filter
// while under a SYN flood (*stack.Stack: SynFilterUpdate,
// SynFilterInstalled).
type synGuard interface {
	SynFilterUpdate() (f *stack.SynFilter, changed bool)
	SynFilterInstalled(f *stack.SynFilter, ok bool)
}

// SynFilterLink is implemented by links that can drop SYNs in the kernel,
// before they are read (driver/afpacket): SetSynFilter installs the stack's
// filter, replacing the one installed, or with nil takes it off. The loop
// installs what its stack asks for (stack.Stack.SynFilterUpdate) on the
// first link of its chain (Unwrap) that implements it.
type SynFilterLink interface {
	SetSynFilter(f *stack.SynFilter) error
}

// Loop runs one stack over one link: a goroutine (Run) reads frame batches and
// feeds them to the stack, a single timer runs the stack's timers, and user
// calls are serialised through a mutex (Do, DoWait). After every locked
// operation the loop collects the stack's output into transmit batches, drains
// its readiness changes to wake waiters, and re-arms the timer; then, with the
// mutex released, it writes the batches (WriteBatch) in the order they were
// produced. Writing outside the mutex matters: sending into a veth runs the
// receiver's kernel path inside our syscall, and meanwhile input and user
// calls proceed. One goroutine at a time holds the writer role and writes
// until nothing is pending; a caller that finds the role held returns at once,
// its frames left to the writer (it does not wait for a role it would find
// with nothing to do); a caller that takes the role returns once its own
// frames, and whatever was queued behind them, have been written.
type Loop struct {
	link  Link
	st    *stack.Stack
	eng   engine
	lend  lender        // eng's, when it lends its frames (nil: the loop copies them)
	acks  batcher       // eng's, when it acknowledges a batch at once (nil: per frame)
	dgIn  datagramInput // eng's, when it takes handed-in datagrams (HandIn)
	guard synGuard      // eng's, when it asks for a SYN filter (nil: never)
	synf  SynFilterLink // the link's filter mechanism (nil: none)
	batch int
	log   *slog.Logger

	mu      sync.Mutex
	closed  bool
	running bool
	last    time.Time // last time handed to the stack (kept non-decreasing)
	stats   LoopStats
	waiters waitRegistry
	// wakes are the waiters readiness took off the registry in the
	// current critical section; unlockWake wakes them once the mutex is
	// released (wait.go).
	wakes []waitEntry
	done  chan struct{} // closed on shutdown

	timer   *time.Timer
	armed   bool
	armedAt time.Time

	// Transmit batches, all guarded by mu: cur is being filled by emit,
	// pending wait for the writer in production order, free are reused.
	cur     *txBatch
	pending []*txBatch
	spare   []*txBatch // the writer's swap slice for pending
	free    []*txBatch
	writing bool       // a goroutine holds the writer role (unlockAndWrite)
	txMu    sync.Mutex // held by the writer while it writes; Settle waits for it
	emitFn  func(frame []byte, meta TxMeta)
	readyFn func(fd stack.FD, ev stack.Readiness)

	hin      handIn // datagrams other loops reassembled for this one (handin.go)
	synOn    bool   // a SYN filter is installed (for the log)
	synFails uint64 // SYN filters the link failed to install (logged at powers of two)
}

// NewLoop returns a loop that runs st over link. It does nothing until Run.
// st must not be used by anyone else afterwards except through Do.
func NewLoop(link Link, st *stack.Stack, opts LoopOptions) *Loop {
	return newLoop(link, st, st, opts)
}

func newLoop(link Link, st *stack.Stack, eng engine, opts LoopOptions) *Loop {
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	l := &Loop{
		link:  link,
		st:    st,
		eng:   eng,
		batch: opts.Batch,
		log:   lg,
		done:  make(chan struct{}),
	}
	l.lend, _ = eng.(lender)
	l.acks, _ = eng.(batcher)
	l.dgIn, _ = eng.(datagramInput)
	l.hin.wake = time.AfterFunc(time.Hour, l.drainHandIn)
	l.hin.wake.Stop()
	l.guard, _ = eng.(synGuard)
	for _, k := range Unwrap(link) {
		if f, ok := k.(SynFilterLink); ok {
			l.synf = f
			break
		}
	}
	l.emitFn = l.emit
	l.readyFn = l.onReady
	l.timer = time.AfterFunc(time.Hour, l.onTimer)
	l.timer.Stop()
	return l
}

// Run reads frames from the link until ctx is cancelled, Close is called or the
// link fails. It closes the link and wakes every waiter before it returns. It
// returns nil after a requested shutdown and the link's error otherwise.
func (l *Loop) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.running {
		l.mu.Unlock()
		return errors.New("driver: loop: Run called twice")
	}
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.running = true
	l.mu.Unlock()

	stop := context.AfterFunc(ctx, func() { l.shutdown() })
	defer stop()
	// The stack's first deadline (its start-up announcement) is due before
	// any frame or call arrives to arm the timer.
	l.mu.Lock()
	if !l.closed {
		l.armLocked(l.nowLocked(), false)
	}
	l.mu.Unlock()

	frames := make([][]byte, l.batch)
	lender, lends := l.link.(LendingLink)
	if !lends {
		mf := l.link.MaxFrame()
		for i := range frames {
			frames[i] = make([]byte, mf)
		}
	}
	n := make([]int, l.batch)
	meta := make([]RxMeta, l.batch)
	for {
		// No lock is held while blocked here: user calls and timers proceed.
		var k int
		var err error
		if lends {
			// Lent frames stay valid until the next read; the stack keeps
			// no reference after Input, and input drops a batch once the
			// loop is closed (the link may be gone).
			k, err = lender.ReadLent(frames, meta, time.Time{})
			for i := range k {
				n[i] = len(frames[i])
			}
		} else {
			k, err = l.link.ReadBatch(frames, n, meta, time.Time{})
		}
		if k > 0 {
			l.input(frames[:k], n[:k], meta[:k])
		}
		if err != nil {
			if l.isClosed() || errors.Is(err, ErrClosed) {
				l.shutdown()
				return nil
			}
			l.log.Error("link read failed", "err", err)
			l.shutdown()
			return fmt.Errorf("driver: loop: read: %w", err)
		}
	}
}

// input feeds one batch of received frames to the stack, then flushes.
func (l *Loop) input(frames [][]byte, n []int, meta []RxMeta) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	prev := l.last
	now := l.nowLocked()
	l.stats.RxBatches++
	if l.acks != nil {
		l.acks.BeginBatch()
	}
	for i := range frames {
		ln := n[i]
		if ln < 0 || ln > len(frames[i]) {
			continue // a driver bug must not crash the stack
		}
		// The stack's clock must not run backwards: the driver's receive
		// time is used when it lies between the last time and now.
		t := meta[i].Time
		if t.IsZero() || t.Before(prev) || t.After(now) {
			t = now
		}
		l.stats.RxFrames++
		l.stats.RxBytes += uint64(ln)
		l.eng.Input(t, frames[i][:ln], meta[i])
	}
	if l.acks != nil {
		l.acks.EndBatch(now)
	}
	l.unlockAndWrite(l.flushLocked(now, false))
}

// Do runs fn under the loop's mutex with the current time and the stack, then
// flushes output and readiness. It returns ErrLoopClosed (and does not run fn)
// after shutdown.
func (l *Loop) Do(fn func(now time.Time, s *stack.Stack)) error {
	now, ok := l.lockCall()
	if !ok {
		return ErrLoopClosed
	}
	fn(now, l.st)
	l.unlockAndWrite(l.flushLocked(now, false))
	return nil
}

// lockCall takes the mutex for a user call and counts it, returning the
// call's time; after shutdown it releases the mutex and reports false.
func (l *Loop) lockCall() (time.Time, bool) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return time.Time{}, false
	}
	l.stats.Calls++
	return l.nowLocked(), true
}

// Done returns a channel closed when the loop has shut down.
func (l *Loop) Done() <-chan struct{} { return l.done }

// Close shuts the loop down: it closes the link (which ends Run), stops the
// timer and wakes every waiter; later calls return ErrLoopClosed. It is safe
// to call more than once and from any goroutine.
func (l *Loop) Close() error {
	return l.shutdown()
}

func (l *Loop) shutdown() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.timer.Stop()
	l.armed = false
	l.stopHandIn()
	l.waiters.each(func(_ stack.FD, ws []waitEntry) {
		for _, w := range ws {
			w.wake()
		}
	})
	l.waiters = waitRegistry{}
	close(l.done)
	l.mu.Unlock()
	// Closing the link unblocks ReadBatch; done outside the mutex because a
	// driver may wait for its reader to leave.
	if err := l.link.Close(); err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("driver: loop: close link: %w", err)
	}
	return nil
}

// Settle is the end-of-run check of tests (stack.Stack.Settle): once Run
// has returned, it closes everything the stack holds, runs its timers out in
// virtual time with the link gone, and reports what was not given back. It
// fails while the loop is running. It first waits for a writer still
// writing (the stack's frames stay lent until it is done) and gives back the
// frames of batches nobody will write now that the link is closed.
func (l *Loop) Settle(limit time.Duration) error {
	l.txMu.Lock()
	defer l.txMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		return errors.New("driver: loop: Settle while the loop runs")
	}
	l.queueCurLocked()
	for i, b := range l.pending {
		l.recycleLocked(b)
		l.pending[i] = nil
	}
	l.pending = l.pending[:0]
	return l.st.Settle(limit)
}

func (l *Loop) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Stats returns a snapshot of the loop's counters.
func (l *Loop) Stats() LoopStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats
	l.handInStats(&st)
	return st
}

// Link returns the loop's link.
func (l *Loop) Link() Link { return l.link }

// nowLocked reads the clock, never returning a time before the previous one.
func (l *Loop) nowLocked() time.Time {
	t := time.Now()
	if t.Before(l.last) {
		t = l.last
	}
	l.last = t
	return t
}

// onTimer runs the stack's timers when the deadline passes.
func (l *Loop) onTimer() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.armed = false
	now := l.nowLocked()
	l.stats.TimerFires++
	l.eng.Poll(now)
	l.unlockAndWrite(l.flushLocked(now, true))
}

// txBatch is one WriteBatch worth of frames: the engine's own buffers when
// it lends them (given back after the write), else copies in buffers of
// the batch, reused and grown to the largest frame seen (a super-frame), so
// a batch holds at most Batch x 64 KiB.
type txBatch struct {
	frames [][]byte
	meta   []TxMeta
	n      int
}

// flushLocked collects the stack's queued frames into transmit batches, wakes
// waiters and re-arms the timer. It reports whether frames wait for the
// writer; the caller then releases the mutex with unlockAndWrite. The
// current batch stays open until the writer takes it, so the frames of
// calls made while the writer is busy (a response each, on a busy
// keep-alive loop) leave together in one WriteBatch.
func (l *Loop) flushLocked(now time.Time, afterPoll bool) bool {
	if l.guard != nil {
		l.synFilterLocked()
	}
	if l.lend != nil {
		l.lend.LendOutput(l.emitFn)
	} else {
		l.eng.Output(l.emitFn)
	}
	l.eng.Ready(l.readyFn)
	l.armLocked(now, afterPoll)
	return len(l.pending) > 0 || l.cur != nil && l.cur.n > 0
}

// synFilterLocked installs the SYN filter the stack asks for, when that
// changed, and tells the stack whether it is in place. A rare call (a
// flood's start and end, a change of its share or of the proven sources,
// at most one per stack window): the system call is made under the mutex.
func (l *Loop) synFilterLocked() {
	f, changed := l.guard.SynFilterUpdate()
	if !changed {
		return
	}
	var err error
	if l.synf == nil {
		err = errors.New("the link has no SYN filter")
	} else {
		err = l.synf.SetSynFilter(f)
	}
	l.guard.SynFilterInstalled(f, err == nil)
	switch {
	case err != nil && f != nil:
		l.synFails++
		if l.synFails&(l.synFails-1) == 0 {
			l.log.Warn("SYN flood: no filter in the kernel", "err", err, "failures", l.synFails)
		}
	case err != nil:
		l.log.Warn("SYN flood over: the filter stays", "err", err)
	case f != nil && !l.synOn:
		l.synOn = true
		l.log.Info("SYN flood: filter on", "ports", f.Ports, "proven", len(f.Proven), "on-link share", float64(f.AdmitOnLink)/(1<<32), "off-link share", float64(f.AdmitOffLink)/(1<<32))
	case f == nil:
		l.synOn = false
		l.log.Info("SYN flood over: filter off")
	}
}

// emit adds one outgoing frame to the current batch (a lent one as it is,
// else a copy); a full batch joins the pending ones, so the stack may emit
// any number of frames.
func (l *Loop) emit(frame []byte, meta TxMeta) {
	b := l.cur
	if b == nil || b.n == len(b.frames) {
		l.queueCurLocked()
		b = l.batchLocked()
		l.cur = b
	}
	if l.lend != nil {
		b.frames[b.n] = frame
	} else {
		b.frames[b.n] = append(b.frames[b.n][:0], frame...)
	}
	b.meta[b.n] = meta
	b.n++
	l.stats.TxFrames++
	l.stats.TxBytes += uint64(len(frame))
}

// queueCurLocked moves the current batch, if it holds frames, to pending.
func (l *Loop) queueCurLocked() {
	if b := l.cur; b != nil && b.n > 0 {
		l.pending = append(l.pending, b)
		l.cur = nil
		l.stats.TxBatches++
	}
}

// batchLocked returns an empty batch, reused when one is free.
func (l *Loop) batchLocked() *txBatch {
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
		return b
	}
	return &txBatch{frames: make([][]byte, l.batch), meta: make([]TxMeta, l.batch)}
}

// unlockAndWrite releases the mutex (waking the waiters readiness took
// off the registry meanwhile: unlockWake) and, when batches are pending and
// no goroutine holds the writer role, takes it and writes them. The writer takes
// pending batches in production order until none is left, and gives the
// role up under the mutex when it finds none, so frames leave in the order
// the stack emitted them and a batch queued while the role is held is always
// written by its holder: a caller that finds the role held returns at once,
// its frames handed on. It does not queue behind the writer for a role it
// would find with nothing to do (on a busy loop that wait was most of a
// call's time), and a response's data still waiting for the writer when the
// application closes leaves in the same round as the FIN.
func (l *Loop) unlockAndWrite(pending bool) {
	write := pending && !l.writing
	l.writing = l.writing || write
	l.unlockWake()
	if !write {
		return
	}
	l.txMu.Lock()
	defer l.txMu.Unlock()
	// One critical section a round: recycle the batches just written (and
	// count their failures), then take the next pending ones.
	var batches []*txBatch
	var failures int
	var lastErr error
	for {
		l.mu.Lock()
		if batches != nil {
			for i, b := range batches {
				l.recycleLocked(b)
				batches[i] = nil
			}
			l.spare = batches[:0]
			for range failures {
				l.stats.TxErrors++
				if !errors.Is(lastErr, ErrClosed) && l.stats.TxErrors&(l.stats.TxErrors-1) == 0 {
					// Logged at powers of two so a failing link cannot flood the log.
					l.log.Warn("link write failed", "err", lastErr, "failures", l.stats.TxErrors)
				}
			}
		}
		l.queueCurLocked()
		batches = l.pending
		if len(batches) == 0 {
			l.writing = false
			l.mu.Unlock()
			return
		}
		l.pending = l.spare[:0]
		l.mu.Unlock()

		failures, lastErr = 0, nil
		for _, b := range batches {
			if err := l.link.WriteBatch(b.frames[:b.n], b.meta[:b.n]); err != nil {
				failures++
				lastErr = err
			}
		}
	}
}

// recycleLocked empties a written (or abandoned) batch, giving lent frames
// back to the engine, and keeps it for reuse.
func (l *Loop) recycleLocked(b *txBatch) {
	if l.lend != nil {
		for k, f := range b.frames[:b.n] {
			l.lend.ReturnFrame(f)
			b.frames[k] = nil
		}
	}
	b.n = 0
	clear(b.meta)
	l.free = append(l.free, b)
}

// armLocked points the single timer at the stack's next deadline. A timer
// already armed no later than the deadline is left alone: the deadline of
// a busy connection moves on with every segment (its retransmission and
// delayed-ACK timers), and resetting the runtime's timer after every call
// costs more than the early expiry, whose Poll finds nothing due and
// re-arms at the deadline. Only an earlier deadline resets it.
func (l *Loop) armLocked(now time.Time, afterPoll bool) {
	dl := l.eng.NextDeadline()
	if dl.IsZero() || l.armed && !dl.Before(l.armedAt) {
		return
	}
	d := dl.Sub(now)
	if afterPoll && d <= 0 {
		// Poll just ran at now and the deadline is still due: do not spin.
		l.stats.TimerClamps++
		d = minTimerStep
	}
	l.armed = true
	l.armedAt = dl
	l.timer.Reset(d)
}
