package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// SegMeta is the IP-level metadata of one TCP segment (RFC 9293 §3.9.2: the
// TCP/IP interface). On send it is what TCP asks IP to put in the datagram's
// header; on receive, what IP found in it.
type SegMeta struct {
	// TOS is the IPv4 TOS octet: the Diffserv codepoint in the high six
	// bits (RFC 2474) and the ECN field in the low two (RFC 3168 §5).
	TOS uint8
	// TTL is the time to live. On send, 0 means the stack's default
	// (MUST-49); on receive it is the value received.
	TTL uint8
	// Stable, on receive, says the segment stays valid and unchanged until
	// Layer.EndBatch (it lies in the received frame, not in a reassembly
	// buffer), so that between BeginBatch and EndBatch the layer may hold
	// it to coalesce it with the next ones (gro.go). Unused on send.
	Stable bool
	// Unresolved reports, on receive, that the link-layer address of the
	// next hop back to the source is not known yet (an on-link source ARP
	// is still resolving, RFC 826): a SYN from it is answered with a SYN
	// cookie, not an embryo (spec/tcp.fsm, guard PeerUnresolved), so
	// spoofed on-link sources hold no SYN queue slot while their
	// resolution fails. Ignored on send.
	Unresolved bool
}

// ECN codepoints of the IP header's ECN field (RFC 3168 §5).
const (
	ECNNotECT = wire.ECNNotECT // not ECN-capable transport
	ECT1      = wire.ECNECT1   // ECN-capable transport, ECT(1)
	ECT0      = wire.ECNECT0   // ECN-capable transport, ECT(0): what netspec sends
	ECNCE     = wire.ECNCE     // congestion experienced
	ECNMask   = wire.ECNMask   // the ECN field in the TOS octet
)

// SetTOS sets the Diffserv field (DSCP, the high six bits of tos) the
// connection's segments carry from now on (RFC 9293 §3.9.1.9, MUST-48,
// SHLD-21): it may change at any time, and is passed to IP unchanged
// (SHLD-22). The low two bits are the ECN field, which TCP owns (RFC 3168
// §6.1): they are ignored, as Linux's IP_TOS ignores them on a TCP socket.
// Like golang.org/x/net/ipv4's Conn.SetTOS.
func (c *Conn) SetTOS(tos uint8) { c.tos = tos &^ ECNMask }

// TOS returns the Diffserv field the connection sends (ECN bits zero).
func (c *Conn) TOS() uint8 { return c.tos }

// SetTTL sets the time to live of the connection's datagrams (RFC 9293
// §3.9.2, MUST-49); 0 restores the stack's default.
func (c *Conn) SetTTL(ttl uint8) { c.ttl = ttl }

// TTL returns the connection's time to live (0: the stack's default).
func (c *Conn) TTL() uint8 { return c.ttl }

// RecvTOS returns the TOS octet (Diffserv and ECN field) of the last
// segment received on the connection (RFC 9293 §3.9.1.9, MAY-9: TCP may
// pass the received Diffserv field up to the application).
func (c *Conn) RecvTOS() uint8 { return c.rcv.tos }

// SetSoftErrors turns the reporting of ICMP soft errors to the application
// on (the default) or off (RFC 9293 §3.9.1.8, SHLD-20). Off, SoftError
// returns nil and a timeout reports sock.ErrTimeout alone; the errors are
// still counted.
func (c *Conn) SetSoftErrors(on bool) {
	c.softErrOff = !on
	if !on {
		c.softErr = nil
	}
}

// SetTOS sets the Diffserv field of the listener: connections it accepts
// from now on start with it (their SYN,ACK included); see Conn.SetTOS.
func (ln *Listener) SetTOS(tos uint8) { ln.tcb.tos = tos &^ ECNMask }

// TOS returns the listener's Diffserv field.
func (ln *Listener) TOS() uint8 { return ln.tcb.tos }

// SetTTL sets the time to live of the connections the listener accepts
// from now on (0: the stack's default).
func (ln *Listener) SetTTL(ttl uint8) { ln.tcb.ttl = ttl }

// TTL returns the listener's time to live (0: the stack's default).
func (ln *Listener) TTL() uint8 { return ln.tcb.ttl }

// meta returns the IP metadata of a segment of c: its Diffserv field and
// TTL, with ECT(0) when ect (RFC 3168 §6.1.2: new data of an ECN-capable
// connection only).
func (c *Conn) meta(ect bool) SegMeta {
	m := SegMeta{TOS: c.tos, TTL: c.ttl}
	if ect {
		m.TOS |= ECT0
	}
	return m
}

// rstMeta returns the IP metadata of a RST sent from c: the connection's
// for a connection, zero for a RST answering a segment that has none (the
// CLOSED and LISTEN scratch TCBs).
func (c *Conn) rstMeta() SegMeta {
	if c.state == StateClosed || c.state == StateListen {
		return SegMeta{}
	}
	return c.meta(false)
}

// InputIP is Input with the IP metadata of the datagram that carried the
// segment: its TOS octet reaches the connection (MAY-9, and the ECN field
// for RFC 3168 §6.1.3). Input is InputIP with a zero SegMeta (Not-ECT).
func (l *Layer) InputIP(now time.Time, src, dst wire.Addr, meta SegMeta, seg []byte, csumOK bool) {
	if l.gro.c != nil {
		if l.groAppend(now, src, dst, meta, seg, csumOK) {
			return
		}
		l.groFlush()
	}
	l.input(now, src, dst, meta, seg, csumOK)
}
