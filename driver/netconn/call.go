package netconn

import (
	"net"
	"time"

	"github.com/netspec/netspec/fsm/stack"
)

// loopCall runs op(c, now, s, arg) under the loop's lock, as runner.call
// does, and returns op's result with call's readiness channel and error. On
// a *driver.Loop it calls DoWait directly: the closure it builds then stays
// on the caller's stack, where a closure handed to the runner interface
// escapes to the heap, an allocation or more on every Read and Write. op is
// a plain function (a method expression), so passing it costs nothing.
func loopCall[A, R any](c *Conn, mask stack.Readiness, op func(c *Conn, now time.Time, s sockets, arg A) (R, error), arg A) (R, <-chan struct{}, error) {
	if l := c.r.loop(); l != nil {
		var res R
		ready, err := l.DoWait(c.fd, mask, func(now time.Time, s *stack.Stack) error {
			var err error
			res, err = op(c, now, s, arg)
			return err
		})
		return res, ready, err
	}
	var res R // a separate variable: only this path's escapes
	ready, err := c.r.call(c.fd, mask, func(now time.Time, s sockets) error {
		var err error
		res, err = op(c, now, s, arg)
		return err
	})
	return res, ready, err
}

// recvIn is Read's call in the loop: RECEIVE into b.
func (c *Conn) recvIn(now time.Time, s sockets, b []byte) (int, error) {
	if c.released {
		return 0, net.ErrClosed
	}
	return s.Recv(now, c.fd, b)
}

// sendIn is Write's call in the loop: SEND of b (a part may be queued).
func (c *Conn) sendIn(now time.Time, s sockets, b []byte) (int, error) {
	if c.released {
		return 0, net.ErrClosed
	}
	return s.Send(now, c.fd, b)
}
