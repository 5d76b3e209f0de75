package tcp

import (
	"fmt"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// TCB holds the sequence variables of RFC 9293 §3.3.1 under their RFC names.
type TCB struct {
	Iss    seqnum.Value // ISS: initial send sequence number
	SndUna seqnum.Value // SND.UNA: oldest unacknowledged sequence number
	SndNxt seqnum.Value // SND.NXT: next sequence number to send
	SndWnd uint32       // SND.WND: peer's window, scaled to octets
	SndWl1 seqnum.Value // SND.WL1: segment sequence number of the last window update
	SndWl2 seqnum.Value // SND.WL2: segment acknowledgment number of the last window update
	SndUp  seqnum.Value // SND.UP: send urgent pointer (unused: we send no urgent data)
	Irs    seqnum.Value // IRS: initial receive sequence number
	RcvNxt seqnum.Value // RCV.NXT: next sequence number expected
	RcvWnd uint32       // RCV.WND: window last advertised, octets from RCV.NXT
	RcvUp  seqnum.Value // RCV.UP: receive urgent pointer
}

// connKey is the 4-tuple a connection is demultiplexed by; comparable, so a
// map lookup does not allocate.
type connKey struct {
	laddr, raddr wire.Addr
	lport, rport uint16
}

// Conn is one TCP connection: its control block, buffers and timers.
// Methods take the current time; a Conn is not safe for concurrent use.
//
// Its fields are ordered to pack (the small ones together): an idle
// connection costs its Conn alone (bufpool.go), so every octet here is paid
// per held connection.
type Conn struct {
	l     *Layer
	ln    *Listener // listener that spawned it, until accepted
	key   connKey
	idx   int32  // index in Layer.conns; -1 when not in the table
	hidx  int32  // index in Layer.timers; -1 when no timer runs
	twGen uint32 // nonzero: replaced by a TIME-WAIT record of this generation (timewait.go)
	due   tick   // earliest deadline, the heap key (valid when hidx >= 0)
	id    uint64
	tcb   TCB

	// Timestamps (RFC 7323) and SACK (RFC 2018).
	tsOffset uint32 // random per-connection offset of our TSval clock (RFC 7323 §5.4)
	tsOK     bool   // both sides sent the Timestamps option in their SYNs
	sackOK   bool   // both sides sent SACK-permitted

	hasID      bool
	state      State
	passive    bool // reached SYN-RECEIVED from LISTEN (MUST-11)
	queued     bool // in ln's accept queue (established, not accepted)
	userClosed bool // the user called Close: nobody will read (orphan)
	pending    sock.Readiness
	rule       uint16 // Rules index + 1 of the row that last decided for c (0: none yet)

	// IP metadata (ipmeta.go, RFC 9293 §3.9.1.9, §3.9.2) and ECN (ecn.go).
	tos        uint8 // Diffserv field sent (ECN bits zero)
	ttl        uint8 // time to live sent (0: the stack's default)
	softErrOff bool  // the user turned soft-error reporting off (SHLD-20)
	ecn        ecnState

	err     error
	softErr error // last ICMP soft error (icmp.go), reported on timeout

	snd  sender   // the sending half (sender.go)
	rcv  receiver // the receiving half (receiver.go)
	twAt tick     // TIME-WAIT or FIN-WAIT-2 deadline; zero = stopped

	ka       *keepAlive // keep-alive probing while on (keepalive.go)
	bufGrown int        // octets the buffers exceed their initial sizes, counted in Layer.bufGrown (autotune.go)

	lim ackLimits // rate limits on ACKs to unacceptable segments (actions.go)
}

// ackLimits are a connection's rate limits on the ACKs that answer
// segments it cannot accept: challenge ACKs (RFC 5961 §7) and the
// OOWAckInterval limit (Linux's tcp_oow_rate_limited).
type ackLimits struct {
	chalStart tick // start of the current challenge-ACK interval
	chalN     int  // challenge ACKs sent in it
	oowLast   tick // last rate-limited ACK for an unacceptable segment (Config.OOWAckInterval)
}

// SetNoDelay turns Nagle's algorithm off (true) or on (RFC 9293 §3.7.4,
// MUST-17), like net.TCPConn.SetNoDelay. Turning it off sends what Nagle held.
func (c *Conn) SetNoDelay(now time.Time, noDelay bool) {
	c.snd.noDelay = noDelay
	c.l.now = now
	c.l.finish(c, now)
}

// SetUserTimeout sets how long transmitted data may stay unacknowledged
// before the connection is aborted with sock.ErrTimeout (RFC 9293 §3.8.3
// MUST-21: the application sets R2; RFC 5482 USER TIMEOUT semantics, like
// Linux's TCP_USER_TIMEOUT). Zero leaves only Config.MaxRetries. The
// retransmission timer is shortened so the timeout fires on time.
func (c *Conn) SetUserTimeout(now time.Time, d time.Duration) {
	c.snd.userTimeout = max(d, 0)
	c.l.now = now
	c.snd.clampUserTimeout()
	c.l.finish(c, now)
}

// UserTimeout returns the connection's user timeout (0: none).
func (c *Conn) UserTimeout() time.Duration { return c.snd.userTimeout }

// SetID sets the user id passed to Output.Notify for this connection.
func (c *Conn) SetID(id uint64) { c.id, c.hasID = id, true }

// State returns the connection's RFC 9293 state. A connection closed by its
// user and held by the layer as a TIME-WAIT record (timewait.go) reports
// TIME-WAIT until the record is released, then CLOSED.
func (c *Conn) State() State {
	if c.twGen != 0 {
		if c.record() != nil {
			return StateTimeWait
		}
		return StateClosed
	}
	return c.state
}

// TCB returns a copy of the connection's sequence variables (those of its
// TIME-WAIT record, if it was replaced by one that is still held).
func (c *Conn) TCB() TCB {
	if r := c.record(); r != nil {
		t := r.tcb
		t.RcvWnd = 0
		if d := int32(r.rcvEdge - t.RcvNxt); d > 0 {
			t.RcvWnd = uint32(d)
		}
		return t
	}
	t := c.tcb
	t.RcvWnd = c.rcv.wnd()
	return t
}

// Err returns the error that ended the connection (sock.ErrReset, ErrRefused,
// ErrTimeout), or nil.
func (c *Conn) Err() error { return c.err }

// Endpoints returns the local and remote address and port.
func (c *Conn) Endpoints() (local wire.Addr, lport uint16, remote wire.Addr, rport uint16) {
	return c.key.laddr, c.key.lport, c.key.raddr, c.key.rport
}

// Send copies as much of b as fits into the send buffer (RFC 9293 §3.10.2).
// It returns sock.ErrWouldBlock when the buffer is full and sock.ErrClosing
// after CloseWrite.
func (c *Conn) Send(now time.Time, b []byte) (int, error) {
	s := c.l.userCall(now)
	s.buf = b
	c.l.run(c, EvSend, s)
	c.l.finish(c, now)
	if s.err != nil && s.err != sock.ErrWouldBlock { // the sentinel unwrapped: no allocation when full
		return s.n, fmt.Errorf("tcp send: %w", s.err)
	}
	return s.n, s.err
}

// SendHeld is Send without the push (RFC 9293 §3.9.1.2, §3.10.2): the
// octets are queued but this call sends nothing. The next event on the
// connection (any user call, a segment, a timer) or Push sends them, so a
// CLOSE that follows puts its FIN on the last data segment and a reply
// written before the next RECEIVE leaves with that call. The caller must
// push within a bounded time (MUST-60: data is not held indefinitely);
// fsm/stack's SendMore does.
func (c *Conn) SendHeld(now time.Time, b []byte) (int, error) {
	s := c.l.userCall(now)
	s.buf = b
	c.l.run(c, EvSend, s)
	c.l.finishHeld(c, now)
	if s.err != nil && s.err != sock.ErrWouldBlock {
		return s.n, fmt.Errorf("tcp send: %w", s.err)
	}
	return s.n, s.err
}

// SentNothing reports whether the connection has neither sent nor queued
// an octet (or a FIN) yet: its first reply is still to be written.
func (c *Conn) SentNothing() bool {
	return c.tcb.SndNxt == c.tcb.Iss+1 && c.snd.buf.n == 0 && !c.snd.finQueued
}

// Push sends what SendHeld queued, as the end of any other event would.
func (c *Conn) Push(now time.Time) {
	c.l.userCall(now)
	c.l.finish(c, now)
}

// Recv copies received data into b (RFC 9293 §3.10.3). It returns io.EOF once
// the peer's FIN has been consumed, the error that ended the connection
// (sock.ErrReset, ErrRefused, ErrTimeout), or sock.ErrWouldBlock.
func (c *Conn) Recv(now time.Time, b []byte) (int, error) {
	s := c.l.userCall(now)
	s.buf = b
	c.l.run(c, EvReceive, s)
	c.l.finish(c, now)
	return s.n, s.err
}

// CloseWrite is RFC 9293 CLOSE for our direction: a FIN follows the queued
// data; receiving continues (MAY-1).
func (c *Conn) CloseWrite(now time.Time) error {
	s := c.l.userCall(now)
	c.l.run(c, EvClose, s)
	c.l.finish(c, now)
	if s.err != nil {
		return fmt.Errorf("tcp close write: %w", s.err)
	}
	return nil
}

// Close gives the connection up: CLOSE, and the layer frees it once the
// closing handshake (or TIME-WAIT) completes. Unread data, or data arriving
// afterwards, aborts the connection with a RST instead (SHLD-3, as Linux).
// Once closed, a connection in TIME-WAIT is replaced by a compact record
// (timewait.go); the Conn then only reports State and TCB from it.
func (c *Conn) Close(now time.Time) error {
	c.userClosed = true
	c.hasID = false
	if c.state == StateClosed {
		c.dropBuffers() // it ended before: what it held is unreadable now
		return nil
	}
	if c.rcv.buf.unread > 0 || len(c.rcv.buf.ooo) > 0 {
		c.Push(now) // what SendHeld queued leaves before the RST, as it would have
		return c.Abort(now)
	}
	s := c.l.userCall(now)
	c.l.run(c, EvClose, s)
	c.l.finish(c, now)
	if s.err != nil {
		return fmt.Errorf("tcp close: %w", s.err)
	}
	return nil
}

// Abort is RFC 9293 ABORT: a RST to the peer (in synchronized states) and the
// connection is gone.
func (c *Conn) Abort(now time.Time) error {
	s := c.l.userCall(now)
	c.l.run(c, EvAbort, s)
	c.l.finish(c, now)
	if c.state == StateClosed {
		c.dropBuffers() // nothing can be received after ABORT (RFC 9293 §3.10.5)
	}
	if s.err != nil && c.err == nil {
		return fmt.Errorf("tcp abort: %w", s.err)
	}
	return nil
}

// bindParts points the sender's and receiver's back pointers at c, after c
// was initialised or copied.
func (c *Conn) bindParts() { c.snd.c, c.rcv.c = c, c }

// setState is the one place the state changes.
func (c *Conn) setState(next State) {
	prev := c.state
	if prev == next {
		return
	}
	c.state = next
	l := c.l
	switch next {
	case StateEstablished:
		l.ctr.Established++
		c.ecnEstablished()
	case StateClosed:
		// Counted only: the row's Release action freed the connection.
		if prev == StateEstablished || prev == StateCloseWait {
			l.ctr.EstabResets++
		}
	}
	if l.Trace != nil {
		l.Trace(c, prev, next)
	}
}

// wnd returns the window from RCV.NXT to the advertised right edge.
func (rcv *receiver) wnd() uint32 {
	c := rcv.c
	if d := int32(rcv.edge - c.tcb.RcvNxt); d > 0 {
		return uint32(d)
	}
	return 0
}

// notify records readiness to report when the current call finishes.
func (c *Conn) notify(r sock.Readiness) { c.pending |= r }
