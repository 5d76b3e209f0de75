package wire

import (
	"encoding/binary"
	"fmt"
)

// UDPHeaderLen is the length of the UDP header (RFC 768).
const UDPHeaderLen = 8

// UDP field offsets (RFC 768).
const (
	udpSrcPort = 0
	udpDstPort = 2
	udpLength  = 4
	udpCsum    = 6
)

var errUDPTruncated = fmt.Errorf("parse udp: %w", ErrTruncated)

// UDP is a view over a UDP datagram. Obtain one with ParseUDP.
type UDP []byte

// ParseUDP checks that b holds at least the 8-byte UDP header. The Length
// field is not checked against len(b); Payload clamps to both.
func ParseUDP(b []byte) (UDP, error) {
	if len(b) < UDPHeaderLen {
		return nil, errUDPTruncated
	}
	return UDP(b), nil
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[udpSrcPort:]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[udpDstPort:]) }

// Length returns the length field: header plus data, in bytes.
func (u UDP) Length() int { return int(binary.BigEndian.Uint16(u[udpLength:])) }

// Checksum returns the stored checksum; 0 means the sender computed none.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[udpCsum:]) }

// Payload returns the data after the header, up to min(Length, len); it is
// empty when Length is below 8.
func (u UDP) Payload() []byte {
	end := min(max(u.Length(), UDPHeaderLen), len(u))
	return u[UDPHeaderLen:end]
}

// PutUDPHeader writes an 8-byte UDP header with a zero checksum into b.
// length is header plus payload.
func PutUDPHeader(b []byte, sport, dport uint16, length int) {
	_ = b[UDPHeaderLen-1]
	binary.BigEndian.PutUint16(b[udpSrcPort:], sport)
	binary.BigEndian.PutUint16(b[udpDstPort:], dport)
	binary.BigEndian.PutUint16(b[udpLength:], uint16(length))
	binary.BigEndian.PutUint16(b[udpCsum:], 0)
}

// SetUDPChecksum computes the checksum of dgram (header and payload, exactly
// Length bytes) with the IPv4 pseudo-header and stores it. A computed zero is
// sent as 0xffff, since zero means "no checksum" (RFC 768).
func SetUDPChecksum(dgram []byte, src, dst Addr) {
	binary.BigEndian.PutUint16(dgram[udpCsum:], 0)
	c := Checksum(dgram, PseudoHeaderSum(src, dst, ProtoUDP, len(dgram)))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(dgram[udpCsum:], c)
}

// UDPChecksumValid reports whether dgram (trimmed to its Length) carries a
// valid checksum for the given addresses, or none: a zero checksum field means
// the sender did not compute one and is accepted (RFC 768, RFC 1122 §4.1.3.4).
func UDPChecksumValid(dgram []byte, src, dst Addr) bool {
	if len(dgram) < UDPHeaderLen {
		return false
	}
	if binary.BigEndian.Uint16(dgram[udpCsum:]) == 0 {
		return true
	}
	return Checksum(dgram, PseudoHeaderSum(src, dst, ProtoUDP, len(dgram))) == 0
}
