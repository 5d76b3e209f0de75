package stack

import (
	"time"

	"github.com/netspec/netspec/fsm/ip"
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
	if src.IsUnspecified() || src.IsMulticast() || src.IsLimitedBroadcast() || src == s.bcast ||
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

func isICMPError(t uint8) bool {
	switch t {
	case wire.ICMPDestUnreachable, wire.ICMPTimeExceeded, wire.ICMPParamProblem, 4 /* source quench */, 5 /* redirect */ :
		return true
	}
	return false
}

// reassemblyExpired sends ICMP time exceeded, code 1 (fragment reassembly time
// exceeded), when a datagram's first fragment had arrived (RFC 792, RFC 1122 §3.3.2).
func (s *Stack) reassemblyExpired(first []byte) {
	s.sendICMPError(s.now, first, wire.ICMPTimeExceeded, 1, 0)
}

// udpInput: no UDP sockets yet (issue 5), so every datagram gets port
// unreachable (RFC 1122 §4.1.3.1) after its checksum is checked.
func (s *Stack) udpInput(now time.Time, d *ip.Datagram) {
	u, err := wire.ParseUDP(d.Payload)
	if err != nil || u.Length() < wire.UDPHeaderLen || int(u.Length()) > len(d.Payload) {
		s.ctr.UDPBad++
		return
	}
	if u.Checksum() != 0 && wire.Checksum(d.Payload[:u.Length()], wire.PseudoHeaderSum(d.Src, d.Dst, wire.ProtoUDP, int(u.Length()))) != 0 {
		s.ctr.UDPBad++
		return
	}
	s.ctr.UDPNoPort++
	if d.Broadcast {
		return
	}
	var quote [60 + 8]byte
	n := copy(quote[:], d.Header)
	n += copy(quote[n:], d.Payload[:min(8, len(d.Payload))])
	s.sendICMPError(now, quote[:n], wire.ICMPDestUnreachable, 3, 0)
}
