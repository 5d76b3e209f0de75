package wire

import (
	"encoding/binary"
	"fmt"
)

// IPv4MinHeaderLen is the length of an IPv4 header without options (RFC 791 §3.1).
const IPv4MinHeaderLen = 20

// IPv4MaxHeaderLen is the largest IPv4 header: IHL 15 words (RFC 791 §3.1).
const IPv4MaxHeaderLen = 60

// IP protocol numbers (RFC 790, IANA "Assigned Internet Protocol Numbers").
const (
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
)

// IPv4 header field offsets (RFC 791 §3.1).
const (
	ipVerIHL   = 0
	ipTOS      = 1
	ipTotalLen = 2
	ipID       = 4
	ipFlagsOff = 6
	ipTTL      = 8
	ipProto    = 9
	ipCsum     = 10
	ipSrc      = 12
	ipDst      = 16

	ipFlagDF      = 0x4000
	ipFlagMF      = 0x2000
	ipFragOffMask = 0x1fff
)

var errIPv4Truncated = fmt.Errorf("parse ipv4: %w", ErrTruncated)

// IPv4 is a view over an IPv4 datagram. ParseIPv4 checks only that the fixed
// header is present, so every accessor is safe whatever the fields say; the
// semantic checks (version, IHL, total length, checksum) belong to the receive
// pipeline, which reads them through these accessors or calls Validate.
type IPv4 []byte

// ParseIPv4 checks that b holds at least a 20-byte IPv4 header and returns a
// view over it.
func ParseIPv4(b []byte) (IPv4, error) {
	if len(b) < IPv4MinHeaderLen {
		return nil, errIPv4Truncated
	}
	return IPv4(b), nil
}

// Version returns the version field (4 for IPv4).
func (ip IPv4) Version() uint8 { return ip[ipVerIHL] >> 4 }

// IHL returns the header length in bytes (Internet Header Length * 4).
func (ip IPv4) IHL() int { return int(ip[ipVerIHL]&0x0f) * 4 }

// TOS returns the type-of-service octet (DSCP and ECN, RFC 2474 / RFC 3168).
func (ip IPv4) TOS() uint8 { return ip[ipTOS] }

// TotalLen returns the total length field: header plus data, in bytes.
func (ip IPv4) TotalLen() int { return int(binary.BigEndian.Uint16(ip[ipTotalLen:])) }

// ID returns the identification field used for reassembly.
func (ip IPv4) ID() uint16 { return binary.BigEndian.Uint16(ip[ipID:]) }

// Flags returns the three flag bits (reserved, DF, MF) in the low bits.
func (ip IPv4) Flags() uint8 { return ip[ipFlagsOff] >> 5 }

// DontFragment reports whether the DF flag is set.
func (ip IPv4) DontFragment() bool { return binary.BigEndian.Uint16(ip[ipFlagsOff:])&ipFlagDF != 0 }

// MoreFragments reports whether the MF flag is set.
func (ip IPv4) MoreFragments() bool {
	return binary.BigEndian.Uint16(ip[ipFlagsOff:])&ipFlagMF != 0
}

// FragOffset returns the fragment offset in bytes (the field counts 8-byte units).
func (ip IPv4) FragOffset() int {
	return int(binary.BigEndian.Uint16(ip[ipFlagsOff:])&ipFragOffMask) * 8
}

// IsFragment reports whether the datagram is part of a fragmented datagram
// (MF set or a non-zero offset, RFC 791 §3.2 reassembly).
func (ip IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(ip[ipFlagsOff:])&(ipFlagMF|ipFragOffMask) != 0
}

// TTL returns the time-to-live field.
func (ip IPv4) TTL() uint8 { return ip[ipTTL] }

// Protocol returns the payload protocol number (ProtoTCP, ...).
func (ip IPv4) Protocol() uint8 { return ip[ipProto] }

// HeaderChecksum returns the stored header checksum.
func (ip IPv4) HeaderChecksum() uint16 { return binary.BigEndian.Uint16(ip[ipCsum:]) }

// Src returns the source address.
func (ip IPv4) Src() Addr { return Addr(ip[ipSrc : ipSrc+4]) }

// Dst returns the destination address.
func (ip IPv4) Dst() Addr { return Addr(ip[ipDst : ipDst+4]) }

// headerEnd returns IHL clamped to [20, len(ip)].
func (ip IPv4) headerEnd() int {
	return min(max(ip.IHL(), IPv4MinHeaderLen), len(ip))
}

// Options returns the option bytes between the fixed header and IHL, clamped
// to the buffer; empty when IHL is 20 or less.
func (ip IPv4) Options() []byte { return ip[IPv4MinHeaderLen:ip.headerEnd()] }

