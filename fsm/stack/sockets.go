package stack

import (
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/udp"
	"github.com/netspec/netspec/fsm/wire"
)

type sockKind uint8

const (
	kindFree sockKind = iota
	kindListener
	kindConn
	kindUDP // a bound UDP socket (sockets_udp.go)
)

// socket is one descriptor's entry.
type socket struct {
	kind    sockKind
	ln      *tcp.Listener
	conn    *tcp.Conn
	udp     *udp.Socket
	ready   Readiness // changes not yet reported
	queued  bool      // on the ready list
	nextGen uint32
}

// fdTable maps descriptors to sockets and collects readiness changes.
type fdTable struct {
	limit  int
	socks  []socket
	free   []FD
	readyQ []FD
}

func (t *fdTable) init(limit int) { t.limit = limit }

func (t *fdTable) open(e socket) (FD, error) {
	var fd FD
	if n := len(t.free); n > 0 {
		fd = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if len(t.socks) >= t.limit {
			return -1, sock.ErrLimit
		}
		t.socks = append(t.socks, socket{})
		fd = FD(len(t.socks) - 1)
	}
	queued := t.socks[fd].queued
	t.socks[fd] = e
	t.socks[fd].queued = queued
	return fd, nil
}

func (t *fdTable) get(fd FD) *socket {
	if fd < 0 || int(fd) >= len(t.socks) || t.socks[fd].kind == kindFree {
		return nil
	}
	return &t.socks[fd]
}

func (t *fdTable) release(fd FD) {
	e := &t.socks[fd]
	queued := e.queued
	*e = socket{queued: queued}
	t.free = append(t.free, fd)
}

func (t *fdTable) markReady(fd FD, ev Readiness) {
	e := t.get(fd)
	if e == nil {
		return
	}
	e.ready |= ev
	if !e.queued {
		e.queued = true
		t.readyQ = append(t.readyQ, fd)
	}
}

func (t *fdTable) drainReady(fn func(FD, Readiness)) int {
	n := 0
	for _, fd := range t.readyQ {
		e := &t.socks[fd]
		e.queued = false
		if e.kind != kindFree && e.ready != 0 {
			ev := e.ready
			e.ready = 0
			fn(fd, ev)
			n++
		}
	}
	t.readyQ = t.readyQ[:0]
	return n
}

func id(fd FD) uint64 { return uint64(fd) + 1 }

func (s *Stack) connOf(fd FD) (*tcp.Conn, error) {
	e := s.fds.get(fd)
	if e == nil || e.kind != kindConn {
		return nil, sock.ErrBadFD
	}
	return e.conn, nil
}

// Listen is the passive OPEN of RFC 9293 §3.10.1 on our address and port.
func (s *Stack) Listen(now time.Time, port uint16, backlog int) (FD, error) {
	s.now = now
	fd, err := s.fds.open(socket{kind: kindListener})
	if err != nil {
		return -1, err
	}
	ln, err := s.tcp.Listen(now, s.cfg.Addr, port, backlog, id(fd))
	if err != nil {
		s.fds.release(fd)
		return -1, err
	}
	s.fds.socks[fd].ln = ln
	return fd, nil
}

// Accept takes the next established connection from listener fd
// (sock.ErrWouldBlock when none is waiting).
func (s *Stack) Accept(now time.Time, fd FD) (FD, error) {
	s.now = now
	e := s.fds.get(fd)
	if e == nil || e.kind != kindListener {
		return -1, sock.ErrBadFD
	}
	c, err := e.ln.Accept(now)
	if err != nil {
		return -1, err
	}
	nfd, err := s.fds.open(socket{kind: kindConn, conn: c})
	if err != nil {
		c.Abort(now)
		return -1, err
	}
	c.SetID(id(nfd))
	_, _, raddr, _ := c.Endpoints()
	s.synAccepted(now, raddr)
	return nfd, nil
}

// Dial is the active OPEN of RFC 9293 §3.10.1 from our address and an
// ephemeral port; it completes asynchronously (Connected or Closed readiness).
func (s *Stack) Dial(now time.Time, raddr wire.Addr, rport uint16) (FD, error) {
	s.now = now
	fd, err := s.fds.open(socket{kind: kindConn})
	if err != nil {
		return -1, err
	}
	c, err := s.tcp.Connect(now, s.cfg.Addr, 0, raddr, rport, id(fd))
	if err != nil {
		s.fds.release(fd)
		return -1, err
	}
	s.fds.socks[fd].conn = c
	return fd, nil
}

