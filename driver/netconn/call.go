package netconn

import (
	"errors"
	"net"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
)

// runCall runs op(now, s, arg) under the loop's lock, as r.call does, and
// returns op's result with call's readiness channel and error. On a
// *driver.Loop it calls DoWait directly: the closure it builds then stays
// on the caller's stack, where a closure handed to the runner interface
// escapes to the heap with what it captures, allocations on every Read,
// Write, Dial, Accept and Close. op is a plain function, so passing it
// costs nothing.
func runCall[A, R any](r runner, fd stack.FD, mask stack.Readiness, op func(now time.Time, s sockets, arg A) (R, error), arg A) (R, <-chan struct{}, error) {
	return doCall(r, fd, mask, false, nil, op, arg)
}

// runCallOn is runCall for a caller that waits on its own reused channel
// tok (a Conn direction's, connDeadline.ch): on sock.ErrWouldBlock tok is
// registered, as r.callOn does (a nil tok registers nothing).
func runCallOn[A, R any](r runner, fd stack.FD, mask stack.Readiness, tok chan struct{}, op func(now time.Time, s sockets, arg A) (R, error), arg A) (R, error) {
	res, _, err := doCall(r, fd, mask, true, tok, op, arg)
	return res, err
}

// doCall is runCall (token false) and runCallOn (token true).
func doCall[A, R any](r runner, fd stack.FD, mask stack.Readiness, token bool, tok chan struct{}, op func(now time.Time, s sockets, arg A) (R, error), arg A) (R, <-chan struct{}, error) {
	if l := r.loop(); l != nil {
		var res R
		fn := func(now time.Time, s *stack.Stack) error {
			var err error
			res, err = op(now, s, arg)
			return err
		}
		if token {
			return res, nil, l.DoWaitOn(fd, mask, tok, fn)
		}
		ready, err := l.DoWait(fd, mask, fn)
		return res, ready, err
	}
	var res R // a separate variable: only this path's escapes
	fn := func(now time.Time, s sockets) error {
		var err error
		res, err = op(now, s, arg)
		return err
	}
	if token {
		return res, nil, r.callOn(fd, mask, tok, fn)
	}
	ready, err := r.call(fd, mask, fn)
	return res, ready, err
}

// runRelease runs op(now, s, arg) under the loop's lock, as runCall does,
// for a call that releases fd (CLOSE, ABORT), and then forgets fd's
// waiters (runner.forget): on a *driver.Loop in the same critical section
// (DoForget), one lock instead of two per connection closed.
func runRelease[A any](r runner, fd stack.FD, op func(now time.Time, s sockets, arg A) (struct{}, error), arg A) error {
	if l := r.loop(); l != nil {
		return l.DoForget(fd, func(now time.Time, s *stack.Stack) error {
			_, err := op(now, s, arg)
			return err
		})
	}
	_, _, err := runCall(r, fd, 0, op, arg)
	r.forget(fd)
	return err
}

// connBuf is the argument of a call that moves octets: the connection and
// its buffer.
type connBuf struct {
	c *Conn
	b []byte
}

// recvIn is Read's call in the loop: RECEIVE into b. Like every call on
// the connection it sends what an earlier Write left held (SendMore).
func recvIn(now time.Time, s sockets, a connBuf) (int, error) {
	if a.c.released {
		return 0, net.ErrClosed
	}
	n, err := s.Recv(now, a.c.fd, a.b)
	a.c.reading = errors.Is(err, sock.ErrWouldBlock)
	return n, err
}

// sendIn is Write's call in the loop: SEND of b (a part may be queued),
// without the push (SendMore): the octets leave with the connection's next
// call, so a reply followed by Close carries the FIN on its last segment and
// a reply followed by Read leaves with that Read's call. When a Read already
// waits there is no such next call to count on, so the octets are pushed.
func sendIn(now time.Time, s sockets, a connBuf) (int, error) {
	if a.c.released {
		return 0, net.ErrClosed
	}
	if a.c.reading {
		return s.Send(now, a.c.fd, a.b)
	}
	return s.SendMore(now, a.c.fd, a.b)
}

// closeArg is the argument of Close's and Abort's call.
type closeArg struct {
	c     *Conn
	abort bool
}

// closeIn is Close's (or Abort's) call in the loop: the descriptor is
// released, CLOSE or ABORT.
func closeIn(now time.Time, s sockets, a closeArg) (struct{}, error) {
	a.c.released = true
	if a.abort {
		return struct{}{}, s.Abort(now, a.c.fd)
	}
	return struct{}{}, s.Close(now, a.c.fd)
}
