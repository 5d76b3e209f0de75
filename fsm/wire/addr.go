package wire

import (
	"fmt"
	"net/netip"
)

// MAC is an IEEE 802 48-bit hardware address.
type MAC [6]byte

// BroadcastMAC is the Ethernet broadcast address ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// String formats m as six colon-separated lowercase hex octets.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsMulticast reports whether the group bit (I/G, IEEE 802.3 §3.2.3) is set;
// broadcast is a multicast address too.
func (m MAC) IsMulticast() bool { return m[0]&1 == 1 }

// Addr is an IPv4 address in network byte order (RFC 791 §3.1).
// It is a comparable value, usable as part of a map key without allocation.
type Addr [4]byte

// AddrFrom converts an IPv4 (or IPv4-mapped IPv6) netip.Addr; ok is false otherwise.
func AddrFrom(a netip.Addr) (Addr, bool) {
	a = a.Unmap()
	if !a.Is4() {
		return Addr{}, false
	}
	return Addr(a.As4()), true
}

// Netip returns a as a netip.Addr.
func (a Addr) Netip() netip.Addr { return netip.AddrFrom4(a) }

// String formats a in dotted-decimal notation.
func (a Addr) String() string { return a.Netip().String() }

// IsUnspecified reports whether a is 0.0.0.0.
func (a Addr) IsUnspecified() bool { return a == Addr{} }

// IsLimitedBroadcast reports whether a is 255.255.255.255 (RFC 919).
func (a Addr) IsLimitedBroadcast() bool { return a == Addr{255, 255, 255, 255} }

// IsMulticast reports whether a is in 224.0.0.0/4 (RFC 1112).
func (a Addr) IsMulticast() bool { return a[0]&0xf0 == 0xe0 }

// IsLoopback reports whether a is in 127.0.0.0/8 (RFC 1122 §3.2.1.3).
func (a Addr) IsLoopback() bool { return a[0] == 127 }
