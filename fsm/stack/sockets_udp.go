package stack

import (
	"fmt"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/udp"
	"github.com/netspec/netspec/fsm/wire"
)

// udpOf returns the UDP socket behind fd.
func (s *Stack) udpOf(fd FD) (*udp.Socket, error) {
	e := s.fds.get(fd)
	if e == nil || e.kind != kindUDP {
		return nil, sock.ErrBadFD
	}
	return e.udp, nil
}

// BindUDP opens a UDP socket on our address and port (0: an ephemeral port).
// It starts Writable: sends never block (a full output queue drops, counted).
func (s *Stack) BindUDP(now time.Time, port uint16) (FD, error) {
	s.now = now
	fd, err := s.fds.open(socket{kind: kindUDP})
	if err != nil {
		return -1, err
	}
	u, err := s.udp.Bind(wire.Addr{}, port, id(fd))
	if err != nil {
		s.fds.release(fd)
		return -1, err
	}
	s.fds.socks[fd].udp = u
	s.fds.markReady(fd, sock.Writable)
	return fd, nil
}

// SendTo sends b as one UDP datagram to (dst, dport) from fd's port
// (RFC 768). It returns len(b) once the datagram is queued for the link.
func (s *Stack) SendTo(now time.Time, fd FD, b []byte, dst wire.Addr, dport uint16) (int, error) {
	s.now = now
	u, err := s.udpOf(fd)
	if err != nil {
		return 0, err
	}
	if dst.IsUnspecified() || dst.IsMulticast() {
		return 0, fmt.Errorf("udp send to %v: %w", dst, sock.ErrNotExist)
	}
	if err := u.SendTo(s.cfg.Addr, dst, dport, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// RecvFrom reads the next datagram queued on fd into b (truncating it to
// len(b)) and returns its length and sender; sock.ErrWouldBlock when none.
func (s *Stack) RecvFrom(now time.Time, fd FD, b []byte) (int, wire.Addr, uint16, error) {
	s.now = now
	u, err := s.udpOf(fd)
	if err != nil {
		return 0, wire.Addr{}, 0, err
	}
	return u.RecvFrom(b)
}

// UDPSoftError returns and clears the last ICMP error reported for fd's
// datagrams (RFC 1122 §4.1.3.3): sock.ErrRefused for port unreachable,
// udp.ErrHostUnreachable for others; nil if none.
func (s *Stack) UDPSoftError(fd FD) error {
	u, err := s.udpOf(fd)
	if err != nil {
		return err
	}
	return u.SoftError()
}

// LocalPort returns the local port of a UDP descriptor.
func (s *Stack) LocalPort(fd FD) (uint16, error) {
	u, err := s.udpOf(fd)
	if err != nil {
		return 0, err
	}
	return u.Port(), nil
}
