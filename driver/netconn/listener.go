package netconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// Listener is a passive-OPEN TCP socket of the user-space stack; it implements
// net.Listener.
type Listener struct {
	r    runner
	fd   stack.FD
	addr *net.TCPAddr
	rec  Recorder

	released bool // guarded by the loop's lock

	closeOnce sync.Once
	closed    chan struct{}

	// amu is held by the Accept that waits on ch, the listener's own
	// wake-up channel (capacity one, made by its first Accept, reused by
	// every wait after it): one Accept at a time, as net/http's, makes no
	// channel per wait; another running meanwhile waits as before.
	amu sync.Mutex
	ch  chan struct{}
}

var _ net.Listener = (*Listener)(nil)

// Listen opens a listener on the stack's address and port (RFC 9293 §3.10.1
// passive OPEN) with an accept queue of backlog connections.
func Listen(loop *driver.Loop, port uint16, backlog int) (*Listener, error) {
	return ListenOptions(loop, port, backlog, Options{})
}

// ListenOptions is Listen with options.
func ListenOptions(loop *driver.Loop, port uint16, backlog int, opts Options) (*Listener, error) {
	return listen(newLoopRunner(loop), port, backlog, opts)
}

func listen(r runner, port uint16, backlog int, opts Options) (*Listener, error) {
	var fd stack.FD
	var st stack.Status
	_, err := r.call(-1, 0, func(now time.Time, s sockets) error {
		var err error
		fd, err = s.Listen(now, port, backlog)
		if err != nil {
			return err
		}
		st, _ = s.Status(fd)
		return nil
	})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: &net.TCPAddr{Port: int(port)}, Err: err}
	}
	return &Listener{
		r:      r,
		fd:     fd,
		addr:   &net.TCPAddr{IP: st.Local.Netip().AsSlice(), Port: int(port)},
		rec:    opts.Recorder,
		closed: make(chan struct{}),
	}, nil
}

// Addr returns the listening address as a *net.TCPAddr.
func (l *Listener) Addr() net.Addr { return l.addr }

// Accept waits for and returns the next established connection. It returns an
// error wrapping net.ErrClosed after Close (or once the loop shut down).
func (l *Listener) Accept() (net.Conn, error) {
	if l.rec == nil {
		return l.accept()
	}
	start := time.Now()
	c, err := l.accept()
	ev := Event{Op: OpAccept, Start: start, End: time.Now(), Err: err}
	if err == nil {
		ev.Conn = c.(*Conn)
	}
	l.rec.Record(ev)
	return c, err
}

func (l *Listener) accept() (net.Conn, error) {
	own := l.amu.TryLock()
	if own {
		defer l.amu.Unlock()
		if l.ch == nil {
			l.ch = make(chan struct{}, 1)
		}
	}
	for {
		if isDone(l.closed) {
			return nil, l.opErr(net.ErrClosed)
		}
		var acc accepted
		var ready <-chan struct{}
		var err error
		if own {
			// Readiness, Close (forget) and the loop's shutdown send
			// ch its token (runner.callOn).
			acc, err = runCallOn(l.r, l.fd, sock.Acceptable, l.ch, acceptIn, l)
			ready = l.ch
		} else {
			acc, ready, err = runCall(l.r, l.fd, sock.Acceptable, acceptIn, l)
		}
		if err == nil {
			return newConn(l.r, acc.fd, acc.st, l.rec, false), nil
		}
		if !errors.Is(err, sock.ErrWouldBlock) {
			return nil, l.opErr(err)
		}
		select {
		case <-ready:
		case <-l.closed:
		case <-l.r.done():
			return nil, l.opErr(net.ErrClosed)
		}
	}
}

// accepted is what acceptIn took from the listener's queue.
type accepted struct {
	fd stack.FD
	st stack.Status
}

// acceptIn is Accept's call in the loop.
func acceptIn(now time.Time, s sockets, l *Listener) (accepted, error) {
	if l.released {
		return accepted{}, net.ErrClosed
	}
	fd, err := s.Accept(now, l.fd)
	if err != nil {
		return accepted{}, err
	}
	st, _ := s.Status(fd)
	return accepted{fd, st}, nil
}

func (l *Listener) opErr(err error) error {
	return &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: err}
}

// dialArg is where Dial connects to.
type dialArg struct {
	addr wire.Addr
	port uint16
}

// dialIn is Dial's active OPEN in the loop.
func dialIn(now time.Time, s sockets, a dialArg) (stack.FD, error) {
	return s.Dial(now, a.addr, a.port)
}

