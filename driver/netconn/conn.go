// Package netconn gives blocking net.Listener and net.Conn values over the
// non-blocking socket calls of a stack run by driver.Loop: each call runs under
// the loop's lock, and a call that would block waits for the stack's readiness
// report (or a deadline, or Close) and retries.
package netconn

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// Op names a socket call in a recorded Event.
type Op uint8

// Recorded operations.
const (
	OpRead Op = iota + 1
	OpWrite
	OpCloseWrite
	OpClose
	OpDial   // Conn is nil when the dial failed
	OpAccept // Conn is nil when the accept failed
	OpAbort
)

// String returns the operation's name.
func (o Op) String() string {
	switch o {
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpCloseWrite:
		return "closewrite"
	case OpClose:
		return "close"
	case OpDial:
		return "dial"
	case OpAccept:
		return "accept"
	case OpAbort:
		return "abort"
	}
	return "unknown"
}

// Event is one completed call on a Conn, as seen by a Recorder.
type Event struct {
	Op    Op
	Conn  *Conn
	Start time.Time // when the call began
	End   time.Time // when it returned
	Data  []byte    // bytes read or written; valid only during Record
	Err   error
}

// Recorder observes completed calls on connections (for linearizability
// histories). It is called from the goroutine that made the call, outside the
// loop's lock, and must copy Data if it keeps it. A successful Dial or Accept
// is recorded before the Conn is returned, so it is seen before any call on it.
type Recorder interface {
	Record(ev Event)
}

// Options configure Listen and Dial.
type Options struct {
	// Recorder, if set, sees every Dial, Accept, Read, Write, CloseWrite,
	// Close and Abort.
	Recorder Recorder
}

// Conn is a TCP connection of the user-space stack; it implements net.Conn and
// the half-close of *net.TCPConn (CloseWrite). Reads and Writes may run
// concurrently with each other and with Close.
type Conn struct {
	r        runner
	fd       stack.FD
	active   bool // opened by Dial (the client end)
	released bool // descriptor given back to the stack; guarded by the loop's lock
	reading  bool // a Read waits for data (its last call would block); guarded by the loop's lock
	laddr    *net.TCPAddr
	raddr    *net.TCPAddr
	rec      *recording // nil unless calls are recorded

	closeOnce sync.Once
	closed    atomic.Bool  // Close or Abort was called
	rd, wd    connDeadline // sleepers.go
	rmu, wmu  sync.Mutex   // one Read and one Write at a time (keeps byte order)
}

// recording is what a Conn whose calls are recorded keeps: most keep none
// (a Conn is paid per held connection: TestIdleConnHeapBudget).
type recording struct {
	r  Recorder
	id string // connection id in a History; set when the open is recorded
}

var _ net.Conn = (*Conn)(nil)

// connMem is a Conn with its two addresses: one allocation per connection
// instead of five (the Conn, two *net.TCPAddr and their IPs).
type connMem struct {
	c            Conn
	laddr, raddr net.TCPAddr
	lip, rip     wire.Addr
}

func newConn(r runner, fd stack.FD, st stack.Status, rec Recorder, active bool) *Conn {
	m := &connMem{lip: st.Local, rip: st.Remote}
	m.laddr = net.TCPAddr{IP: m.lip[:], Port: int(st.LocalPort)}
	m.raddr = net.TCPAddr{IP: m.rip[:], Port: int(st.RemotePort)}
	c := &m.c
	c.active, c.r, c.fd = active, r, fd
	c.laddr, c.raddr = &m.laddr, &m.raddr
	if rec != nil {
		c.rec = &recording{r: rec}
	}
	c.rd.idx, c.wd.idx = -1, -1
	return c
}

// FD returns the stack descriptor of the connection.
func (c *Conn) FD() stack.FD { return c.fd }

// LocalAddr returns our address and port.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address and port.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

func (c *Conn) opErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

// wait blocks until the direction's channel (dl.ch, registered by the
// call that would block) receives its token: from the readiness the call
// waits for, its deadline (sleepers.go), Close or the loop's shutdown
// (runner.forget, runner.callOn); the caller then retries, and its
// preCheck reports a deadline or Close. A blocked call waits on one
// channel, made once per direction and reused, as a kernel socket's on its
// poll descriptor.
func (c *Conn) wait(dl *connDeadline) {
	sl := c.r.sleepers()
	if dl.block(sl) {
		<-dl.ch
	}
	dl.unblock(sl)
}

