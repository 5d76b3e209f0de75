package ip

import (
	"encoding/binary"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// ICMPConfig configures an ICMP.
type ICMPConfig struct {
	EchoRate  int // most echo replies per second, also the burst (RFC 1122 §3.2.2 rate limit)
	ErrorRate int // most error messages per second, also the burst
	// Deliver hands an ICMP error about a datagram we sent to the transport
	// that sent it (RFC 1122 §3.2.2: it "MUST be passed to the transport
	// layer") and reports whether the transport had something it quotes (a
	// connection or socket). nil matches nothing.
	Deliver func(now time.Time, e ICMPReport) bool
}

// ICMPReport is an ICMP error message about a datagram we sent, as the
// transport needs it: the message's type and code, and what it quotes of
// our datagram (RFC 792: its IP header and at least its first 8 payload
// octets, so the ports and, for TCP, the sequence number).
type ICMPReport struct {
	Type, Code       uint8
	Proto            uint8     // the quoted datagram's protocol
	Src, Dst         wire.Addr // the quoted datagram's addresses: Src is ours
	SrcPort, DstPort uint16    // the quoted transport header's ports
	Seq              uint32    // TCP: the quoted sequence number
	MTU              uint16    // fragmentation needed: the next-hop MTU (RFC 1191 §4)
}

// ICMPCounters are ICMP's counters. The stack reports them under their
// historical names: stack.ICMPIn, stack.ICMPBad, ... (docs/counters.md).
type ICMPCounters struct {
	In              uint64 // messages received with a good checksum
	Bad             uint64 // messages shorter than a header or with a bad checksum
	EchoReplies     uint64 // echo replies sent
	EchoBroadcast   uint64 // echo requests to a broadcast address, ignored
	ErrorsOut       uint64 // error messages sent
	RateLimited     uint64 // echo replies or errors suppressed by the token buckets
	ErrorsIn        uint64 // error messages received (RFC 1122 §3.2.2)
	ErrorsUnmatched uint64 // ... quoting nothing we have (no socket, bad quote, seq out of window)
	SourceQuench    uint64 // Source Quench messages silently discarded (RFC 6633, RFC 9293 MUST-55)
}

// ICMP is the stack's ICMP (RFC 792): it answers echo requests, sends
// error messages for the layers that owe one, rate-limited, and hands the
// errors it receives to the transport through Deliver. It sends through
// the Sender it is given. It is not safe for concurrent use.
type ICMP struct {
	cfg        ICMPConfig
	tx         *Sender
	echo, errs bucket
	c          ICMPCounters
}

// NewICMP returns an ICMP for cfg sending through tx.
func NewICMP(cfg ICMPConfig, tx *Sender) *ICMP {
	return &ICMP{cfg: cfg, tx: tx,
		echo: bucket{rate: cfg.EchoRate, tokens: cfg.EchoRate},
		errs: bucket{rate: cfg.ErrorRate, tokens: cfg.ErrorRate}}
}

// Counters returns a copy of the counters.
func (m *ICMP) Counters() ICMPCounters { return m.c }

// bucket is a token bucket: rate tokens a second, at most rate held
// (RFC 1122 §3.2.2: a host SHOULD limit the rate of ICMP errors).
type bucket struct {
	rate   int // tokens per second, also the burst
	tokens int
	last   time.Time
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

// Input answers echo requests (RFC 792, RFC 1122 §3.2.2.6), delivers errors
// and counts the rest.
func (m *ICMP) Input(now time.Time, d *Datagram) {
	msg, err := wire.ParseICMP(d.Payload)
	if err != nil || wire.Checksum(d.Payload, 0) != 0 {
		m.c.Bad++
		return
	}
	m.c.In++
	if isICMPError(msg.Type()) {
		m.errorInput(now, d, msg)
		return
	}
	if msg.Type() != wire.ICMPEchoRequest || msg.Code() != 0 {
		return
	}
	if d.Broadcast {
		// RFC 1122 §3.2.2.6 allows silently ignoring broadcast echo requests (Linux default).
		m.c.EchoBroadcast++
		return
	}
	if !m.echo.take(now) {
		m.c.RateLimited++
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
	m.tx.Send(now, Outgoing{Dst: d.Src, Proto: wire.ProtoICMP}, hdr[:], data)
	m.c.EchoReplies++
}

// SendError sends an ICMP error quoting orig, the offending datagram's IP
// header and at least its first 8 payload bytes (RFC 792). It never answers
// a broadcast or multicast datagram, an unspecified source, a non-first
// fragment, or an ICMP error (RFC 1122 §3.2.2), and it is rate-limited.
func (m *ICMP) SendError(now time.Time, orig []byte, typ, code, ptr uint8) {
	p, err := wire.ParseIPv4(orig)
	if err != nil || p.IHL() < wire.IPv4MinHeaderLen || p.IHL() > len(orig) {
		return
	}
	src, dst := p.Src(), p.Dst()
	if src.IsUnspecified() || src.IsMulticast() || src.IsLimitedBroadcast() || src == m.tx.bcast ||
		dst != m.tx.cfg.Addr || p.FragOffset() != 0 {
		return
	}
	if p.Protocol() == wire.ProtoICMP {
		if q, err := wire.ParseICMP(orig[p.IHL():]); err != nil || isICMPError(q.Type()) {
			return
		}
	}
	if !m.errs.take(now) {
		m.c.RateLimited++
		return
	}
	var buf [wire.ICMPHeaderLen + 60 + 8]byte
	n := copy(buf[wire.ICMPHeaderLen:], orig[:min(len(orig), p.IHL()+8)])
	msg := buf[:wire.ICMPHeaderLen+n]
	wire.PutICMPHeader(msg, typ, code, uint32(ptr)<<24)
	wire.SetICMPChecksum(msg)
	m.tx.Send(now, Outgoing{Dst: src, Proto: wire.ProtoICMP}, msg, nil)
	m.c.ErrorsOut++
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

// errorInput hands an incoming ICMP error to Deliver (RFC 1122 §3.2.2;
// §4.1.3.3 UDP, §4.2.3.9 TCP) when it quotes a first fragment of a
// datagram we sent: our datagram's IP header and at least its first 8
// payload octets (RFC 792). Fragmentation needed carries the next-hop MTU
// in the low 16 bits of the second header word (RFC 1191 §4).
func (m *ICMP) errorInput(now time.Time, d *Datagram, msg wire.ICMP) {
	m.c.ErrorsIn++
	if msg.Type() == icmpSourceQuench {
		// Deprecated (RFC 6633 §3): hosts MUST silently discard it; TCP
		// MUST (RFC 9293 §3.9.2.2 MUST-55).
		m.c.SourceQuench++
		return
	}
	q := msg.Payload()
	inner, err := wire.ParseIPv4(q)
	if d.Broadcast || err != nil || inner.Version() != 4 || inner.IHL() < wire.IPv4MinHeaderLen ||
		len(q) < inner.IHL()+8 || inner.Src() != m.tx.cfg.Addr || inner.FragOffset() != 0 {
		m.c.ErrorsUnmatched++
		return
	}
	l4 := q[inner.IHL():]
	e := ICMPReport{
		Type: msg.Type(), Code: msg.Code(), Proto: inner.Protocol(), Src: inner.Src(), Dst: inner.Dst(),
		SrcPort: binary.BigEndian.Uint16(l4[0:]), DstPort: binary.BigEndian.Uint16(l4[2:]),
		Seq: binary.BigEndian.Uint32(l4[4:]), MTU: uint16(msg.Rest()),
	}
	if m.cfg.Deliver == nil || !m.cfg.Deliver(now, e) {
		m.c.ErrorsUnmatched++
	}
}