// Send is SEND (RFC 9293 §3.10.2): it queues as much of b as fits and returns
// sock.ErrWouldBlock when nothing fits.
func (s *Stack) Send(now time.Time, fd FD, b []byte) (int, error) {
	s.now = now
	c, err := s.connOf(fd)
	if err != nil {
		return 0, err
	}
	if s.hold.n > 0 {
		s.unhold(fd)
	}
	return c.Send(now, b)
}

// Recv is RECEIVE (RFC 9293 §3.10.3).
func (s *Stack) Recv(now time.Time, fd FD, b []byte) (int, error) {
	s.now = now
	c, err := s.connOf(fd)
	if err != nil {
		return 0, err
	}
	if s.hold.n > 0 {
		s.unhold(fd) // the call sends what SendMore held
	}
	return c.Recv(now, b)
}

// SetReadBuffer fixes the receive buffer of connection fd at n octets and
// turns its auto-tuning off, like SO_RCVBUF (tcp.Conn.SetRecvBuffer).
func (s *Stack) SetReadBuffer(now time.Time, fd FD, n int) error {
	s.now = now
	c, err := s.connOf(fd)
	if err != nil {
		return err
	}
	c.SetRecvBuffer(now, n)
	return nil
}

// SetWriteBuffer fixes the send buffer of connection fd at n octets and
// turns its auto-tuning off, like SO_SNDBUF (tcp.Conn.SetSendBuffer).
func (s *Stack) SetWriteBuffer(now time.Time, fd FD, n int) error {
	s.now = now
	c, err := s.connOf(fd)
	if err != nil {
		return err
	}
	c.SetSendBuffer(now, n)
	return nil
}

// Urgent reports the urgent data pending on connection fd (RFC 9293 §3.8.5,
// MUST-33; tcp.Conn.Urgent): how many octets up to the peer's urgent
// pointer are left to read, and whether any are. The data stays in line;
// the Urgent readiness bit announces a new urgent pointer (MUST-32).
func (s *Stack) Urgent(fd FD) (pending int, ok bool, err error) {
	c, err := s.connOf(fd)
	if err != nil {
		return 0, false, err
	}
	pending, ok = c.Urgent()
	return pending, ok, nil
}

// SetMTU changes the link MTU (clamped to 68..65535, RFC 791): IPv4 output
// fragments or refuses (DF) by it from now on, and TCP's interface MSS
// becomes MTU-40 (or Config.TCP.MSS when that was set and is smaller), which
// every existing connection's send MSS follows, down or back up (RFC 9293
// §3.7.3, SHLD-6; tcp.Layer.SetMSS).
func (s *Stack) SetMTU(now time.Time, mtu int) {
	s.now = now
	mtu = min(max(mtu, 68), 65535)
	s.cfg.MTU = mtu
	s.port.SetMTU(mtu)
	s.ipTx.SetMTU(mtu)
	mss := mtu - wire.IPv4MinHeaderLen - wire.TCPMinHeaderLen
	if s.fixedMSS > 0 {
		mss = min(mss, int(s.fixedMSS))
	}
	s.tcp.SetMSS(now, uint16(max(mss, 1)))
}

// MTU returns the link MTU in force.
func (s *Stack) MTU() int { return s.cfg.MTU }

// CloseWrite sends FIN after queued data (half-close); reading continues.
func (s *Stack) CloseWrite(now time.Time, fd FD) error {
	s.now = now
	c, err := s.connOf(fd)
	if err != nil {
		return err
	}
	if s.hold.n > 0 {
		s.unhold(fd)
	}
	return c.CloseWrite(now)
}

// Close is CLOSE (RFC 9293 §3.10.4) and releases the descriptor; the
// connection finishes its close in the background.
func (s *Stack) Close(now time.Time, fd FD) error { return s.release(now, fd, (*tcp.Conn).Close) }

// Abort is ABORT (RFC 9293 §3.10.5): RST and release the descriptor.
func (s *Stack) Abort(now time.Time, fd FD) error { return s.release(now, fd, (*tcp.Conn).Abort) }

// release ends the socket behind fd (a connection with end: CLOSE or ABORT)
// and frees the descriptor.
func (s *Stack) release(now time.Time, fd FD, end func(*tcp.Conn, time.Time) error) error {
	s.now = now
	e := s.fds.get(fd)
	if e == nil {
		return sock.ErrBadFD
	}
	var err error
	switch e.kind {
	case kindListener:
		e.ln.Close(now)
	case kindConn:
		e.conn.SetID(0)
		if s.hold.n > 0 {
			s.unhold(fd)
		}
		err = end(e.conn, now)
	case kindUDP:
		e.udp.Close()
	}
	s.fds.release(fd)
	return err
}

