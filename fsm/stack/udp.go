package stack

import (
	"time"

	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/udp"
	"github.com/netspec/netspec/fsm/wire"
)

// udpSeedSalt separates the UDP layer's random source from the stack's.
const udpSeedSalt = 0x7564707365656421

// udpOutput adapts the stack to udp.Output.
type udpOutput struct{ s *Stack }

// SendDatagram wraps one UDP datagram in IPv4 (fragmenting it when it exceeds
// the MTU, RFC 1122 §3.3.3: DF is not set) and Ethernet, and queues it.
func (o udpOutput) SendDatagram(src, dst wire.Addr, header, payload []byte) {
	o.s.sendIP(dst, wire.ProtoUDP, false, header, payload)
}

// Notify records a readiness change for the descriptor behind id.
func (o udpOutput) Notify(id uint64, ev sock.Readiness) {
	if id != 0 {
		o.s.fds.markReady(FD(id-1), ev)
	}
}

// udpInput hands a datagram to the UDP layer and sends ICMP port unreachable
// when nobody listens on its port (RFC 1122 §4.1.3.1); ip.ICMP.SendError refuses
// broadcasts and non-first fragments (RFC 1122 §3.2.2).
func (s *Stack) udpInput(now time.Time, d *ip.Datagram, csumOK bool) {
	switch s.udp.Input(d.Src, d.Dst, d.Payload, csumOK, d.Broadcast) {
	case udp.ReasonMalformed, udp.ReasonBadChecksum:
		s.ctr.UDPBad++
	case udp.ReasonNoPortBcast:
		s.ctr.UDPNoPort++
	case udp.ReasonNoPort:
		s.ctr.UDPNoPort++
		var quote [wire.IPv4MaxHeaderLen + 8]byte
		n := copy(quote[:], d.Header)
		n += copy(quote[n:], d.Payload[:min(8, len(d.Payload))])
		s.icmp.SendError(now, quote[:n], wire.ICMPDestUnreachable, 3, 0)
	}
}

// UDP returns the stack's UDP layer, for verification tools (read-only).
func (s *Stack) UDP() *udp.Layer { return s.udp }
