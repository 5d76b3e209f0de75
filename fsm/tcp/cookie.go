package tcp

import (
	"encoding/binary"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/siphash"
	"github.com/netspec/netspec/fsm/wire"
)

// SYN cookies (RFC 4987 §3.6, in Linux's layout): when a listener's SYN
// queue is full, the SYN,ACK carries the connection's state in its ISS and
// no embryonic connection is kept. The ISS is
//
//	bits 31-27  a 64-second time counter, modulo 32
//	bits 26-25  an index into cookieMSS (the peer's MSS, rounded down)
//	bits 24-0   SipHash-2-4 under the layer's secret of the 4-tuple, the
//	            peer's ISN, the full counter and the encoded options
//
// With timestamps (RFC 7323), the low six bits of our TSval carry the
// peer's window scale (4 bits, 15 = none), SACK-permitted (1 bit) and
// ECN-ok (1 bit, RFC 3168 §6.1.1), as Linux does; the peer echoes them in
// TSecr. Without timestamps, the SYN,ACK offers neither window scaling,
// SACK nor ECN (they could not be recovered). The final ACK is valid when SEG.ACK-1 is a cookie minted for
// SEG.SEQ-1 in the current or the previous counter period.

// cookiePeriod is the cookie time counter's tick; a cookie is valid for one
// to two periods.
const cookiePeriod = 64 * time.Second

// cookieMSS are the MSS values a cookie can encode (Linux's msstab).
var cookieMSS = [4]uint16{536, 1300, 1440, 1460}

// cookieTSBits is the TSval bits that carry the options.
const cookieTSBits = 0x3f

// cookieCount returns the cookie time counter at now.
func cookieCount(now time.Time) uint32 { return uint32(now.Unix() / int64(cookiePeriod/time.Second)) }

// cookieHash is the keyed hash of a cookie's inputs (RFC 4987 §3.6: the
// secret never leaves the layer).
func (l *Layer) cookieHash(k connKey, irs seqnum.Value, count, data uint32) uint32 {
	var b [24]byte
	copy(b[0:4], k.laddr[:])
	copy(b[4:8], k.raddr[:])
	binary.BigEndian.PutUint16(b[8:], k.lport)
	binary.BigEndian.PutUint16(b[10:], k.rport)
	binary.BigEndian.PutUint32(b[12:], uint32(irs))
	binary.BigEndian.PutUint32(b[16:], count)
	binary.BigEndian.PutUint32(b[20:], data)
	return uint32(siphash.Sum64(l.secret[1]^0x636f6f6b6965, l.secret[0], b[:]))
}

// cookieISS builds the cookie for (k, irs) at count with MSS index idx and
// option data.
func (l *Layer) cookieISS(k connKey, irs seqnum.Value, count, idx, data uint32) seqnum.Value {
	h := l.cookieHash(k, irs, count, idx|data<<2)
	return seqnum.Value((count&31)<<27 | idx<<25 | h&0x1ffffff)
}

// cookieData returns the option data a cookie ACK's TSecr carries (bit 8:
// timestamps in use), or 0 without timestamps.
func cookieData(s *segment) uint32 {
	if !s.opts.HasTimestamps {
		return 0
	}
	return s.opts.TSEcr&cookieTSBits | 1<<6
}

// cookieCheck validates the ACK s against the cookie it should echo and
// returns the cookie's MSS index.
func (l *Layer) cookieCheck(k connKey, s *segment) (idx uint32, ok bool) {
	iss := uint32(s.ack - 1)
	irs := s.origSeq - 1
	idx = iss >> 25 & 3
	data := cookieData(s)
	now := cookieCount(s.now)
	for age := uint32(0); age < 2; age++ {
		cnt := now - age
		if cnt&31 == iss>>27 && l.cookieISS(k, irs, cnt, idx, data) == seqnum.Value(iss) {
			return idx, true
		}
	}
	return 0, false
}

// cookiesPending reports whether c's listener sent cookies recently enough
// for an ACK to carry a valid one.
func cookiesPending(c *Conn, s *segment) bool {
	ln := c.ln
	return ln != nil && !ln.cookieAt.IsZero() && s.now.Sub(ln.cookieAt) < 2*cookiePeriod
}

