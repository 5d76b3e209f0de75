package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// keepAlive is a connection's keep-alive state (RFC 9293 §3.8.4). It is off
// unless the application turns it on (MUST-24, MUST-25): a connection holds
// one (Conn.ka) only while keep-alive is on.
type keepAlive struct {
	idle   time.Duration // quiet time before the first probe (MUST-26, MUST-28)
	intvl  time.Duration // time between unanswered probes (MUST-27)
	count  int           // unanswered probes before the connection is dropped
	probes int           // probes sent since the peer was last heard from
	at     tick          // next probe; zero = none
}

// SetKeepAlive turns keep-alive probing on or off for the connection, like
// net.TCPConn.SetKeepAlive with SetKeepAliveConfig (RFC 9293 §3.8.4): after
// idle with nothing received a probe <SEQ=SND.UNA-1><ACK=RCV.NXT> with no
// data (SHLD-12) is sent, then one every intvl; after count unanswered probes
// the connection ends with sock.ErrTimeout. Zero values take Config's
// defaults (2 h, 75 s, 9; MUST-28). One lost probe ACK alone never ends the
// connection unless count is 1 (MUST-29).
func (c *Conn) SetKeepAlive(now time.Time, on bool, idle, intvl time.Duration, count int) {
	cfg := &c.l.cfg
	if !on {
		c.ka = nil
		if c.idx >= 0 {
			c.l.schedule(c)
		}
		return
	}
	c.ka = &keepAlive{idle: idle, intvl: intvl, count: count}
	if c.ka.idle <= 0 {
		c.ka.idle = cfg.KeepAliveIdle
	}
	if c.ka.intvl <= 0 {
		c.ka.intvl = cfg.KeepAliveInterval
	}
	if c.ka.count <= 0 {
		c.ka.count = cfg.KeepAliveCount
	}
	c.ka.at = c.l.tick(now).Add(c.ka.idle)
	if c.idx >= 0 {
		c.l.schedule(c)
	}
}

// kaHeard restarts the idle period: an acceptable acknowledgment (with or
// without data) arrived from the peer (MUST-26), ackAdvance.
func (c *Conn) kaHeard(now time.Time) {
	if c.ka != nil {
		c.ka.probes = 0
		c.ka.at = c.l.tick(now).Add(c.ka.idle)
	}
}

// kaPoll sends a due probe, or ends the connection after count unanswered
// ones. Probes go only from ESTABLISHED or CLOSE-WAIT with nothing in flight
// (data in flight has its own timer); otherwise the idle period restarts.
func (c *Conn) kaPoll(now time.Time) {
	if c.ka == nil || c.ka.at.IsZero() || c.l.tick(now).Before(c.ka.at) {
		return
	}
	l := c.l
	t := &c.tcb
	if (c.state != StateEstablished && c.state != StateCloseWait) || t.SndUna != t.SndNxt {
		c.ka.at = c.l.tick(now).Add(c.ka.idle)
		return
	}
	if c.ka.probes >= c.ka.count {
		c.ka.at = 0
		l.run(c, EvTimeoutUser, l.userCall(now))
		return
	}
	c.ka.probes++
	l.ctr.KeepAlives++
	c.ka.at = c.l.tick(now).Add(c.ka.intvl)
	h := &l.hdr
	*h = wire.TCPHeader{Flags: wire.FlagACK}
	c.emit(t.SndUna-1, 0)
}

// kaAt is the next keep-alive probe's deadline (zero: none).
func (c *Conn) kaAt() tick {
	if c.ka == nil {
		return 0
	}
	return c.ka.at
}