// establishedIn reports, in the loop, sock.ErrWouldBlock while fd's
// handshake runs, nil and its status once it is synchronized, and the
// failure otherwise.
func establishedIn(_ time.Time, s sockets, fd stack.FD) (stack.Status, error) {
	st, err := s.Status(fd)
	switch {
	case err != nil:
		return st, err
	case st.Opening:
		return st, sock.ErrWouldBlock
	case st.Err != nil:
		return st, st.Err // refused, reset, timed out
	case st.Closed:
		return st, errDialFailed
	}
	return st, nil
}

// abortIn is ABORT of fd in the loop (a Dial that gave up).
func abortIn(now time.Time, s sockets, fd stack.FD) (struct{}, error) {
	return struct{}{}, s.Abort(now, fd)
}

// Closed returns a channel closed once Close was called: the listener
// accepts nothing more.
func (l *Listener) Closed() <-chan struct{} { return l.closed }

// Close stops listening (RFC 9293 §3.10.4 on a LISTEN socket): connections not
// yet accepted are reset by the stack, and blocked Accept calls return.
func (l *Listener) Close() error {
	err := &net.OpError{Op: "close", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	var ret error = err
	l.closeOnce.Do(func() {
		close(l.closed)
		l.r.call(l.fd, 0, func(now time.Time, s sockets) error {
			l.released = true
			return s.Close(now, l.fd)
		})
		l.r.forget(l.fd)
		ret = nil
	})
	return ret
}

// Dial opens a connection to raddr from the stack's address and an ephemeral
// port (RFC 9293 §3.10.1 active OPEN) and waits until it is established,
// refused or reset, or ctx ends (which aborts it).
func Dial(ctx context.Context, loop *driver.Loop, raddr netip.AddrPort) (*Conn, error) {
	return DialOptions(ctx, loop, raddr, Options{})
}

// DialOptions is Dial with options.
func DialOptions(ctx context.Context, loop *driver.Loop, raddr netip.AddrPort, opts Options) (*Conn, error) {
	return dial(ctx, newLoopRunner(loop), raddr, opts)
}

// Dialer opens connections over one loop as DialOptions does; the
// connections it dials share one heap of deadlines (sleepers.go), as a
// Listener's accepted connections do, where each DialOptions call makes
// its own.
type Dialer struct {
	r    *loopRunner
	opts Options
}

// NewDialer returns a Dialer over loop with opts.
func NewDialer(loop *driver.Loop, opts Options) *Dialer {
	return &Dialer{r: newLoopRunner(loop), opts: opts}
}

// Dial is DialOptions over the Dialer's loop, with its options.
func (d *Dialer) Dial(ctx context.Context, raddr netip.AddrPort) (*Conn, error) {
	return dial(ctx, d.r, raddr, d.opts)
}

// errDialFailed is reported when a connection closed during the handshake and
// the stack gave no more precise reason.
var errDialFailed = errors.New("connection closed during handshake")

func dial(ctx context.Context, r runner, raddr netip.AddrPort, opts Options) (*Conn, error) {
	if opts.Recorder == nil {
		return dialConn(ctx, r, raddr, opts)
	}
	start := time.Now()
	c, err := dialConn(ctx, r, raddr, opts)
	opts.Recorder.Record(Event{Op: OpDial, Conn: c, Start: start, End: time.Now(), Err: err})
	return c, err
}

func dialConn(ctx context.Context, r runner, raddr netip.AddrPort, opts Options) (*Conn, error) {
	fail := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(raddr), Err: err}
	}
	a, ok := wire.AddrFrom(raddr.Addr())
	if !ok {
		return nil, fail(fmt.Errorf("netconn: %v is not an IPv4 address", raddr.Addr()))
	}
	if raddr.Port() == 0 {
		return nil, fail(errors.New("netconn: port 0"))
	}
	if err := ctx.Err(); err != nil {
		return nil, fail(err)
	}
	fd, _, err := runCall(r, -1, 0, dialIn, dialArg{a, raddr.Port()})
	if err != nil {
		return nil, fail(err)
	}
	abort := func() {
		runCall(r, fd, 0, abortIn, fd)
		r.forget(fd)
	}
	for {
		st, ready, err := runCall(r, fd, sock.Connected|sock.Closed, establishedIn, fd)
		if err == nil {
			return newConn(r, fd, st, opts.Recorder, true), nil
		}
		if !errors.Is(err, sock.ErrWouldBlock) {
			abort()
			return nil, fail(err)
		}
		select {
		case <-ready:
		case <-ctx.Done():
			abort()
			return nil, fail(ctx.Err())
		case <-r.done():
			return nil, fail(net.ErrClosed)
		}
	}
}
