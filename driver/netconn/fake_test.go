package netconn

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// fakeStack is a loopback socket model with the stack's call semantics: a
// Dial to a listening port connects to it, bytes written land in the peer's
// bounded receive buffer, CloseWrite is FIN and Abort is RST.
type fakeStack struct {
	bufCap int  // receive buffer size of each connection
	hold   bool // Dial stays in SynSent until complete()
	dirty  bool // something changed since the last wake-up
	socks  map[stack.FD]*fsock
	next   stack.FD
	ports  map[uint16]stack.FD
	eport  uint16
	sends  [2]int // Send and SendMore calls
}

type fsock struct {
	listener bool
	port     uint16
	backlog  int
	queue    []stack.FD // established, not yet accepted

	state    string
	lport    uint16
	rport    uint16
	peer     *fsock
	rbuf     []byte
	eof      bool
	err      error // terminal error reported by Recv/Send
	wclosed  bool
	released bool
	pending  stack.FD // listener fd a held Dial will complete on (-1: none)
	tos, ttl uint8    // SetTOS, SetTTL
	softOff  bool     // SetSoftErrors(false)
	urgent   int      // urgent octets pending (tests set it)
}

var fakeAddr = wire.Addr{198, 18, 0, 2}

func newFakeStack(bufCap int) *fakeStack {
	return &fakeStack{bufCap: bufCap, socks: map[stack.FD]*fsock{}, ports: map[uint16]stack.FD{}, eport: 49152}
}

func (f *fakeStack) open(s *fsock) stack.FD {
	// Reuse the lowest free number, as the stack does, so stale-descriptor
	// bugs show up.
	for fd := stack.FD(0); ; fd++ {
		if _, ok := f.socks[fd]; !ok {
			f.socks[fd] = s
			return fd
		}
	}
}

func (f *fakeStack) Listen(now time.Time, port uint16, backlog int) (stack.FD, error) {
	if _, ok := f.ports[port]; ok {
		return -1, sock.ErrExists
	}
	fd := f.open(&fsock{listener: true, port: port, backlog: backlog, state: "Listen"})
	f.ports[port] = fd
	return fd, nil
}

func (f *fakeStack) Accept(now time.Time, fd stack.FD) (stack.FD, error) {
	s := f.socks[fd]
	if s == nil || !s.listener {
		return -1, sock.ErrBadFD
	}
	if len(s.queue) == 0 {
		return -1, sock.ErrWouldBlock
	}
	c := s.queue[0]
	s.queue = s.queue[1:]
	return c, nil
}

func (f *fakeStack) Dial(now time.Time, raddr wire.Addr, rport uint16) (stack.FD, error) {
	f.eport++
	c := &fsock{state: "SynSent", lport: f.eport, rport: rport, pending: -1}
	fd := f.open(c)
	lfd, ok := f.ports[rport]
	if raddr != fakeAddr || !ok {
		c.state, c.err = "Closed", sock.ErrRefused
		f.dirty = true
		return fd, nil
	}
	c.pending = lfd
	if !f.hold {
		f.complete()
	}
	return fd, nil
}

// complete finishes every held handshake.
func (f *fakeStack) complete() {
	for _, c := range f.socks {
		if c.listener || c.pending < 0 || c.state != "SynSent" {
			continue
		}
		ln := f.socks[c.pending]
		c.pending = -1
		if ln == nil || len(ln.queue) >= ln.backlog {
			c.state, c.err = "Closed", sock.ErrRefused
			continue
		}
		s := &fsock{state: "Established", lport: c.rport, rport: c.lport, peer: c, pending: -1}
		c.peer, c.state = s, "Established"
		ln.queue = append(ln.queue, f.open(s))
	}
	f.dirty = true
}

func (f *fakeStack) conn(fd stack.FD) (*fsock, error) {
	s := f.socks[fd]
	if s == nil || s.listener {
		return nil, sock.ErrBadFD
	}
	return s, nil
}

// SendMore is Send, counted apart: the fake has no push to leave out.
func (f *fakeStack) SendMore(now time.Time, fd stack.FD, b []byte) (int, error) {
	f.sends[1]++
	return f.send(fd, b)
}

func (f *fakeStack) Send(now time.Time, fd stack.FD, b []byte) (int, error) {
	f.sends[0]++
	return f.send(fd, b)
}

func (f *fakeStack) send(fd stack.FD, b []byte) (int, error) {
	s, err := f.conn(fd)
	if err != nil {
		return 0, err
	}
	switch {
	case s.err != nil:
		return 0, s.err
	case s.wclosed:
		return 0, sock.ErrClosing
	case s.state == "SynSent":
		return 0, sock.ErrWouldBlock
	}
	p := s.peer
	room := f.bufCap - len(p.rbuf)
	if room == 0 {
		return 0, sock.ErrWouldBlock
	}
	n := min(room, len(b))
	p.rbuf = append(p.rbuf, b[:n]...)
	f.dirty = true
	return n, nil
}

func (f *fakeStack) Recv(now time.Time, fd stack.FD, b []byte) (int, error) {
	s, err := f.conn(fd)
	if err != nil {
		return 0, err
	}
	switch {
	case len(s.rbuf) > 0 && s.err == nil:
		n := copy(b, s.rbuf)
		s.rbuf = s.rbuf[n:]
		f.dirty = true
		return n, nil
	case s.err != nil:
		return 0, s.err
	case s.eof:
		return 0, io.EOF
	}
	return 0, sock.ErrWouldBlock
}

