package stack

import (
	"errors"
	"fmt"
	"time"
)

// CloseAll closes every open descriptor as an application that finishes
// would: connections with CLOSE (RFC 9293 §3.10.4; they end their close in
// the background), UDP sockets, and listeners too unless keepListeners; then
// the connections opened on the TCP layer directly (tcp.Layer.CloseAll).
// Tests call it at the end of a run, then drain the timers and check
// Quiescent.
func (s *Stack) CloseAll(now time.Time, keepListeners bool) {
	for i := range s.fds.socks {
		fd := FD(i)
		e := s.fds.get(fd)
		if e == nil || (keepListeners && e.kind == kindListener) {
			continue
		}
		s.Close(now, fd)
	}
	s.tcp.CloseAll(now)
}

// Quiescent reports what the stack still holds beyond its listeners once
// every application has closed its descriptors (CloseAll) and every timer has
// run out (NextDeadline is zero): then every connection must have ended and
// given back what it took. nil means nothing is left: no open descriptor but
// listeners, no TCP connection, TIME-WAIT record, timer, out-of-order octet or
// lent ring (tcp.Layer.Quiescent), no frame queued for output or lent to the
// driver, no fragment
// held for reassembly and no neighbour in the ARP cache (entries age out).
// One shared end-of-run check for every test that runs a stack: the
// simulator (fuzz/sim), the scenario scripts, the stateful property tests
// and the in-memory netconn tests.
func (s *Stack) Quiescent() error {
	var errs []error
	if d := s.NextDeadline(); !d.IsZero() {
		errs = append(errs, fmt.Errorf("a timer pending at %v", d))
	}
	for i := range s.fds.socks {
		if e := s.fds.get(FD(i)); e != nil && e.kind != kindListener {
			errs = append(errs, fmt.Errorf("descriptor %d still open", i))
		}
	}
	if err := s.tcp.Quiescent(); err != nil {
		errs = append(errs, err)
	}
	if n := s.Pending(); n != 0 {
		errs = append(errs, fmt.Errorf("%d frames queued for output", n))
	} else if n := s.port.Queue().InUse(); n != 0 {
		errs = append(errs, fmt.Errorf("%d frame buffers lent (held for ARP, or not given back by the driver: ReturnFrame)", n))
	}
	if n, r := s.ipRx.HeldBytes(), s.ipRx.Reassemblies(); n != 0 || r != 0 {
		errs = append(errs, fmt.Errorf("%d reassemblies holding %d bytes", r, n))
	}
	if n := s.port.ARP().Len(); n != 0 {
		errs = append(errs, fmt.Errorf("%d ARP cache entries", n))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stack not quiescent: %w", err)
	}
	return nil
}

// settleSteps bounds the timer firings Settle runs: more is a livelock.
const settleSteps = 1_000_000

// Settle is the end-of-run check of a stack whose peers are gone (a test's
// link torn down): it closes every descriptor (CloseAll), runs every timer
// out in virtual time from the stack's own clock with nobody answering (what
// it sends meanwhile is discarded), at most limit past that clock, and then
// reports Quiescent. Each connection must end through its timeouts (R2, the
// FIN-WAIT-2 timeout, 2*MSL) and give back what it took.
func (s *Stack) Settle(limit time.Duration) error {
	now := s.now
	end := now.Add(limit)
	discard := func([]byte, TxMeta) {}
	s.CloseAll(now, false)
	s.Output(discard)
	for i := 0; ; i++ {
		d := s.NextDeadline()
		if d.IsZero() || d.After(end) {
			break
		}
		if i == settleSteps {
			return fmt.Errorf("stack settle: %d timer firings before %v", i, end)
		}
		if d.After(now) {
			now = d
		}
		s.Poll(now)
		s.Output(discard)
	}
	return s.Quiescent()
}
