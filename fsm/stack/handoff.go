package stack

import (
	"encoding/binary"
	"time"

	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/wire"
)

// Hand-off of reassembled datagrams between stacks that share an address
// (docs/architecture.md, "Several loops"). Package netspec's loops split
// the TCP flows between them, but every IPv4 fragment reaches loop 0,
// whose receive pipeline reassembles it within its own bounds
// (spec/frag.fsm, ip.Config). A datagram reassembled there that carries
// TCP for a flow another loop owns, or an ICMP error quoting one, leaves
// through Config.HandOff; the owning loop's stack takes it with
// InputDatagram as if it had arrived whole. The stack only decides and
// builds the datagram; the queue between the loops is the driver's.

// handOff passes d, a datagram the pipeline reassembled, to Config.HandOff
// when its flow belongs to another stack (TCP.OwnsFlow), and reports
// whether it did; the caller then drops it.
func (s *Stack) handOff(d *ip.Datagram) bool {
	if s.cfg.HandOff == nil || s.cfg.TCP.OwnsFlow == nil {
		return false
	}
	lport, rport, ok := s.foreignFlow(d)
	if !ok {
		return false
	}
	total := len(d.Header) + len(d.Payload)
	if len(d.Header) < wire.IPv4MinHeaderLen || total > ip.DefaultMaxDatagram {
		return false // cannot happen: the pipeline checked the header and the size
	}
	// RFC 791 §3.2: the reassembled datagram carries the first fragment's
	// header with the whole length, MF and the offset cleared.
	h := s.handHdr[:copy(s.handHdr[:], d.Header)]
	binary.BigEndian.PutUint16(h[2:], uint16(total))
	h[6] &^= 0x3f // MF and the offset's high bits; DF and the reserved bit as they came
	h[7] = 0
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], wire.Checksum(h, 0))
	s.ctr.IPHandedOff++
	s.traceDrop("HandedOff")
	s.cfg.HandOff(h, d.Payload, lport, rport)
	return true
}

// foreignFlow returns the ports (ours, the peer's) of the TCP flow d
// belongs to, when it is TCP or an ICMP error quoting TCP (RFC 792: the
// quoted header and at least 8 octets, RFC 1122 §3.2.2), and reports
// whether that flow is another stack's.
func (s *Stack) foreignFlow(d *ip.Datagram) (lport, rport uint16, foreign bool) {
	p := d.Payload
	local, remote := d.Dst, d.Src
	switch d.Proto {
	case wire.ProtoTCP:
		if len(p) < 4 {
			return 0, 0, false // TCP drops it, here as anywhere
		}
		rport, lport = binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:])
	case wire.ProtoICMP:
		if len(p) < wire.ICMPHeaderLen+wire.IPv4MinHeaderLen || !quotesSegment(p[0]) {
			return 0, 0, false
		}
		q := wire.IPv4(p[wire.ICMPHeaderLen:])
		ihl := q.IHL()
		if q.Protocol() != wire.ProtoTCP || ihl < wire.IPv4MinHeaderLen || len(q) < ihl+4 {
			return 0, 0, false
		}
		// The quoted datagram is one we sent: its source is ours.
		local, remote = q.Src(), q.Dst()
		lport, rport = binary.BigEndian.Uint16(q[ihl:]), binary.BigEndian.Uint16(q[ihl+2:])
	default:
		return 0, 0, false
	}
	return lport, rport, !s.cfg.TCP.OwnsFlow(local, lport, remote, rport)
}

// quotesSegment reports whether an ICMP message of type typ is an error
// that quotes the datagram it is about (RFC 792): destination unreachable,
// source quench, time exceeded, parameter problem.
func quotesSegment(typ uint8) bool {
	switch typ {
	case wire.ICMPDestUnreachable, 4, wire.ICMPTimeExceeded, wire.ICMPParamProblem:
		return true
	}
	return false
}

// InputDatagram processes dgram, an IPv4 datagram (no Ethernet header)
// that another stack reassembled and handed off (Config.HandOff), as if
// it had arrived whole in one frame: the receive pipeline of spec/ipv4.fsm
// checks it again and the layers take it. Its size is not bounded by the
// MTU (a reassembled datagram may be up to 65535 octets); its transport
// checksum is checked in software. The stack keeps no reference to dgram
// after it returns. Call it outside BeginBatch and EndBatch.
func (s *Stack) InputDatagram(now time.Time, dgram []byte) {
	s.now = now
	s.ctr.IPHandedIn++
	s.handedIn = true
	s.ipInput(now, dgram, RxMeta{})
	s.handedIn = false
}
