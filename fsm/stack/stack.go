// Package stack ties the layers of netspec together into one plain value: frames
// go in with Input, timers run with Poll, frames come out with Output, and the
// RFC 9293 §3.9 user calls work on descriptors. It owns no goroutine, clock or
// global random source; driver.Loop runs it.
package stack

import (
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// FD is a socket descriptor: a small integer naming a listener or a connection.
type FD int32

// Readiness is re-exported from fsm/sock for the driver's convenience.
type Readiness = sock.Readiness

// Config configures a Stack.
type Config struct {
	MAC       wire.MAC  // our hardware address
	Addr      wire.Addr // our IPv4 address
	PrefixLen int       // subnet prefix length (for directed broadcast and on-link checks)
	Gateway   wire.Addr // next hop for off-link destinations (zero: on-link only)
	MTU       int       // link MTU (default 1500)
	Seed      uint64    // seeds the stack's random source (ISNs, ports, IP IDs)
}

// Stack is one host's network stack. It is not safe for concurrent use.
type Stack struct {
	cfg Config
}

// New returns a stack configured by cfg.
func New(cfg Config) *Stack {
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	return &Stack{cfg: cfg}
}

// Input processes one received Ethernet frame.
func (s *Stack) Input(now time.Time, frame []byte, meta RxMeta) {}

// Poll runs the timers due at now.
func (s *Stack) Poll(now time.Time) {}

// NextDeadline is when Poll next needs to run; zero means no timer is pending.
func (s *Stack) NextDeadline() time.Time { return time.Time{} }

// Output passes each queued outgoing frame to emit, in order, and returns how
// many it passed. A frame is valid only during the call to emit.
func (s *Stack) Output(emit func(frame []byte)) int { return 0 }

// Ready passes each descriptor whose readiness changed since the last call to fn.
func (s *Stack) Ready(fn func(fd FD, ev Readiness)) int { return 0 }

// Listen is the passive OPEN of RFC 9293 §3.10.1 on our address and port.
func (s *Stack) Listen(now time.Time, port uint16, backlog int) (FD, error) {
	return -1, sock.ErrLimit
}

// Accept takes the next established connection from listener fd (sock.ErrWouldBlock if none).
func (s *Stack) Accept(now time.Time, fd FD) (FD, error) { return -1, sock.ErrBadFD }

// Dial is the active OPEN of RFC 9293 §3.10.1; the connection completes
// asynchronously (Connected or Closed readiness).
func (s *Stack) Dial(now time.Time, raddr wire.Addr, rport uint16) (FD, error) {
	return -1, sock.ErrLimit
}

// Send is SEND (RFC 9293 §3.10.2): it queues as much of b as fits.
func (s *Stack) Send(now time.Time, fd FD, b []byte) (int, error) { return 0, sock.ErrBadFD }

// Recv is RECEIVE (RFC 9293 §3.10.3).
func (s *Stack) Recv(now time.Time, fd FD, b []byte) (int, error) { return 0, sock.ErrBadFD }

// CloseWrite sends FIN after queued data (half-close).
func (s *Stack) CloseWrite(now time.Time, fd FD) error { return sock.ErrBadFD }

// Close is CLOSE (RFC 9293 §3.10.4) and releases the descriptor.
func (s *Stack) Close(now time.Time, fd FD) error { return sock.ErrBadFD }

// Abort is ABORT (RFC 9293 §3.10.5): RST and release the descriptor.
func (s *Stack) Abort(now time.Time, fd FD) error { return sock.ErrBadFD }

// Status is STATUS (RFC 9293 §3.10.6).
func (s *Stack) Status(fd FD) (Status, error) { return Status{}, sock.ErrBadFD }

// Status describes one socket.
type Status struct {
	State      string
	Local      wire.Addr
	LocalPort  uint16
	Remote     wire.Addr
	RemotePort uint16
}
