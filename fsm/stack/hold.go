package stack

import (
	"time"

	"github.com/netspec/netspec/fsm/tcp"
)

// HoldDelay bounds how long SendMore holds octets nobody pushes (MUST-60:
// data is not buffered indefinitely); Poll sends them then. Nearly every
// hold ends sooner, at the connection's next call (its Read or Close), and
// the loop's timer, armed for the hold, then fires for nothing: a
// millisecond keeps that to a thousand a second at most.
const HoldDelay = time.Millisecond

// maxHeld bounds the connections SendMore holds at once; past it a SendMore
// is a Send (counted in Counters.TCPHoldFull).
const maxHeld = 64

// held is one connection SendMore left unpushed: its descriptor and the
// connection behind it then, so a descriptor released (its CLOSE sent the
// octets) or given to another connection since is not pushed.
type held struct {
	fd FD
	c  *tcp.Conn
}

// holdList is what SendMore holds: at most maxHeld connections, pushed
// together by Poll at the deadline.
type holdList struct {
	conns [maxHeld]held
	n     int
	at    time.Time // when Poll pushes them (zero: none held)
}

// SendMore is SEND without the push (RFC 9293 §3.9.1.2, §3.10.2) for the
// first octets of connection fd, Send for any later ones: the connection's
// first reply is queued and sent by the next call on fd (RECEIVE, CLOSE,
// SEND...), by a segment arriving for it, or by Poll HoldDelay after it was
// held, whichever comes first. A server that writes its one reply and closes
// (HTTP's Connection: close, HTTP/1.0) so sends the FIN on the reply's last
// segment: one segment less, and the client cannot read the reply before the
// FIN is there and close first (keeping the TIME-WAIT on its side, where it
// slows its later connects). Later writes are pushed at once: on a
// persistent connection the next call after a reply may be a while coming
// (net/http first waits for its background read to end), and the reply's
// round trip would wait for it. When the octets do not all fit (a partial
// write or sock.ErrWouldBlock) they are pushed at once, since the caller
// then waits for room that only their acknowledgement makes.
func (s *Stack) SendMore(now time.Time, fd FD, b []byte) (int, error) {
	s.now = now
	c, err := s.connOf(fd)
	if err != nil {
		return 0, err
	}
	h := &s.hold
	dup := h.n > 0 && h.conns[h.n-1] == held{fd, c} // held already
	if !dup && !c.SentNothing() {
		return c.Send(now, b)
	}
	if !dup && h.n == maxHeld {
		s.ctr.TCPHoldFull++
		return c.Send(now, b)
	}
	n, err := c.SendHeld(now, b)
	if err != nil || n < len(b) {
		c.Push(now)
		return n, err
	}
	if !dup {
		if h.n == 0 {
			h.at = now.Add(HoldDelay)
		}
		h.conns[h.n] = held{fd, c}
		h.n++
	}
	return n, nil
}

// unhold forgets fd's hold: a call on it is sending what it held. The list
// is short (maxHeld) and only scanned while it holds something.
func (s *Stack) unhold(fd FD) {
	h := &s.hold
	for i := h.n - 1; i >= 0; i-- {
		if h.conns[i].fd == fd {
			h.n--
			h.conns[i] = h.conns[h.n]
			h.conns[h.n] = held{}
		}
	}
	if h.n == 0 {
		h.at = time.Time{}
	}
}

// pushHeld sends what SendMore holds once its deadline is due.
func (s *Stack) pushHeld(now time.Time) {
	h := &s.hold
	if h.n == 0 || now.Before(h.at) {
		return
	}
	for i := range h.conns[:h.n] {
		e := h.conns[i]
		h.conns[i] = held{}
		if c, err := s.connOf(e.fd); err == nil && c == e.c {
			c.Push(now)
			s.ctr.TCPHoldPushed++
		}
	}
	h.n, h.at = 0, time.Time{}
}
