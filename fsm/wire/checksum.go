package wire

import (
	"encoding/binary"
	"math/bits"
)

// Sum returns the unfolded ones'-complement partial sum (RFC 1071 §2) of b,
// taken as big-endian 16-bit words, added to initial. Partial sums compose:
// Sum(b2, Sum(b1, 0)) equals Sum of b1 followed by b2 provided len(b1) is even.
// An odd trailing byte is padded with a zero octet (RFC 1071 §4.1).
// Sum reads 32 bytes per iteration using 64-bit adds with end-around carry;
// ones'-complement addition does not depend on word size (RFC 1071 §2(B)).
func Sum(b []byte, initial uint32) uint32 {
	acc := uint64(initial)
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		b = b[8:]
	}
	acc, c = bits.Add64(acc, c, 0)
	acc += c // cannot overflow again: acc was at most 2^64-1 only when c was 0
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), 0)
		acc += c
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), 0)
		acc += c
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c = bits.Add64(acc, uint64(b[0])<<8, 0)
		acc += c
	}
	// Fold 64 -> 32 bits with end-around carry.
	s := (acc >> 32) + (acc & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	return uint32(s)
}

// Fold folds a partial sum to 16 bits with end-around carry (RFC 1071 §4.1)
// without complementing it.
func Fold(sum uint32) uint16 {
	s := (sum >> 16) + (sum & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

// Checksum returns the Internet checksum (RFC 1071) of b with the partial sum
// initial folded in: the complemented 16-bit ones'-complement sum, ready to
// store in a header. Verifying a buffer that contains its own checksum field
// yields 0.
func Checksum(b []byte, initial uint32) uint16 {
	return ^Fold(Sum(b, initial))
}

// PseudoHeaderSum returns the partial sum of the IPv4 pseudo-header that TCP
// (RFC 9293 §3.1) and UDP (RFC 768) include in their checksums: source and
// destination address, zero, protocol, and the transport length in octets.
func PseudoHeaderSum(src, dst Addr, proto uint8, length int) uint32 {
	s := uint32(src[0])<<8 | uint32(src[1])
	s += uint32(src[2])<<8 | uint32(src[3])
	s += uint32(dst[0])<<8 | uint32(dst[1])
	s += uint32(dst[2])<<8 | uint32(dst[3])
	s += uint32(proto)
	s += uint32(length>>16) + uint32(length&0xffff)
	return s
}