// Payload returns the bytes from the end of the header (IHL, at least 20) to
// min(TotalLen, len) — link-layer padding is cut off. It never panics; when the
// fields lie it returns an empty slice.
func (ip IPv4) Payload() []byte {
	start := ip.headerEnd()
	end := min(max(ip.TotalLen(), start), len(ip))
	return ip[start:end]
}

// HeaderChecksumValid reports whether the header checksum over IHL bytes
// verifies (RFC 791 §3.1, RFC 1071). It is false when IHL is below 20 or
// beyond the buffer.
func (ip IPv4) HeaderChecksumValid() bool {
	ihl := ip.IHL()
	if ihl < IPv4MinHeaderLen || ihl > len(ip) {
		return false
	}
	return Checksum(ip[:ihl], 0) == 0
}

// Validation errors, built once so that rejecting hostile input does not allocate.
var (
	errIPv4Version  = fmt.Errorf("validate ipv4: %w", ErrBadVersion)
	errIPv4IHL      = fmt.Errorf("validate ipv4: ihl: %w", ErrBadHeaderLen)
	errIPv4TotalLen = fmt.Errorf("validate ipv4: %w", ErrBadTotalLen)
	errIPv4Checksum = fmt.Errorf("validate ipv4: header: %w", ErrBadChecksum)
)

// Validate applies the RFC 1122 §3.2.1.1-§3.2.1.2 receive checks in one call:
// version 4, 20 <= IHL <= TotalLen <= len, and a valid header checksum. The
// generated receive pipeline checks the same fields one rule at a time; this is
// for callers outside it (tests, ICMP quotes).
func (ip IPv4) Validate() error {
	switch {
	case ip.Version() != 4:
		return errIPv4Version
	case ip.IHL() < IPv4MinHeaderLen || ip.IHL() > len(ip):
		return errIPv4IHL
	case ip.TotalLen() < ip.IHL() || ip.TotalLen() > len(ip):
		return errIPv4TotalLen
	case !ip.HeaderChecksumValid():
		return errIPv4Checksum
	}
	return nil
}

// SetTTL overwrites the TTL and updates the header checksum incrementally
// (RFC 1624 eqn. 3), as a forwarder or a test would.
func (ip IPv4) SetTTL(ttl uint8) {
	old := binary.BigEndian.Uint16(ip[ipTTL:])
	ip[ipTTL] = ttl
	binary.BigEndian.PutUint16(ip[ipCsum:], UpdateChecksum(ip.HeaderChecksum(), old, binary.BigEndian.Uint16(ip[ipTTL:])))
}

// IPv4Header is the builder for a 20-byte IPv4 header without options.
type IPv4Header struct {
	TOS           uint8
	TotalLen      int // header + payload, bytes
	ID            uint16
	DontFragment  bool
	MoreFragments bool
	FragOffset    int // bytes; must be a multiple of 8
	TTL           uint8
	Protocol      uint8
	Src, Dst      Addr
}

// Put writes the header into b[0:20] (version 4, IHL 5) with its checksum
// (RFC 791 §3.1). b must be at least IPv4MinHeaderLen long.
func (h *IPv4Header) Put(b []byte) {
	_ = b[IPv4MinHeaderLen-1]
	b[ipVerIHL] = 4<<4 | IPv4MinHeaderLen/4
	b[ipTOS] = h.TOS
	binary.BigEndian.PutUint16(b[ipTotalLen:], uint16(h.TotalLen))
	binary.BigEndian.PutUint16(b[ipID:], h.ID)
	ff := uint16(h.FragOffset/8) & ipFragOffMask
	if h.DontFragment {
		ff |= ipFlagDF
	}
	if h.MoreFragments {
		ff |= ipFlagMF
	}
	binary.BigEndian.PutUint16(b[ipFlagsOff:], ff)
	b[ipTTL] = h.TTL
	b[ipProto] = h.Protocol
	binary.BigEndian.PutUint16(b[ipCsum:], 0)
	copy(b[ipSrc:], h.Src[:])
	copy(b[ipDst:], h.Dst[:])
	binary.BigEndian.PutUint16(b[ipCsum:], Checksum(b[:IPv4MinHeaderLen], 0))
}

// Header decodes the fixed fields of ip into an IPv4Header (options are not
// represented), the inverse of Put.
func (ip IPv4) Header() IPv4Header {
	return IPv4Header{
		TOS:           ip.TOS(),
		TotalLen:      ip.TotalLen(),
		ID:            ip.ID(),
		DontFragment:  ip.DontFragment(),
		MoreFragments: ip.MoreFragments(),
		FragOffset:    ip.FragOffset(),
		TTL:           ip.TTL(),
		Protocol:      ip.Protocol(),
		Src:           ip.Src(),
		Dst:           ip.Dst(),
	}
}
