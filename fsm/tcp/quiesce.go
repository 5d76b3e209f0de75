package tcp

import (
	"errors"
	"fmt"
	"time"
)

// ErrNotQuiescent is wrapped by every report of Quiescent.
var ErrNotQuiescent = errors.New("tcp: not quiescent")

// Quiescent reports what the layer still holds beyond its listeners once every
// user has closed its connections and every timer has run out: after 2*MSL,
// the FIN-WAIT-2 timeout and the user timeout every connection must have
// ended (RFC 9293 §3.6: each close sequence ends in CLOSED, and CLOSED frees
// the TCB). nil means nothing is left: no connection in the table (embryos
// included), no TIME-WAIT record, no timer, no octet held out of order, no
// auto-tuned growth granted, and every ring lent to a connection given back
// to its pool. Listeners and their empty queues may remain.
func (l *Layer) Quiescent() error {
	var errs []error
	for _, c := range l.conns {
		errs = append(errs, c.violation("still in the connection table"))
		if len(errs) == 4 {
			errs = append(errs, fmt.Errorf("... %d connections in all", len(l.conns)))
			break
		}
	}
	if n := len(l.tw); n > 0 {
		errs = append(errs, fmt.Errorf("%d TIME-WAIT records", n))
	}
	if n := len(l.timers); n > 0 {
		errs = append(errs, fmt.Errorf("%d connections with a timer", n))
	}
	if l.oooBytes != 0 {
		errs = append(errs, fmt.Errorf("%d octets held out of order", l.oooBytes))
	}
	if l.bufGrown != 0 {
		errs = append(errs, fmt.Errorf("%d octets of buffer growth granted", l.bufGrown))
	}
	if n := l.sndPool.lent; n != 0 {
		errs = append(errs, fmt.Errorf("%d send rings lent and not given back", n))
	}
	if n := l.rcvPool.lent; n != 0 {
		errs = append(errs, fmt.Errorf("%d receive rings lent and not given back", n))
	}
	if n := l.oooPool.lent; n != 0 {
		errs = append(errs, fmt.Errorf("%d out-of-order range arrays lent and not given back", n))
	}
	if n := l.txPool.lent; n != 0 {
		errs = append(errs, fmt.Errorf("%d transmit-record arrays lent and not given back", n))
	}
	for k, ln := range l.listeners {
		if s, a := ln.QueueLens(); s+a > 0 {
			errs = append(errs, fmt.Errorf("listener :%d holds %d embryonic and %d unaccepted connections", k.port, s, a))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrNotQuiescent, err)
	}
	return nil
}

// CloseAll issues CLOSE (RFC 9293 §3.10.4) on every connection a user holds
// and has not closed yet, as an application that exits would; embryonic and
// not yet accepted connections stay with their listener (closing the
// listener ends them). Tests call it at the end of a run (stack.CloseAll).
func (l *Layer) CloseAll(now time.Time) {
	open := make([]*Conn, 0, len(l.conns))
	for _, c := range l.conns {
		if !c.userClosed && c.ln == nil {
			open = append(open, c)
		}
	}
	for _, c := range open {
		c.Close(now)
	}
}
