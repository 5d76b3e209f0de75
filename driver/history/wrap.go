package history

import (
	"context"
	"errors"
	"net"
	"time"
)

// Conn is a net.Conn (typically the kernel's) whose calls are recorded into a
// history. It has the half-close of *net.TCPConn (CloseWrite) and Abort.
type Conn struct {
	net.Conn
	w   *Writer
	id  string
	end End
}

// WrapConn records the calls on c, an open connection seen from end.
func WrapConn(c net.Conn, end End, w *Writer) *Conn {
	return &Conn{Conn: c, w: w, end: end, id: w.Open(end, AddrPort(c.LocalAddr()), AddrPort(c.RemoteAddr()))}
}

// ID returns the connection's id in the history.
func (c *Conn) ID() string { return c.id }

func (c *Conn) record(op Op, start time.Time, data []byte, err error) {
	r := Record{Conn: c.id, End: c.end, Op: op, Data: data, Err: Classify(err), Call: Stamp(start), Ret: Stamp(time.Now())}
	if err != nil {
		r.Msg = err.Error()
	}
	c.w.Write(r)
}

// Read reads and records what it returned.
func (c *Conn) Read(b []byte) (int, error) {
	start := time.Now()
	n, err := c.Conn.Read(b)
	c.record(OpRead, start, b[:n], err)
	return n, err
}

// Write writes and records the bytes accepted.
func (c *Conn) Write(b []byte) (int, error) {
	start := time.Now()
	n, err := c.Conn.Write(b)
	c.record(OpWrite, start, b[:n], err)
	return n, err
}

// errNoHalfClose is returned by CloseWrite on a connection without one.
var errNoHalfClose = errors.New("history: connection has no CloseWrite")

// CloseWrite shuts down the sending side, when the connection has one.
func (c *Conn) CloseWrite() error {
	start := time.Now()
	err := errNoHalfClose
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		err = hc.CloseWrite()
	}
	c.record(OpCloseWrite, start, nil, err)
	return err
}

// Close closes and records.
func (c *Conn) Close() error {
	start := time.Now()
	err := c.Conn.Close()
	c.record(OpClose, start, nil, err)
	return err
}

// Abort resets the connection: SO_LINGER 0 then close for a *net.TCPConn
// (the kernel sends RST), or the connection's own Abort method.
func (c *Conn) Abort() error {
	start := time.Now()
	var err error
	switch a := c.Conn.(type) {
	case interface{ Abort() error }:
		err = a.Abort()
	case *net.TCPConn:
		if err = a.SetLinger(0); err == nil {
			err = a.Close()
		}
	default:
		err = c.Conn.Close()
	}
	c.record(OpAbort, start, nil, err)
	return err
}

// Dial connects with d (network "tcp") and records the dial; the connection
// is recorded as the Client end.
func Dial(ctx context.Context, d *net.Dialer, addr string, w *Writer) (*Conn, error) {
	start := time.Now()
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		w.Write(Record{End: Client, Op: OpDial, Err: Classify(err), Msg: err.Error(), Call: Stamp(start), Ret: Stamp(time.Now())})
		return nil, err
	}
	c := WrapConn(nc, Client, w)
	c.record(OpDial, start, nil, nil)
	return c, nil
}

// Listener records the accepts of a net.Listener; the connections it returns
// are recorded as the Server end.
type Listener struct {
	net.Listener
	w *Writer
}

// WrapListener records the accepts of ln into w.
func WrapListener(ln net.Listener, w *Writer) *Listener { return &Listener{Listener: ln, w: w} }

// Accept accepts and records.
func (l *Listener) Accept() (net.Conn, error) {
	start := time.Now()
	nc, err := l.Listener.Accept()
	if err != nil {
		l.w.Write(Record{End: Server, Op: OpAccept, Err: Classify(err), Msg: err.Error(), Call: Stamp(start), Ret: Stamp(time.Now())})
		return nil, err
	}
	c := WrapConn(nc, Server, l.w)
	c.record(OpAccept, start, nil, nil)
	return c, nil
}