func (f *fakeStack) CloseWrite(now time.Time, fd stack.FD) error {
	s, err := f.conn(fd)
	if err != nil {
		return err
	}
	if !s.wclosed && s.peer != nil {
		s.peer.eof = true
	}
	s.wclosed = true
	f.dirty = true
	return nil
}

func (f *fakeStack) Close(now time.Time, fd stack.FD) error {
	s := f.socks[fd]
	if s == nil {
		return sock.ErrBadFD
	}
	if s.listener {
		delete(f.ports, s.port)
	} else if !s.wclosed && s.peer != nil {
		s.peer.eof = true
	}
	s.released = true
	delete(f.socks, fd)
	f.dirty = true
	return nil
}

func (f *fakeStack) Abort(now time.Time, fd stack.FD) error {
	s := f.socks[fd]
	if s == nil {
		return sock.ErrBadFD
	}
	if s.peer != nil {
		s.peer.err = sock.ErrReset
	}
	if s.listener {
		delete(f.ports, s.port)
	}
	s.released = true
	delete(f.socks, fd)
	f.dirty = true
	return nil
}

func (f *fakeStack) SetReadBuffer(now time.Time, fd stack.FD, n int) error  { return nil }
func (f *fakeStack) SetWriteBuffer(now time.Time, fd stack.FD, n int) error { return nil }
func (f *fakeStack) Urgent(fd stack.FD) (int, bool, error) {
	s := f.socks[fd]
	if s == nil {
		return 0, false, sock.ErrBadFD
	}
	return s.urgent, s.urgent > 0, nil
}

func (f *fakeStack) Status(fd stack.FD) (stack.Status, error) {
	s := f.socks[fd]
	if s == nil {
		return stack.Status{}, sock.ErrBadFD
	}
	if s.listener {
		return stack.Status{State: "Listen", Local: fakeAddr, LocalPort: s.port}, nil
	}
	return stack.Status{State: s.state, Local: fakeAddr, LocalPort: s.lport, Remote: fakeAddr, RemotePort: s.rport,
		Opening: s.state == "SynSent", Closed: s.state == "Closed", Err: s.err, TOS: s.tos, TTL: s.ttl}, nil
}

func (f *fakeStack) SetTOS(fd stack.FD, tos uint8) error {
	s := f.socks[fd]
	if s == nil {
		return sock.ErrBadFD
	}
	s.tos = tos &^ 3
	return nil
}

func (f *fakeStack) SetTTL(fd stack.FD, ttl uint8) error {
	s := f.socks[fd]
	if s == nil {
		return sock.ErrBadFD
	}
	s.ttl = ttl
	return nil
}

func (f *fakeStack) SetSoftErrors(fd stack.FD, on bool) error {
	s := f.socks[fd]
	if s == nil || s.listener {
		return sock.ErrBadFD
	}
	s.softOff = !on
	return nil
}

// fakeRunner serialises calls into a fakeStack and wakes every waiter after
// any change (spurious wake-ups are allowed by the readiness contract).
type fakeRunner struct {
	mu     sync.Mutex
	st     *fakeStack
	bcast  chan struct{}
	tokens []chan struct{} // callOn's waiters, woken with bcast
	closed bool
	doneCh chan struct{}
	sl     *sleeperHeap
}

func (r *fakeRunner) sleepers() *sleeperHeap { return r.sl }

func newFakeRunner(bufCap int) *fakeRunner {
	return &fakeRunner{st: newFakeStack(bufCap), bcast: make(chan struct{}), doneCh: make(chan struct{}), sl: newSleeperHeap()}
}

func (r *fakeRunner) call(fd stack.FD, mask stack.Readiness, fn func(now time.Time, s sockets) error) (<-chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, net.ErrClosed
	}
	err := fn(time.Now(), r.st)
	var ch <-chan struct{}
	if err == sock.ErrWouldBlock {
		ch = r.bcast
	}
	r.wakeLocked()
	return ch, err
}

func (r *fakeRunner) callOn(fd stack.FD, mask stack.Readiness, ch chan struct{}, fn func(now time.Time, s sockets) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return net.ErrClosed
	}
	err := fn(time.Now(), r.st)
	if err == sock.ErrWouldBlock && ch != nil {
		select {
		case <-ch:
		default:
		}
		r.tokens = append(r.tokens, ch)
	}
	r.wakeLocked()
	return err
}

func (r *fakeRunner) wakeLocked() {
	if r.st.dirty {
		r.st.dirty = false
		r.wakeAllLocked()
	}
}

// wakeAllLocked wakes every waiter: call's (closing their shared channel)
// and callOn's (a token each).
func (r *fakeRunner) wakeAllLocked() {
	close(r.bcast)
	r.bcast = make(chan struct{})
	for i, ch := range r.tokens {
		select {
		case ch <- struct{}{}:
		default:
		}
		r.tokens[i] = nil
	}
	r.tokens = r.tokens[:0]
}

// with runs fn on the fake stack as the loop would (for test actions).
func (r *fakeRunner) with(fn func(f *fakeStack)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.st)
	r.wakeLocked()
}

// forget wakes every waiter (they share one channel and retry).
func (r *fakeRunner) forget(fd stack.FD) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wakeAllLocked()
}

func (r *fakeRunner) done() <-chan struct{} { return r.doneCh }

func (r *fakeRunner) loop() *driver.Loop { return nil }

func (r *fakeRunner) shutdown() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		close(r.doneCh)
		r.wakeAllLocked() // the loop's shutdown wakes every waiter
	}
}
