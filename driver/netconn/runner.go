package netconn

import (
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// sockets is the part of *stack.Stack this package calls (RFC 9293 §3.9 user
// calls); tests substitute an in-memory fake.
type sockets interface {
	Listen(now time.Time, port uint16, backlog int) (stack.FD, error)
	Accept(now time.Time, fd stack.FD) (stack.FD, error)
	Dial(now time.Time, raddr wire.Addr, rport uint16) (stack.FD, error)
	Send(now time.Time, fd stack.FD, b []byte) (int, error)
	SendMore(now time.Time, fd stack.FD, b []byte) (int, error)
	Recv(now time.Time, fd stack.FD, b []byte) (int, error)
	CloseWrite(now time.Time, fd stack.FD) error
	Close(now time.Time, fd stack.FD) error
	Abort(now time.Time, fd stack.FD) error
	Status(fd stack.FD) (stack.Status, error)
	SetReadBuffer(now time.Time, fd stack.FD, n int) error
	SetWriteBuffer(now time.Time, fd stack.FD, n int) error
	Urgent(fd stack.FD) (pending int, ok bool, err error)
	SetTOS(fd stack.FD, tos uint8) error
	SetTTL(fd stack.FD, ttl uint8) error
	SetSoftErrors(fd stack.FD, on bool) error
}

// runner serialises calls into the stack and wakes blocked callers; a
// *driver.Loop is the real one.
type runner interface {
	// call runs fn under the loop's lock; on sock.ErrWouldBlock it returns a
	// channel closed when fd reports readiness in mask (registered atomically
	// with the failed call), when forget(fd) is called, or when the loop
	// shuts down. After shutdown it returns an error wrapping net.ErrClosed
	// without running fn.
	call(fd stack.FD, mask stack.Readiness, fn func(now time.Time, s sockets) error) (<-chan struct{}, error)
	// callOn is call for a caller that owns its wake-up channel ch, of
	// capacity one, and reuses it: on sock.ErrWouldBlock ch is registered
	// (a token already on it dropped) and receives one token on readiness,
	// forget(fd) or shutdown (driver.Loop.DoWaitOn).
	callOn(fd stack.FD, mask stack.Readiness, ch chan struct{}, fn func(now time.Time, s sockets) error) error
	// forget wakes and drops the waiters of a released descriptor.
	forget(fd stack.FD)
	// done is closed when the loop shuts down.
	done() <-chan struct{}
	// sleepers is the heap of calls blocked with a deadline (sleepers.go)
	// shared by the connections of this runner.
	sleepers() *sleeperHeap
	// loop is the *driver.Loop the calls run on, or nil (tests' fake):
	// loopCall calls it directly.
	loop() *driver.Loop
}

// loopRunner adapts *driver.Loop to runner; a Listener's connections share
// one (and so one sleeperHeap), a dialled connection has its own.
type loopRunner struct {
	l  *driver.Loop
	sl *sleeperHeap
}

func newLoopRunner(l *driver.Loop) *loopRunner { return &loopRunner{l: l, sl: newSleeperHeap()} }

func (r *loopRunner) sleepers() *sleeperHeap { return r.sl }

func (r *loopRunner) call(fd stack.FD, mask stack.Readiness, fn func(now time.Time, s sockets) error) (<-chan struct{}, error) {
	return r.l.DoWait(fd, mask, func(now time.Time, s *stack.Stack) error { return fn(now, s) })
}

func (r *loopRunner) callOn(fd stack.FD, mask stack.Readiness, ch chan struct{}, fn func(now time.Time, s sockets) error) error {
	return r.l.DoWaitOn(fd, mask, ch, func(now time.Time, s *stack.Stack) error { return fn(now, s) })
}

func (r *loopRunner) forget(fd stack.FD)    { r.l.Forget(fd) }
func (r *loopRunner) done() <-chan struct{} { return r.l.Done() }
func (r *loopRunner) loop() *driver.Loop    { return r.l }