// cookieValid is the guard CookieValid: a plain ACK to a listener that is
// sending cookies, with room in the accept queue, echoing a valid cookie.
func cookieValid(c *Conn, s *segment) bool {
	ln := c.ln
	if !cookiesPending(c, s) || ln.closed || len(ln.queue) >= ln.backlog ||
		s.flags&(wire.FlagSYN|wire.FlagRST|wire.FlagACK) != wire.FlagACK {
		return false
	}
	_, ok := c.l.cookieCheck(c.key, s)
	return ok
}

// sendCookieSynAck answers a SYN with a cookie SYN,ACK and keeps no state
// (RFC 4987 §3.6). c is the listener's scratch TCB; it stays in LISTEN.
func sendCookieSynAck(c *Conn, s *segment) {
	l := c.l
	syn := *s
	useTS := s.opts.HasTimestamps && !l.cfg.NoTimestamps
	if !useTS { // nowhere to keep them (as Linux)
		syn.opts.HasWScale, syn.opts.SACKPermitted = false, false
		syn.flags &^= wire.FlagECE | wire.FlagCWR
	}
	setIRS(c, &syn)
	mss := uint16(536)
	if s.opts.HasMSS && s.opts.MSS > 0 {
		mss = s.opts.MSS
	}
	mss = min(mss, l.cfg.MSS)
	idx := uint32(0)
	for i, m := range cookieMSS {
		if m <= mss {
			idx = uint32(i)
		}
	}
	var data uint32
	c.tsOffset = l.tsOffsetFor(c.key)
	if useTS {
		bits := uint32(0xf)
		if syn.opts.HasWScale {
			bits = uint32(c.snd.shift)
		}
		if c.sackOK {
			bits |= 1 << 4
		}
		if c.ecn.ok {
			bits |= 1 << 5
		}
		// The bits replace the clock's low six; when that puts the TSval
		// ahead of the clock, step back one period of them (Linux's
		// cookie_init_timestamp), or the connection's first segments would
		// carry older TSvals and fail the peer's PAWS test (RFC 7323 §5.3).
		ts := c.tsClock(s.now)
		val := ts&^cookieTSBits | bits
		if int32(val-ts) > 0 {
			val -= cookieTSBits + 1
		}
		c.tsOffset += val - ts
		data = bits | 1<<6
	}
	t := &c.tcb
	t.Iss = l.cookieISS(c.key, t.Irs, cookieCount(s.now), idx, data)
	t.SndUna, t.SndNxt = t.Iss, t.Iss
	c.emitSyn(true)
	c.ln.cookieAt = s.now
	if len(c.ln.embryos) >= c.ln.synBacklog {
		c.ln.fullAt = s.now // not for a PeerUnresolved cookie
	}
	l.ctr.CookiesSent++
}

// cookieAccept rebuilds the connection from a valid cookie ACK (RFC 4987
// §3.6): IRS = SEG.SEQ-1, ISS = SEG.ACK-1, the MSS from the cookie's index,
// and with timestamps the window scale and SACK-permitted from TSecr. The
// connection goes straight to ESTABLISHED; listenInput queues it for accept.
func cookieAccept(c *Conn, s *segment) {
	l := c.l
	idx, _ := l.cookieCheck(c.key, s)
	syn := *s
	syn.seq = s.origSeq - 1
	syn.flags = wire.FlagSYN
	o := &syn.opts
	o.HasMSS, o.MSS = true, cookieMSS[idx]
	o.HasWScale, o.SACKPermitted = false, false
	if s.opts.HasTimestamps {
		bits := s.opts.TSEcr & cookieTSBits
		if ws := uint8(bits & 0xf); ws != 0xf {
			o.HasWScale, o.WScale = true, ws
		}
		o.SACKPermitted = bits&(1<<4) != 0
		if bits&(1<<5) != 0 {
			syn.flags |= wire.FlagECE | wire.FlagCWR // the SYN asked for ECN and we agreed
		}
	}
	setIRS(c, &syn)
	c.snd.start(s.ack-1, s.ack) // the SYN,ACK was sent and acknowledged
	c.tsOffset = l.tsOffsetFor(c.key)
	c.snd.windowInit(s)
	l.ctr.CookiesValidated++
}