// Status describes one socket (RFC 9293 §3.10.6).
type Status struct {
	State      string // RFC 9293 state name (tcp.State.String()), or "UDP"
	Opening    bool   // an OPEN is still in its handshake (SYN-SENT, SYN-RECEIVED)
	Closed     bool   // the connection reached CLOSED
	Err        error  // why the connection ended: refused, reset, timed out (nil if it has not, or ended gracefully)
	Local      wire.Addr
	LocalPort  uint16
	Remote     wire.Addr
	RemotePort uint16
	// IP-facing settings and state of a connection (or, TOS and TTL, of a
	// listener's future connections): RFC 9293 §3.9.1.8-9, §3.9.2.
	TOS     uint8 // Diffserv field sent (SetTOS)
	TTL     uint8 // time to live sent (0: Config.TTL)
	RecvTOS uint8 // TOS octet of the last segment received (MAY-9)
	ECN     bool  // ECN negotiated (RFC 3168)
	SoftErr error // last ICMP soft error (MUST-47, SHLD-25), nil if none or reporting is off
	// Retrying: one segment was retransmitted R1 times without progress;
	// the connection goes on until R2 (RFC 9293 §3.8.3 SHLD-9).
	Retrying bool
	// Buffers of a connection (fsm/tcp autotune.go): their sizes now, and
	// whether SetReadBuffer / SetWriteBuffer fixed them (else auto-tuned).
	RecvBuf, SendBuf           int
	RecvBufFixed, SendBufFixed bool
}

// SetTOS sets the Diffserv field of the connection or listener fd (RFC 9293
// §3.9.1.9 MUST-48, SHLD-21); a listener's connections inherit it. The ECN
// bits are ignored.
func (s *Stack) SetTOS(fd FD, tos uint8) error {
	ep, err := s.ipEndpoint(fd)
	if err != nil {
		return err
	}
	ep.SetTOS(tos)
	return nil
}

// SetTTL sets the time to live of the connection or listener fd (RFC 9293
// §3.9.2 MUST-49); 0 restores Config.TTL.
func (s *Stack) SetTTL(fd FD, ttl uint8) error {
	ep, err := s.ipEndpoint(fd)
	if err != nil {
		return err
	}
	ep.SetTTL(ttl)
	return nil
}

// ipOptions is what connections and listeners share of the IP header
// settings a TCP user may change.
type ipOptions interface {
	SetTOS(tos uint8)
	SetTTL(ttl uint8)
}

// ipEndpoint returns the TCP connection or listener behind fd.
func (s *Stack) ipEndpoint(fd FD) (ipOptions, error) {
	e := s.fds.get(fd)
	switch {
	case e == nil:
		return nil, sock.ErrBadFD
	case e.kind == kindListener:
		return e.ln, nil
	case e.kind == kindConn:
		return e.conn, nil
	}
	return nil, sock.ErrBadFD
}

// SetSoftErrors turns the reporting of ICMP soft errors on connection fd on
// or off (RFC 9293 §3.9.1.8 SHLD-20).
func (s *Stack) SetSoftErrors(fd FD, on bool) error {
	c, err := s.connOf(fd)
	if err != nil {
		return err
	}
	c.SetSoftErrors(on)
	return nil
}

// Status is STATUS (RFC 9293 §3.10.6).
func (s *Stack) Status(fd FD) (Status, error) {
	e := s.fds.get(fd)
	if e == nil {
		return Status{}, sock.ErrBadFD
	}
	if e.kind == kindListener {
		a, p := e.ln.Addr()
		return Status{State: tcp.StateListen.String(), Local: a, LocalPort: p, TOS: e.ln.TOS(), TTL: e.ln.TTL()}, nil
	}
	if e.kind == kindUDP {
		return Status{State: "UDP", Local: s.cfg.Addr, LocalPort: e.udp.Port()}, nil
	}
	la, lp, ra, rp := e.conn.Endpoints()
	st := e.conn.State()
	rb, rf := e.conn.RecvBuffer()
	sb, sf := e.conn.SendBuffer()
	return Status{
		RecvBuf: rb, RecvBufFixed: rf, SendBuf: sb, SendBufFixed: sf,
		State: st.String(), Local: la, LocalPort: lp, Remote: ra, RemotePort: rp,
		Opening: st == tcp.StateSynSent || st == tcp.StateSynReceived,
		Closed:  st == tcp.StateClosed,
		Err:     e.conn.Err(),
		TOS:     e.conn.TOS(), TTL: e.conn.TTL(), RecvTOS: e.conn.RecvTOS(),
		ECN: e.conn.ECNEnabled(), SoftErr: e.conn.SoftError(),
		Retrying: e.conn.Retrying(),
	}, nil
}
