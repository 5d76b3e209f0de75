package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// ICMP message types and Destination Unreachable codes TCP reacts to (RFC 792).
const (
	icmpDestUnreachable = 3
	icmpSourceQuench    = 4
	icmpTimeExceeded    = 11
	icmpParamProblem    = 12

	codeProtoUnreachable = 2
	codePortUnreachable  = 3
	codeFragNeeded       = 4
)

// minPathMTU is the smallest path MTU estimate (RFC 1191 §3: a host MUST
// never reduce its estimate below 68 octets).
const minPathMTU = 68

// ICMPOutcome says what an ICMP error did to the connection it quoted.
type ICMPOutcome uint8

// ICMP error outcomes.
const (
	ICMPNoConn       ICMPOutcome = iota // no connection matches the quoted segment
	ICMPOutOfWindow                     // quoted sequence number not in flight (RFC 5927 §4.1): ignored
	ICMPSoft                            // soft error: recorded by the caller, connection goes on (RFC 1122 §4.2.3.9)
	ICMPAborted                         // hard error: the connection was aborted (SYN-SENT; any state in the rfc9293 profile)
	ICMPMSSLowered                      // fragmentation needed: send MSS lowered (RFC 1191 §6.3)
	ICMPIgnored                         // a message TCP takes no action on
	ICMPSourceQuench                    // Source Quench: silently discarded (RFC 9293 §3.9.2.2 MUST-55, RFC 6633)
)

var icmpOutcomeNames = [...]string{"no_conn", "out_of_window", "soft", "aborted", "mss_lowered", "ignored", "source_quench"}

// String names o for counters.
func (o ICMPOutcome) String() string {
	if int(o) < len(icmpOutcomeNames) {
		return icmpOutcomeNames[o]
	}
	return "unknown"
}

// ICMPError handles an ICMP error message quoting a segment this layer sent
// from (src, sport) to (dst, dport) with sequence number seq (RFC 1122
// §4.2.3.9, RFC 5927). typ and code are the ICMP type and code; mtu is the
// next-hop MTU of a fragmentation-needed message (0 if the router sent none).
//
//   - The quoted sequence number must lie in SND.UNA..SND.NXT, else the message
//     is ignored (RFC 5927 §4.1: defeats blind ICMP attacks).
//   - Fragmentation needed (type 3 code 4) lowers the send MSS to the new path
//     MTU less the IP and TCP headers (RFC 1191 §6.3); segments sent from then
//     on, retransmissions included, fit the path.
//   - Protocol or port unreachable (type 3 codes 2 and 3) are hard errors
//     (RFC 9293 §3.9.2.2 SHLD-26: TCP SHOULD abort). What is aborted depends
//     on Config.Profile: in the linux profile (the default) only an opening
//     connection, with sock.ErrRefused, as Linux does without IP_RECVERR: an
//     active open in SYN-SENT, and an embryo in SYN-RECEIVED, which leaves
//     the SYN queue (Linux's tcp_req_err); RFC 5461 §4 keeps established
//     connections alive (a forged or stale ICMP should not kill them), so
//     there they are soft errors. In the rfc9293 profile a connection in
//     any state is aborted. Code 4
//     (fragmentation needed) lowers the MSS in both: RFC 1191 path MTU
//     discovery supersedes the abort.
//   - Every other destination unreachable, time exceeded and parameter problem
//     is a soft error: the connection is not aborted (RFC 9293 §3.9.2.2
//     MUST-56), and it is kept for the application (MUST-47, SHLD-25) unless
//     the application turned that off (Conn.SetSoftErrors, SHLD-20).
//   - Source Quench (type 4) is silently discarded (MUST-55, RFC 6633 §3).
//
// It returns what it did and the user id of the connection (0 if none).
func (l *Layer) ICMPError(now time.Time, src, dst wire.Addr, sport, dport uint16, seq uint32, typ, code uint8, mtu uint16) (ICMPOutcome, uint64) {
	if typ == icmpSourceQuench {
		return ICMPSourceQuench, 0
	}
	l.groFlush() // the segments before it first
	k := connKey{laddr: src, raddr: dst, lport: sport, rport: dport}
	c := l.demux[k]
	if c == nil && l.tw[k] != nil {
		// A TIME-WAIT record: SND.UNA = SND.NXT, so no sequence number is
		// in flight and every error is out of window (as for the full TCB).
		return ICMPOutOfWindow, 0
	}
	if c == nil || c.state == StateClosed {
		return ICMPNoConn, 0
	}
	var id uint64
	if c.hasID {
		id = c.id
	}
	t := &c.tcb
	if s := seqnum.Value(seq); s.LessThan(t.SndUna) || !s.LessThan(t.SndNxt) {
		return ICMPOutOfWindow, id
	}
	switch typ {
	case icmpDestUnreachable:
		switch code {
		case codeFragNeeded:
			c.snd.lowerMSS(int(mtu))
			return ICMPMSSLowered, id
		case codeProtoUnreachable, codePortUnreachable:
			if unsyncedOpen(c.state) || l.cfg.Profile == ProfileRfc9293 {
				s := l.userCall(now)
				c.fail(sock.ErrRefused)
				release(c, s)
				c.setState(StateClosed)
				l.finish(c, now)
				return ICMPAborted, id
			}
		}
		c.setSoftError(typ, code)
		return ICMPSoft, id
	case icmpTimeExceeded, icmpParamProblem:
		c.setSoftError(typ, code)
		return ICMPSoft, id
	}
	return ICMPIgnored, id
}

// unsyncedOpen reports whether st is an OPEN still in its handshake.
func unsyncedOpen(st State) bool { return st == StateSynSent || st == StateSynReceived }

// setSoftError keeps the soft error an ICMP message reports for the
// application, unless it turned reporting off (SHLD-20).
func (c *Conn) setSoftError(typ, code uint8) {
	if !c.softErrOff {
		c.softErr = softError(typ, code)
	}
}

// softError names the soft error an ICMP message reports.
func softError(typ, code uint8) error {
	switch {
	case typ == icmpTimeExceeded:
		return sock.ErrTTLExceeded
	case typ == icmpParamProblem:
		return sock.ErrParamProblem
	case code == 0:
		return sock.ErrNetUnreachable
	case code == 1:
		return sock.ErrHostUnreachable
	}
	return sock.ErrUnreachable
}

// SoftError returns the last ICMP soft error recorded for the connection
// (RFC 1122 §4.2.3.9: a TCP SHOULD make it available to the application), or
// nil. A connection that then times out reports it with sock.ErrTimeout.
func (c *Conn) SoftError() error { return c.softErr }

// lowerMSS applies a new path MTU estimate (RFC 1191 §6.3): the send MSS
// shrinks to fit it and never grows here. A message without a next-hop MTU
// (an RFC 792 router) gives no estimate and changes nothing.
func (snd *sender) lowerMSS(mtu int) {
	c := snd.c
	if mtu == 0 {
		return
	}
	mtu = max(mtu, minPathMTU)
	mss := mtu - wire.IPv4MinHeaderLen - wire.TCPMinHeaderLen
	if snd.pathMSS == 0 || mss < snd.pathMSS {
		snd.pathMSS = mss // remembered for SetMSS (mss.go)
	}
	if c.tsOK {
		mss -= tsOptLen
	}
	mss = max(mss, 8)
	if mss < snd.mss {
		snd.mss = mss
	}
}

// SendMSS returns the connection's current send MSS (the largest segment
// text it sends), for tests and inspection.
func (c *Conn) SendMSS() int { return c.snd.mss }
