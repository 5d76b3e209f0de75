package wire

import (
	"encoding/binary"
	"fmt"
)

// ICMPHeaderLen is the length of the fixed ICMP header: type, code, checksum
// and the 4-byte type-specific "rest of header" (RFC 792).
const ICMPHeaderLen = 8

// ICMP message types (RFC 792).
const (
	ICMPEchoReply       uint8 = 0
	ICMPDestUnreachable uint8 = 3
	ICMPEchoRequest     uint8 = 8
	ICMPTimeExceeded    uint8 = 11
	ICMPParamProblem    uint8 = 12
)

// ICMP Destination Unreachable codes (RFC 792, RFC 1122 §3.2.2.1).
const (
	ICMPCodeNetUnreachable   uint8 = 0
	ICMPCodeHostUnreachable  uint8 = 1
	ICMPCodeProtoUnreachable uint8 = 2
	ICMPCodePortUnreachable  uint8 = 3
	ICMPCodeFragNeeded       uint8 = 4
)

// ICMP Time Exceeded codes (RFC 792).
const (
	ICMPCodeTTLExceeded   uint8 = 0
	ICMPCodeReassExceeded uint8 = 1
)

// ICMP field offsets (RFC 792).
const (
	icmpType = 0
	icmpCode = 1
	icmpCsum = 2
	icmpRest = 4
	icmpID   = 4
	icmpSeq  = 6
)

var errICMPTruncated = fmt.Errorf("parse icmp: %w", ErrTruncated)

// ICMP is a view over an ICMP message. Obtain one with ParseICMP.
type ICMP []byte

// ParseICMP checks that b holds at least the 8-byte ICMP header.
func ParseICMP(b []byte) (ICMP, error) {
	if len(b) < ICMPHeaderLen {
		return nil, errICMPTruncated
	}
	return ICMP(b), nil
}

// Type returns the message type.
func (m ICMP) Type() uint8 { return m[icmpType] }

// Code returns the message code.
func (m ICMP) Code() uint8 { return m[icmpCode] }

// Checksum returns the stored checksum.
func (m ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(m[icmpCsum:]) }

// ChecksumValid reports whether the checksum over the whole message verifies.
func (m ICMP) ChecksumValid() bool { return Checksum(m, 0) == 0 }

// ID returns the echo identifier (bytes 4-5; echo and echo reply only).
func (m ICMP) ID() uint16 { return binary.BigEndian.Uint16(m[icmpID:]) }

// Seq returns the echo sequence number (bytes 6-7; echo and echo reply only).
func (m ICMP) Seq() uint16 { return binary.BigEndian.Uint16(m[icmpSeq:]) }

// Rest returns the 4-byte type-specific "rest of header" field as a big-endian
// number, the same form PutICMPHeader takes (echo: ID<<16|Seq; parameter
// problem: pointer<<24; fragmentation needed: next-hop MTU in the low 16 bits).
func (m ICMP) Rest() uint32 { return binary.BigEndian.Uint32(m[icmpRest:]) }

// Payload returns the bytes after the 8-byte header: echo data, or for error
// messages the quoted IP header and first 8 bytes of the datagram (RFC 792).
func (m ICMP) Payload() []byte { return m[ICMPHeaderLen:] }

// PutICMPHeader writes an 8-byte ICMP header with a zero checksum into b;
// call SetICMPChecksum once the payload is in place.
func PutICMPHeader(b []byte, typ, code uint8, rest uint32) {
	_ = b[ICMPHeaderLen-1]
	b[icmpType] = typ
	b[icmpCode] = code
	binary.BigEndian.PutUint16(b[icmpCsum:], 0)
	binary.BigEndian.PutUint32(b[icmpRest:], rest)
}

// SetICMPChecksum computes the checksum over the whole message msg (header
// and payload, RFC 792) and stores it. msg must be at least 4 bytes long.
func SetICMPChecksum(msg []byte) {
	binary.BigEndian.PutUint16(msg[icmpCsum:], 0)
	binary.BigEndian.PutUint16(msg[icmpCsum:], Checksum(msg, 0))
}
