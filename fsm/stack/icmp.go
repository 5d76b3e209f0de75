package stack

import (
	"encoding/binary"
	"time"

	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// icmpLimiter is a pair of token buckets: one for echo replies, one for error
// messages (RFC 1122 §3.2.2: a host SHOULD limit the rate of ICMP errors).
type icmpLimiter struct {
	echo, errs bucket
}

type bucket struct {
	rate   int // tokens per second, also the burst
	tokens int
	last   time.Time
}

func (l *icmpLimiter) init(echoRate, errRate int) {
	l.echo = bucket{rate: echoRate, tokens: echoRate}
	l.errs = bucket{rate: errRate, tokens: errRate}
}

// take refills the bucket for the time since the last refill and takes a token.
func (b *bucket) take(now time.Time) bool {
	if b.last.IsZero() {
		b.last = now
	}
	if el := now.Sub(b.last); el > 0 {
		add := int(el.Seconds() * float64(b.rate))
		if add > 0 {
			b.tokens = min(b.rate, b.tokens+add)
			b.last = now
		}
	}
	if b.tokens == 0 {
		return false
	}
	b.tokens--
	return true
}

// icmpInput answers echo requests (RFC 792, RFC 1122 §3.2.2.6) and counts the rest.
func (s *Stack) icmpInput(now time.Time, d *ip.Datagram) {
	m, err := wire.ParseICMP(d.Payload)
	if err != nil || wire.Checksum(d.Payload, 0) != 0 {
		s.ctr.ICMPBad++
		return
	}
	s.ctr.ICMPIn++
	if isICMPError(m.Type()) {
		s.icmpErrorInput(now, d, m)
		return
	}
	if m.Type() != wire.ICMPEchoRequest || m.Code() != 0 {
		return
	}
	if d.Broadcast {
		// RFC 1122 §3.2.2.6 allows silently ignoring broadcast echo requests (Linux default).
		s.ctr.ICMPEchoBroadcast++
		return
	}
	if !s.icmp.echo.take(now) {
		s.ctr.ICMPRateLimited++
		return
	}
	// The reply is the request with the type changed; the identifier, sequence
	// number and data come back unchanged.
	var hdr [wire.ICMPHeaderLen]byte
	copy(hdr[:], d.Payload[:wire.ICMPHeaderLen])
	hdr[0], hdr[2], hdr[3] = wire.ICMPEchoReply, 0, 0
	data := d.Payload[wire.ICMPHeaderLen:]
	sum := wire.Checksum(data, wire.Sum(hdr[:], 0))
	hdr[2], hdr[3] = byte(sum>>8), byte(sum)
	s.sendIP(d.Src, wire.ProtoICMP, false, hdr[:], data)
	s.ctr.ICMPEchoReplies++
}

// sendICMPError sends an ICMP error quoting orig, the offending datagram's IP
// header and at least its first 8 payload bytes (RFC 792). It never answers a
// broadcast or multicast datagram, an unspecified source, a non-first
// fragment, or an ICMP error (RFC 1122 §3.2.2), and it is rate-limited.
func (s *Stack) sendICMPError(now time.Time, orig []byte, typ, code, ptr uint8) {
	p, err := wire.ParseIPv4(orig)
	if err != nil || p.IHL() < wire.IPv4MinHeaderLen || p.IHL() > len(orig) {
		return
	}
	src, dst := p.Src(), p.Dst()
	if src.IsUnspecified() || src.IsMulticast() || src.IsLimitedBroadcast() || src == s.ipTx.SubnetBroadcast() ||
		dst != s.cfg.Addr || p.FragOffset() != 0 {
		return
	}
	if p.Protocol() == wire.ProtoICMP {
		if m, err := wire.ParseICMP(orig[p.IHL():]); err != nil || isICMPError(m.Type()) {
			return
		}
	}
	if !s.icmp.errs.take(now) {
		s.ctr.ICMPRateLimited++
		return
	}
	var buf [wire.ICMPHeaderLen + 60 + 8]byte
	n := copy(buf[wire.ICMPHeaderLen:], orig[:min(len(orig), p.IHL()+8)])
	msg := buf[:wire.ICMPHeaderLen+n]
	wire.PutICMPHeader(msg, typ, code, uint32(ptr)<<24)
	wire.SetICMPChecksum(msg)
	s.sendIP(src, wire.ProtoICMP, false, msg, nil)
	s.ctr.ICMPErrorsOut++
}

// icmpSourceQuench is the ICMP Source Quench type (RFC 792, deprecated by RFC 6633).
const icmpSourceQuench = 4

func isICMPError(t uint8) bool {
	switch t {
	case wire.ICMPDestUnreachable, wire.ICMPTimeExceeded, wire.ICMPParamProblem, icmpSourceQuench, 5 /* redirect */ :
		return true
	}
	return false
}

// reassemblyExpired sends ICMP time exceeded, code 1 (fragment reassembly time
// exceeded), when a datagram's first fragment had arrived (RFC 792, RFC 1122 §3.3.2).
func (s *Stack) reassemblyExpired(first []byte) {
	s.sendICMPError(s.now, first, wire.ICMPTimeExceeded, 1, 0)
}

// icmpErrorInput delivers an incoming ICMP error to the transport that sent
// the datagram it quotes (RFC 1122 §3.2.2: "MUST be passed to the transport
// layer"; §4.1.3.3 UDP, §4.2.3.9 TCP). The quote is our datagram's IP header
// and at least its first 8 payload octets (RFC 792): the ports and, for TCP,
// the sequence number. Fragmentation needed carries the next-hop MTU in the
// low 16 bits of the second header word (RFC 1191 §4).
func (s *Stack) icmpErrorInput(now time.Time, d *ip.Datagram, m wire.ICMP) {
	s.ctr.ICMPErrorsIn++
	if m.Type() == icmpSourceQuench {
		// Deprecated (RFC 6633 §3): hosts MUST silently discard it; TCP
		// MUST (RFC 9293 §3.9.2.2 MUST-55).
		s.ctr.ICMPSourceQuench++
		return
	}
	q := m.Payload()
	inner, err := wire.ParseIPv4(q)
	if d.Broadcast || err != nil || inner.Version() != 4 || inner.IHL() < wire.IPv4MinHeaderLen ||
		len(q) < inner.IHL()+8 || inner.Src() != s.cfg.Addr || inner.FragOffset() != 0 {
		s.ctr.ICMPErrorsUnmatched++
		return
	}
	l4 := q[inner.IHL():]
	sport, dport := binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
	typ, code := m.Type(), m.Code()
	switch inner.Protocol() {
	case wire.ProtoTCP:
		mtu := uint16(m.Rest())
		o, _ := s.tcp.ICMPError(now, inner.Src(), inner.Dst(), sport, dport, binary.BigEndian.Uint32(l4[4:]), typ, code, mtu)
		switch o {
		case tcp.ICMPNoConn, tcp.ICMPOutOfWindow, tcp.ICMPIgnored, tcp.ICMPSourceQuench:
			s.ctr.ICMPErrorsUnmatched++
		case tcp.ICMPAborted:
			s.ctr.TCPICMPAborts++
		case tcp.ICMPMSSLowered:
			s.ctr.PMTUDecreases++
		case tcp.ICMPSoft:
			s.ctr.TCPSoftErrors++
		}
	case wire.ProtoUDP:
		if !s.udp.ICMPError(inner.Src(), inner.Dst(), sport, dport, typ, code) {
			s.ctr.ICMPErrorsUnmatched++
		}
	default:
		s.ctr.ICMPErrorsUnmatched++
	}
}
