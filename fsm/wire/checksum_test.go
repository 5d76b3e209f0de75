package wire

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// refSum is the deliberately simple RFC 1071 §4.1 reference: 16 bits at a time.
func refSum(b []byte, initial uint32) uint16 {
	s := uint64(initial)
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// TestChecksumRFC1071Example uses the worked example of RFC 1071 §3:
// bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (checksum 220d).
func TestChecksumRFC1071Example(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Fold(Sum(b, 0)); got != 0xddf2 {
		t.Fatalf("folded sum = %#04x, want 0xddf2", got)
	}
	if got := Checksum(b, 0); got != 0x220d {
		t.Fatalf("checksum = %#04x, want 0x220d", got)
	}
}

// TestChecksumIPv4HeaderVector is the classic header 4500 0073 0000 4000 4011
// b861 c0a8 0001 c0a8 00c7, whose checksum is b861.
func TestChecksumIPv4HeaderVector(t *testing.T) {
	b := h("45000073000040004011b861c0a80001c0a800c7")
	if got := Checksum(b, 0); got != 0 {
		t.Fatalf("verify = %#04x, want 0", got)
	}
	b[10], b[11] = 0, 0
	if got := Checksum(b, 0); got != 0xb861 {
		t.Fatalf("checksum = %#04x, want 0xb861", got)
	}
}

// TestSumMatchesReference compares the 8-bytes-at-a-time Sum with the simple
// 16-bit reference for every length 0..300 and seeded random contents and
// initial values, including all-0xff buffers that maximise carries.
func TestSumMatchesReference(t *testing.T) {
	const seed = 1071
	r := rand.New(rand.NewPCG(seed, seed))
	buf := make([]byte, 300)
	for n := 0; n <= len(buf); n++ {
		for trial := 0; trial < 8; trial++ {
			for i := range buf[:n] {
				if trial == 0 {
					buf[i] = 0xff
				} else {
					buf[i] = byte(r.Uint32())
				}
			}
			init := r.Uint32()
			if trial == 1 {
				init = 0xffffffff
			}
			if got, want := Fold(Sum(buf[:n], init)), refSum(buf[:n], init); got != want {
				t.Fatalf("seed %d len %d trial %d init %#x: Sum folds to %#04x, reference %#04x",
					seed, n, trial, init, got, want)
			}
		}
	}
}

// TestSumComposes checks that partial sums over even-length prefixes chain.
func TestSumComposes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	b := make([]byte, 257)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	whole := Fold(Sum(b, 0))
	for cut := 0; cut <= len(b); cut += 2 {
		if got := Fold(Sum(b[cut:], Sum(b[:cut], 0))); got != whole {
			t.Fatalf("cut %d: %#04x != %#04x", cut, got, whole)
		}
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	src, dst := Addr{198, 18, 0, 1}, Addr{198, 18, 0, 2}
	ph := []byte{198, 18, 0, 1, 198, 18, 0, 2, 0, ProtoTCP, 0x05, 0xdc}
	if got, want := Fold(PseudoHeaderSum(src, dst, ProtoTCP, 1500)), refSum(ph, 0); got != want {
		t.Fatalf("pseudo-header sum %#04x, want %#04x", got, want)
	}
}

// TestChecksumDetectsBitFlips: the Internet checksum detects every single-bit
// error, so flipping any bit of a checksummed buffer must break verification.
func TestChecksumDetectsBitFlips(t *testing.T) {
	b := h("45000073000040004011b861c0a80001c0a800c7")
	for i := 0; i < len(b)*8; i++ {
		b[i/8] ^= 1 << (i % 8)
		if Checksum(b, 0) == 0 {
			t.Errorf("flip of bit %d not detected", i)
		}
		b[i/8] ^= 1 << (i % 8)
	}
}
