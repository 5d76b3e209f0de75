package netconn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// PacketConn is a bound UDP socket of the user-space stack; it implements
// net.PacketConn. ReadFrom blocks until a datagram arrives, the read deadline
// passes or Close; WriteTo never blocks (a datagram the stack cannot queue is
// dropped and counted, as UDP allows).
type PacketConn struct {
	l     *driver.Loop
	fd    stack.FD
	laddr *net.UDPAddr

	released bool // descriptor given back to the stack; guarded by the loop's lock

	closeOnce sync.Once
	closed    chan struct{}
	rd, wd    *deadline
	rmu       sync.Mutex
}

var _ net.PacketConn = (*PacketConn)(nil)

// ListenPacket binds a UDP socket on the stack's address and port (0: an
// ephemeral port).
func ListenPacket(loop *driver.Loop, port uint16) (*PacketConn, error) {
	var fd stack.FD
	var addr wire.Addr
	var err error
	if e := loop.Do(func(now time.Time, s *stack.Stack) {
		if fd, err = s.BindUDP(now, port); err == nil {
			port, _ = s.LocalPort(fd)
			addr = s.Config().Addr
		}
	}); e != nil {
		err = e
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "udp", Err: err}
	}
	return &PacketConn{
		l: loop, fd: fd,
		laddr:  &net.UDPAddr{IP: addr.Netip().AsSlice(), Port: int(port)},
		closed: make(chan struct{}),
		rd:     newDeadline(),
		wd:     newDeadline(),
	}, nil
}

// FD returns the stack descriptor of the socket.
func (c *PacketConn) FD() stack.FD { return c.fd }

// LocalAddr returns our address and port.
func (c *PacketConn) LocalAddr() net.Addr { return c.laddr }

func (c *PacketConn) opErr(op string, addr net.Addr, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: "udp", Source: c.laddr, Addr: addr, Err: err}
}

// ReadFrom reads the next datagram into b (truncated to len(b), as
// recvfrom(2) does) and returns its length and sender.
func (c *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var (
		n     int
		from  wire.Addr
		fport uint16
	)
	recv := func(now time.Time, s *stack.Stack) error {
		if c.released {
			return net.ErrClosed
		}
		var err error
		n, from, fport, err = s.RecvFrom(now, c.fd, b)
		return err
	}
	for {
		if isDone(c.closed) {
			return 0, nil, c.opErr("read", nil, net.ErrClosed)
		}
		if c.rd.passed() {
			return 0, nil, c.opErr("read", nil, os.ErrDeadlineExceeded)
		}
		ready, err := c.l.DoWait(c.fd, sock.Readable, recv)
		if err == nil {
			return n, &net.UDPAddr{IP: from.Netip().AsSlice(), Port: int(fport)}, nil
		}
		if errors.Is(err, driver.ErrLoopClosed) {
			err = net.ErrClosed
		}
		if !errors.Is(err, sock.ErrWouldBlock) {
			return 0, nil, c.opErr("read", nil, err)
		}
		select {
		case <-ready:
		case <-c.rd.wait():
			return 0, nil, c.opErr("read", nil, os.ErrDeadlineExceeded)
		case <-c.closed:
			return 0, nil, c.opErr("read", nil, net.ErrClosed)
		case <-c.l.Done():
			return 0, nil, c.opErr("read", nil, net.ErrClosed)
		}
	}
}

// WriteTo sends b as one datagram to addr (a *net.UDPAddr or a value whose
// String is "ip:port"). Datagrams larger than the MTU are fragmented by IP.
func (c *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if isDone(c.closed) {
		return 0, c.opErr("write", addr, net.ErrClosed)
	}
	if c.wd.passed() {
		return 0, c.opErr("write", addr, os.ErrDeadlineExceeded)
	}
	ap, err := addrPort(addr)
	if err != nil {
		return 0, c.opErr("write", addr, err)
	}
	dst := wire.Addr(ap.Addr().As4())
	var n int
	err = c.l.Do(func(now time.Time, s *stack.Stack) {
		if c.released {
			err = net.ErrClosed
			return
		}
		n, err = s.SendTo(now, c.fd, b, dst, ap.Port())
	})
	if errors.Is(err, driver.ErrLoopClosed) {
		err = net.ErrClosed
	}
	return n, c.opErr("write", addr, err)
}

func addrPort(a net.Addr) (netip.AddrPort, error) {
	if u, ok := a.(*net.UDPAddr); ok {
		ap := u.AddrPort()
		if !ap.Addr().Unmap().Is4() {
			return netip.AddrPort{}, fmt.Errorf("not an IPv4 address: %v", a)
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	if a == nil {
		return netip.AddrPort{}, errors.New("no destination address")
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil || !ap.Addr().Unmap().Is4() {
		return netip.AddrPort{}, fmt.Errorf("not an IPv4 address and port: %v", a)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// SoftError returns and clears the last ICMP error reported for datagrams
// this socket sent (RFC 1122 §4.1.3.3): an error wrapping sock.ErrRefused
// after a port unreachable, nil when none arrived.
func (c *PacketConn) SoftError() error {
	var err error
	if e := c.l.Do(func(now time.Time, s *stack.Stack) {
		if !c.released {
			err = s.UDPSoftError(c.fd)
		}
	}); e != nil {
		return nil
	}
	return err
}

// Close unbinds the socket; blocked ReadFrom calls return net.ErrClosed.
// A second Close returns net.ErrClosed.
func (c *PacketConn) Close() error {
	err := c.opErr("close", nil, net.ErrClosed)
	c.closeOnce.Do(func() {
		close(c.closed)
		c.l.Do(func(now time.Time, s *stack.Stack) {
			c.released = true
			s.Close(now, c.fd)
		})
		c.l.Forget(c.fd)
		c.rd.set(time.Time{})
		c.wd.set(time.Time{})
		err = nil
	})
	return err
}

// SetDeadline sets the read and write deadlines.
func (c *PacketConn) SetDeadline(t time.Time) error {
	if isDone(c.closed) {
		return c.opErr("set", nil, net.ErrClosed)
	}
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the deadline for ReadFrom.
func (c *PacketConn) SetReadDeadline(t time.Time) error {
	if isDone(c.closed) {
		return c.opErr("set", nil, net.ErrClosed)
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for WriteTo (which never blocks, so it
// only matters once passed).
func (c *PacketConn) SetWriteDeadline(t time.Time) error {
	if isDone(c.closed) {
		return c.opErr("set", nil, net.ErrClosed)
	}
	c.wd.set(t)
	return nil
}
