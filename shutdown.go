package netspec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
)

// Poll intervals of Shutdown's wait for the connections to finish: the
// first, doubled up to the last (as net/http's Server.Shutdown polls).
const (
	drainPollFirst = 5 * time.Millisecond
	drainPollMax   = 100 * time.Millisecond
)

// Shutdown stops the stack gracefully, as net/http's Server.Shutdown stops a
// server: it closes every listener opened with Listen at once (a SYN to
// their ports is then answered with RST, RFC 9293 §3.10.7.1, and the
// connections not yet accepted are reset, §3.10.4), lets the connections
// already open run on, and waits until each has delivered all it was given
// and its FIN: until no connection is left in the stack but those whose FIN
// the peer has acknowledged (FIN-WAIT-2, TIME-WAIT). It does not close
// connections itself: the application closes those it holds (an
// http.Server's Shutdown closes its idle ones and lets active ones finish).
//
// If ctx ends first, every connection still sending, or still held open by
// the application, is aborted with a RST (RFC 9293 §3.10.5) and Shutdown
// returns ctx's error. Either way the stack is then closed (Close): the
// link and the control socket are released, so a new stack can be opened
// on the same interface at once. Listen fails once Shutdown has begun.
func (s *Stack) Shutdown(ctx context.Context) error {
	s.closeListeners()
	err := s.drain(ctx)
	if err != nil {
		n := s.abortAll()
		s.log.Warn("shutdown: drain timed out", "aborted", n, "err", err)
	}
	return errors.Join(err, s.Close())
}

// closeListeners closes the listeners opened with Listen and refuses new ones.
func (s *Stack) closeListeners() {
	s.lnMu.Lock()
	s.draining = true
	lns := make([]listener, 0, len(s.listeners))
	for ln := range s.listeners {
		lns = append(lns, ln)
	}
	clear(s.listeners)
	s.lnMu.Unlock()
	for _, ln := range lns {
		ln.Close() // a listener the application closed already says so: fine
	}
}

// track remembers ln for Shutdown and forgets the listeners closed since.
func (s *Stack) track(ln listener) error {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.draining {
		return net.ErrClosed
	}
	for old := range s.listeners {
		select {
		case <-old.Closed():
			delete(s.listeners, old)
		default:
		}
	}
	if s.listeners == nil {
		s.listeners = make(map[listener]struct{})
	}
	s.listeners[ln] = struct{}{}
	return nil
}

// drain waits until busy reports no connection left, or ctx ends.
func (s *Stack) drain(ctx context.Context) error {
	wait := drainPollFirst
	for {
		n, err := s.busy()
		if err != nil || n == 0 {
			return nil // the loop is gone (a link failure): nothing left to drain
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("netspec: shutdown: %d connections still open: %w", n, ctx.Err())
		case <-s.done:
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, drainPollMax)
	}
}

// busy counts the connections that have not yet had all their data and
// their FIN acknowledged.
func (s *Stack) busy() (n int, err error) {
	for _, sh := range s.shards {
		err = errors.Join(err, sh.loop.Do(func(_ time.Time, st *stack.Stack) {
			st.TCP().EachConn(func(c *tcp.Conn) {
				if !drained(c.State()) {
					n++
				}
			})
		}))
	}
	return n, err
}

// drained: our side of the connection is done, the peer acknowledged our
// FIN (or the connection ended).
func drained(st tcp.State) bool {
	return st == tcp.StateFinWait2 || st == tcp.StateTimeWait || st == tcp.StateClosed
}

// abortAll resets every connection busy would count and returns how many.
func (s *Stack) abortAll() (n int) {
	for _, sh := range s.shards {
		sh.loop.Do(func(now time.Time, st *stack.Stack) {
			var open []*tcp.Conn
			st.TCP().EachConn(func(c *tcp.Conn) {
				if !drained(c.State()) {
					open = append(open, c)
				}
			})
			for _, c := range open {
				c.Abort(now) // its RST is written before Do returns
			}
			n += len(open)
		})
	}
	return n
}
