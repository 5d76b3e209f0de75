package stack

import (
	"time"

	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// icmpDeliver passes an ICMP error about a datagram we sent to the
// transport that sent it (RFC 1122 §3.2.2: "MUST be passed to the
// transport layer"; §4.1.3.3 UDP, §4.2.3.9 TCP) and counts what TCP made
// of it. It reports whether the transport had what the error quotes.
func (s *Stack) icmpDeliver(now time.Time, e ip.ICMPReport) bool {
	switch e.Proto {
	case wire.ProtoTCP:
		o, _ := s.tcp.ICMPError(now, e.Src, e.Dst, e.SrcPort, e.DstPort, e.Seq, e.Type, e.Code, e.MTU)
		switch o {
		case tcp.ICMPNoConn, tcp.ICMPOutOfWindow, tcp.ICMPIgnored, tcp.ICMPSourceQuench:
			return false
		case tcp.ICMPAborted:
			s.ctr.TCPICMPAborts++
		case tcp.ICMPMSSLowered:
			s.ctr.PMTUDecreases++
		case tcp.ICMPSoft:
			s.ctr.TCPSoftErrors++
		}
		return true
	case wire.ProtoUDP:
		return s.udp.ICMPError(e.Src, e.Dst, e.SrcPort, e.DstPort, e.Type, e.Code)
	}
	return false
}

// reassemblyExpired sends ICMP time exceeded, code 1 (fragment reassembly time
// exceeded), when a datagram's first fragment had arrived (RFC 792, RFC 1122 §3.3.2).
func (s *Stack) reassemblyExpired(first []byte) {
	s.icmp.SendError(s.now, first, wire.ICMPTimeExceeded, 1, 0)
}
