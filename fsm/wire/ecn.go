package wire

import "encoding/binary"

// The ECN field: the low two bits of the IPv4 TOS octet (RFC 3168 §5).
const (
	ECNNotECT = 0b00 // not ECN-capable transport
	ECNECT1   = 0b01 // ECN-capable transport ECT(1)
	ECNECT0   = 0b10 // ECN-capable transport ECT(0)
	ECNCE     = 0b11 // congestion experienced
	ECNMask   = 0b11
)

// ECN returns the datagram's ECN field (RFC 3168 §5).
func (ip IPv4) ECN() uint8 { return ip[ipTOS] & ECNMask }

// MarkCE does what a congested ECN router does to ip (RFC 3168 §5): an
// ECN-capable datagram (ECT(0) or ECT(1)) becomes CE, its header checksum
// updated incrementally (RFC 1624); it reports whether it marked. A Not-ECT
// or already-CE datagram is left alone. ip must hold at least the fixed
// header.
func (ip IPv4) MarkCE() bool {
	e := ip.ECN()
	if e == ECNNotECT || e == ECNCE {
		return false
	}
	old := binary.BigEndian.Uint16(ip[0:])
	ip[ipTOS] |= ECNCE
	sum := UpdateChecksum(binary.BigEndian.Uint16(ip[ipCsum:]), old, binary.BigEndian.Uint16(ip[0:]))
	binary.BigEndian.PutUint16(ip[ipCsum:], sum)
	return true
}
