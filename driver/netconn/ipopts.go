package netconn

import (
	"fmt"
	"net"
	"time"

	"github.com/netspec/netspec/fsm/stack"
)

// SetTOS sets the Diffserv field of the connection's outgoing segments
// (RFC 9293 §3.9.1.9 MUST-48, SHLD-21), at any time, like
// golang.org/x/net/ipv4's Conn.SetTOS. The two ECN bits are TCP's and are
// ignored. tos must be in 0..255.
func (c *Conn) SetTOS(tos int) error {
	if tos < 0 || tos > 255 {
		return c.opErr("set", fmt.Errorf("netconn: TOS %d out of range 0..255", tos))
	}
	return c.setOpt(func(s sockets) error { return s.SetTOS(c.fd, uint8(tos)) })
}

// TOS returns the Diffserv field the connection sends.
func (c *Conn) TOS() (int, error) {
	st, err := c.status()
	return int(st.TOS), err
}

// SetTTL sets the time to live of the connection's datagrams (RFC 9293
// §3.9.2 MUST-49), like golang.org/x/net/ipv4's Conn.SetTTL; 0 restores
// the stack's default. ttl must be in 0..255.
func (c *Conn) SetTTL(ttl int) error {
	if ttl < 0 || ttl > 255 {
		return c.opErr("set", fmt.Errorf("netconn: TTL %d out of range 0..255", ttl))
	}
	return c.setOpt(func(s sockets) error { return s.SetTTL(c.fd, uint8(ttl)) })
}

// TTL returns the connection's time to live (0: the stack's default).
func (c *Conn) TTL() (int, error) {
	st, err := c.status()
	return int(st.TTL), err
}

// RecvTOS returns the TOS octet (Diffserv field and ECN bits) of the last
// segment the connection received (RFC 9293 §3.9.1.9 MAY-9).
func (c *Conn) RecvTOS() (int, error) {
	st, err := c.status()
	return int(st.RecvTOS), err
}

// SoftError returns the last ICMP soft error the connection received
// (RFC 9293 §3.9.1.8 MUST-47, §3.9.2.2 SHLD-25: host or network
// unreachable, TTL exceeded, parameter problem), or nil. It does not end
// the connection; a connection that later times out reports it in the
// error of its Read or Write as well.
func (c *Conn) SoftError() error {
	st, err := c.status()
	if err != nil {
		return err
	}
	return st.SoftErr
}

// Retrying reports whether the connection has retransmitted one segment
// R1 times (default 3) without progress: the path may be broken, though
// the connection has not given up (RFC 9293 §3.8.3 SHLD-9). It clears when
// the peer acknowledges new data.
func (c *Conn) Retrying() (bool, error) {
	st, err := c.status()
	if err != nil {
		return false, err
	}
	return st.Retrying, nil
}

// SetSoftErrors turns the reporting of ICMP soft errors on (the default)
// or off (RFC 9293 §3.9.1.8 SHLD-20).
func (c *Conn) SetSoftErrors(on bool) error {
	return c.setOpt(func(s sockets) error { return s.SetSoftErrors(c.fd, on) })
}

// setOpt runs a setting call on the connection's descriptor.
func (c *Conn) setOpt(fn func(s sockets) error) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	_, err := c.r.call(c.fd, 0, func(now time.Time, s sockets) error {
		if c.released {
			return net.ErrClosed
		}
		return fn(s)
	})
	return c.opErr("set", err)
}

// status reads the descriptor's STATUS (RFC 9293 §3.10.6).
func (c *Conn) status() (stack.Status, error) {
	var st stack.Status
	if c.closed.Load() {
		return st, c.opErr("get", net.ErrClosed)
	}
	_, err := c.r.call(c.fd, 0, func(now time.Time, s sockets) error {
		if c.released {
			return net.ErrClosed
		}
		var err error
		st, err = s.Status(c.fd)
		return err
	})
	return st, c.opErr("get", err)
}

// SetTOS sets the Diffserv field of the connections the listener accepts
// from now on, their SYN,ACK included (RFC 9293 §3.9.1.9 SHLD-21).
func (l *Listener) SetTOS(tos int) error {
	if tos < 0 || tos > 255 {
		return l.opErr(fmt.Errorf("netconn: TOS %d out of range 0..255", tos))
	}
	return l.setOpt(func(s sockets) error { return s.SetTOS(l.fd, uint8(tos)) })
}

// SetTTL sets the time to live of the connections the listener accepts
// from now on (0: the stack's default).
func (l *Listener) SetTTL(ttl int) error {
	if ttl < 0 || ttl > 255 {
		return l.opErr(fmt.Errorf("netconn: TTL %d out of range 0..255", ttl))
	}
	return l.setOpt(func(s sockets) error { return s.SetTTL(l.fd, uint8(ttl)) })
}

func (l *Listener) setOpt(fn func(s sockets) error) error {
	if isDone(l.closed) {
		return l.opErr(net.ErrClosed)
	}
	_, err := l.r.call(l.fd, 0, func(now time.Time, s sockets) error {
		if l.released {
			return net.ErrClosed
		}
		return fn(s)
	})
	if err != nil {
		return l.opErr(err)
	}
	return nil
}
