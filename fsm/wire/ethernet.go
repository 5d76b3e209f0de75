package wire

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// EthernetHeaderLen is the length of an Ethernet II header: destination MAC,
// source MAC and EtherType (IEEE 802.3 §3.1.1, without preamble or FCS).
const EthernetHeaderLen = 14

// FCSLen is the length of the Ethernet frame check sequence (CRC-32).
const FCSLen = 4

// Ethernet II field offsets.
const (
	ethDst  = 0
	ethSrc  = 6
	ethType = 12
)

// EtherType is the 16-bit protocol identifier of an Ethernet II frame.
type EtherType uint16

// EtherTypes netspec dispatches on.
const (
	EtherTypeIPv4 EtherType = 0x0800 // RFC 894
	EtherTypeARP  EtherType = 0x0806 // RFC 826
	EtherTypeVLAN EtherType = 0x8100 // IEEE 802.1Q tag
)

// String names the well-known EtherTypes and prints others in hex.
func (t EtherType) String() string {
	switch t {
	case EtherTypeIPv4:
		return "IPv4"
	case EtherTypeARP:
		return "ARP"
	case EtherTypeVLAN:
		return "802.1Q"
	}
	return fmt.Sprintf("0x%04x", uint16(t))
}

// errEthernetTruncated is built once so that rejecting hostile input does not allocate.
var errEthernetTruncated = fmt.Errorf("parse ethernet: %w", ErrTruncated)

// Ethernet is a view over an Ethernet II frame (header and payload, without
// FCS). Obtain one with ParseEthernet; its accessors then cannot panic.
type Ethernet []byte

// ParseEthernet checks that b holds at least an Ethernet II header and returns
// a view over it.
func ParseEthernet(b []byte) (Ethernet, error) {
	if len(b) < EthernetHeaderLen {
		return nil, errEthernetTruncated
	}
	return Ethernet(b), nil
}

// Dst returns the destination MAC address.
func (e Ethernet) Dst() MAC { return MAC(e[ethDst : ethDst+6]) }

// Src returns the source MAC address.
func (e Ethernet) Src() MAC { return MAC(e[ethSrc : ethSrc+6]) }

// Type returns the EtherType.
func (e Ethernet) Type() EtherType { return EtherType(binary.BigEndian.Uint16(e[ethType:])) }

// Payload returns the bytes after the 14-byte header.
func (e Ethernet) Payload() []byte { return e[EthernetHeaderLen:] }

// PutEthernet writes a 14-byte Ethernet II header into b, which must be at
// least EthernetHeaderLen long.
func PutEthernet(b []byte, dst, src MAC, t EtherType) {
	_ = b[EthernetHeaderLen-1]
	copy(b[ethDst:], dst[:])
	copy(b[ethSrc:], src[:])
	binary.BigEndian.PutUint16(b[ethType:], uint16(t))
}

// FCS returns the IEEE 802.3 CRC-32 frame check sequence of frame (header and
// payload, no FCS). On the wire it is transmitted least significant byte
// first; PutFCS stores it that way.
func FCS(frame []byte) uint32 { return crc32.ChecksumIEEE(frame) }

// PutFCS writes the FCS of frame into b[0:4] in transmission order.
func PutFCS(b []byte, frame []byte) {
	binary.LittleEndian.PutUint32(b, FCS(frame))
}

// CheckFCS reports whether the last four bytes of frameWithFCS are the correct
// FCS of the bytes before them. Frames shorter than 4 bytes fail.
func CheckFCS(frameWithFCS []byte) bool {
	n := len(frameWithFCS) - FCSLen
	if n < 0 {
		return false
	}
	return FCS(frameWithFCS[:n]) == binary.LittleEndian.Uint32(frameWithFCS[n:])
}
