package wire

import (
	"encoding/binary"
	"fmt"
)

// ARPLen is the length of an ARP packet for Ethernet hardware and IPv4
// protocol addresses (RFC 826: 8 fixed octets + 2*6 + 2*4).
const ARPLen = 28

// ARP operation codes (RFC 826 "ar$op").
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// ARP field offsets (RFC 826 "Packet format").
const (
	arpHType = 0  // ar$hrd
	arpPType = 2  // ar$pro
	arpHLen  = 4  // ar$hln
	arpPLen  = 5  // ar$pln
	arpOp    = 6  // ar$op
	arpSHA   = 8  // ar$sha
	arpSPA   = 14 // ar$spa
	arpTHA   = 18 // ar$tha
	arpTPA   = 24 // ar$tpa

	arpHTypeEthernet = 1
)

// Parse errors, built once so that rejecting hostile input does not allocate.
var (
	errARPTruncated   = fmt.Errorf("parse arp: %w", ErrTruncated)
	errARPUnsupported = fmt.Errorf("parse arp: not ethernet/ipv4: %w", ErrUnsupported)
)

// ARP is a view over an Ethernet/IPv4 ARP packet. Obtain one with ParseARP.
type ARP []byte

// ParseARP checks that b holds an ARP packet for Ethernet (hardware type 1,
// length 6) and IPv4 (protocol type 0x0800, length 4), as RFC 826 receivers
// check ar$hrd and ar$pro before anything else, and returns a view over it.
func ParseARP(b []byte) (ARP, error) {
	if len(b) < ARPLen {
		return nil, errARPTruncated
	}
	if binary.BigEndian.Uint16(b[arpHType:]) != arpHTypeEthernet || b[arpHLen] != 6 ||
		EtherType(binary.BigEndian.Uint16(b[arpPType:])) != EtherTypeIPv4 || b[arpPLen] != 4 {
		return nil, errARPUnsupported
	}
	return ARP(b[:ARPLen]), nil
}

// Op returns the operation code (ARPRequest or ARPReply for valid packets).
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[arpOp:]) }

// SenderMAC returns the sender hardware address (ar$sha).
func (a ARP) SenderMAC() MAC { return MAC(a[arpSHA : arpSHA+6]) }

// SenderIP returns the sender protocol address (ar$spa).
func (a ARP) SenderIP() Addr { return Addr(a[arpSPA : arpSPA+4]) }

// TargetMAC returns the target hardware address (ar$tha).
func (a ARP) TargetMAC() MAC { return MAC(a[arpTHA : arpTHA+6]) }

// TargetIP returns the target protocol address (ar$tpa).
func (a ARP) TargetIP() Addr { return Addr(a[arpTPA : arpTPA+4]) }

// PutARP writes a 28-byte Ethernet/IPv4 ARP packet into b, which must be at
// least ARPLen long.
func PutARP(b []byte, op uint16, sha MAC, spa Addr, tha MAC, tpa Addr) {
	_ = b[ARPLen-1]
	binary.BigEndian.PutUint16(b[arpHType:], arpHTypeEthernet)
	binary.BigEndian.PutUint16(b[arpPType:], uint16(EtherTypeIPv4))
	b[arpHLen] = 6
	b[arpPLen] = 4
	binary.BigEndian.PutUint16(b[arpOp:], op)
	copy(b[arpSHA:], sha[:])
	copy(b[arpSPA:], spa[:])
	copy(b[arpTHA:], tha[:])
	copy(b[arpTPA:], tpa[:])
}