// mayWait reports whether a call that would block can wait on dl.ch; the
// first time it cannot, it makes the channel and the call is made again
// (so a direction that never blocks, as most writes, holds none).
func (dl *connDeadline) mayWait() bool {
	if dl.ch != nil {
		return true
	}
	dl.ch = make(chan struct{}, 1)
	return false
}

// preCheck reports a closed conn or a passed deadline before a call.
func (c *Conn) preCheck(dl *connDeadline) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	if dl.passed(c.r.sleepers()) {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// Read is RECEIVE (RFC 9293 §3.10.3): it blocks until data, FIN (io.EOF), an
// error (a reset wraps sock.ErrReset), the read deadline or Close.
func (c *Conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var start time.Time
	if c.rec != nil {
		start = time.Now()
	}
	n, err := c.read(b)
	if c.rec != nil {
		c.rec.r.Record(Event{Op: OpRead, Conn: c, Start: start, End: time.Now(), Data: b[:n], Err: err})
	}
	return n, err
}

func (c *Conn) read(b []byte) (int, error) {
	for {
		if err := c.preCheck(&c.rd); err != nil {
			return 0, c.opErr("read", err)
		}
		if len(b) == 0 {
			return 0, nil
		}
		n, err := runCallOn(c.r, c.fd, sock.Readable, c.rd.ch, recvIn, connBuf{c, b})
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, io.EOF):
			return n, io.EOF
		case !errors.Is(err, sock.ErrWouldBlock):
			return n, c.opErr("read", err)
		}
		if c.rd.mayWait() {
			c.wait(&c.rd)
		}
	}
}

// Write is SEND (RFC 9293 §3.10.2): it blocks until all of b is queued in the
// send buffer, or an error, the write deadline or Close stops it.
func (c *Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var start time.Time
	if c.rec != nil {
		start = time.Now()
	}
	n, err := c.write(b)
	if c.rec != nil {
		c.rec.r.Record(Event{Op: OpWrite, Conn: c, Start: start, End: time.Now(), Data: b[:n], Err: err})
	}
	return n, err
}

func (c *Conn) write(b []byte) (int, error) {
	total := 0
	for {
		if err := c.preCheck(&c.wd); err != nil {
			return total, c.opErr("write", err)
		}
		if total == len(b) {
			return total, nil
		}
		n, err := runCallOn(c.r, c.fd, sock.Writable, c.wd.ch, sendIn, connBuf{c, b[total:]})
		total += n
		if err == nil {
			if n == 0 {
				// A stack that accepts nothing without saying why must not
				// make Write spin.
				return total, c.opErr("write", io.ErrShortWrite)
			}
			continue
		}
		if !errors.Is(err, sock.ErrWouldBlock) {
			return total, c.opErr("write", err)
		}
		if c.wd.mayWait() {
			c.wait(&c.wd)
		}
	}
}

// CloseWrite shuts down the sending side (FIN after queued data); reading
// continues, as with (*net.TCPConn).CloseWrite.
func (c *Conn) CloseWrite() error {
	var start time.Time
	if c.rec != nil {
		start = time.Now()
	}
	err := c.closeWrite()
	if c.rec != nil {
		c.rec.r.Record(Event{Op: OpCloseWrite, Conn: c, Start: start, End: time.Now(), Err: err})
	}
	return err
}

func (c *Conn) closeWrite() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	_, err := c.r.call(c.fd, 0, func(now time.Time, s sockets) error {
		if c.released {
			return net.ErrClosed
		}
		return s.CloseWrite(now, c.fd)
	})
	return c.opErr("close", err)
}

// Close is CLOSE (RFC 9293 §3.10.4): queued data is still sent and the
// connection closes in the background; the descriptor is released at once.
// Blocked Read and Write calls return net.ErrClosed. A second Close returns
// net.ErrClosed.
func (c *Conn) Close() error {
	var start time.Time
	if c.rec != nil {
		start = time.Now()
	}
	err := c.release(false)
	if c.rec != nil {
		c.rec.r.Record(Event{Op: OpClose, Conn: c, Start: start, End: time.Now(), Err: err})
	}
	return err
}

// Abort is ABORT (RFC 9293 §3.10.5): it resets the connection (RST) and
// releases the descriptor.
func (c *Conn) Abort() error {
	var start time.Time
	if c.rec != nil {
		start = time.Now()
	}
	err := c.release(true)
	if c.rec != nil {
		c.rec.r.Record(Event{Op: OpAbort, Conn: c, Start: start, End: time.Now(), Err: err})
	}
	return err
}

func (c *Conn) release(abort bool) error {
	first := false
	var err error
	c.closeOnce.Do(func() {
		first = true
		c.closed.Store(true)
		err = runRelease(c.r, c.fd, closeIn, closeArg{c, abort})
		c.rd.set(c.r.sleepers(), time.Time{})
		c.wd.set(c.r.sleepers(), time.Time{})
		if !errors.Is(err, sock.ErrBadFD) {
			// The loop is gone, or the connection already ended (reset,
			// closing): the descriptor is released all the same.
			err = nil
		}
		err = c.opErr("close", err)
	})
	if !first {
		return c.opErr("close", net.ErrClosed)
	}
	return err
}

// SetReadBuffer fixes the connection's receive buffer at bytes octets and
// turns its auto-tuning off, as (*net.TCPConn).SetReadBuffer (SO_RCVBUF).
func (c *Conn) SetReadBuffer(bytes int) error {
	return c.setBuffer("set read buffer", func(now time.Time, s sockets) error {
		return s.SetReadBuffer(now, c.fd, bytes)
	})
}

// SetWriteBuffer fixes the connection's send buffer at bytes octets and
// turns its auto-tuning off, as (*net.TCPConn).SetWriteBuffer (SO_SNDBUF).
func (c *Conn) SetWriteBuffer(bytes int) error {
	return c.setBuffer("set write buffer", func(now time.Time, s sockets) error {
		return s.SetWriteBuffer(now, c.fd, bytes)
	})
}

func (c *Conn) setBuffer(op string, fn func(now time.Time, s sockets) error) error {
	if c.closed.Load() {
		return c.opErr(op, net.ErrClosed)
	}
	_, err := c.r.call(c.fd, 0, func(now time.Time, s sockets) error {
		if c.released {
			return net.ErrClosed
		}
		return fn(now, s)
	})
	return c.opErr(op, err)
}

// Urgent reports whether urgent data is pending and how many octets up to
// the peer's urgent pointer remain to be read (RFC 9293 §3.8.5, MUST-33).
// The data stays in line: Read returns it in sequence.
func (c *Conn) Urgent() (pending int, ok bool, err error) {
	if c.closed.Load() {
		return 0, false, c.opErr("urgent", net.ErrClosed)
	}
	_, err = c.r.call(c.fd, 0, func(now time.Time, s sockets) error {
		if c.released {
			return net.ErrClosed
		}
		var e error
		pending, ok, e = s.Urgent(c.fd)
		return e
	})
	return pending, ok, c.opErr("urgent", err)
}

// WaitUrgent blocks until the peer has sent urgent data that is not yet read
// (RFC 9293 §3.8.5: the asynchronous notice of MUST-32, which the stack
// raises as the sock.Urgent readiness bit) and returns how many octets up to
// the urgent pointer remain to be read. It returns at once when urgent data
// is already pending; otherwise it stops with the connection's end (its
// error, or io.EOF once it closed cleanly), Close, or ctx.
func (c *Conn) WaitUrgent(ctx context.Context) (pending int, err error) {
	fn := func(now time.Time, s sockets) error {
		if c.released {
			return net.ErrClosed
		}
		p, ok, err := s.Urgent(c.fd)
		if err != nil {
			return err
		}
		if ok {
			pending = p
			return nil
		}
		st, err := s.Status(c.fd)
		switch {
		case err != nil:
			return err
		case st.Closed && st.Err != nil:
			return st.Err
		case st.Closed:
			return io.EOF
		}
		return sock.ErrWouldBlock
	}
	for {
		if c.closed.Load() {
			return 0, c.opErr("urgent", net.ErrClosed)
		}
		ready, err := c.r.call(c.fd, sock.Urgent|sock.Closed, fn)
		switch {
		case err == nil:
			return pending, nil
		case errors.Is(err, io.EOF):
			return 0, io.EOF
		case !errors.Is(err, sock.ErrWouldBlock):
			return 0, c.opErr("urgent", err)
		}
		select {
		case <-ready: // also closed by Close (forget) and the loop's shutdown
		case <-ctx.Done():
			return 0, c.opErr("urgent", ctx.Err())
		}
	}
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.rd.set(c.r.sleepers(), t)
	c.wd.set(c.r.sleepers(), t)
	return nil
}

// SetReadDeadline sets the deadline for Read calls, current and future. A
// passed deadline makes them fail with an error matching os.ErrDeadlineExceeded
// (and net.Error.Timeout); a zero time clears it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.rd.set(c.r.sleepers(), t)
	return nil
}

// SetWriteDeadline sets the deadline for Write calls, current and future.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.wd.set(c.r.sleepers(), t)
	return nil
}
