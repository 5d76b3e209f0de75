package wire

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestUDPRoundTrip(t *testing.T) {
	src, dst := Addr{198, 18, 0, 1}, Addr{198, 18, 0, 2}
	b := make([]byte, UDPHeaderLen+5+3) // 3 bytes of trailing junk beyond Length
	PutUDPHeader(b, 1234, 53, UDPHeaderLen+5)
	copy(b[UDPHeaderLen:], "query")
	SetUDPChecksum(b[:13], src, dst)
	u, err := ParseUDP(b)
	if err != nil {
		t.Fatal(err)
	}
	if u.SrcPort() != 1234 || u.DstPort() != 53 || u.Length() != 13 || string(u.Payload()) != "query" {
		t.Fatalf("fields %d %d %d %q", u.SrcPort(), u.DstPort(), u.Length(), u.Payload())
	}
	if !UDPChecksumValid(b[:13], src, dst) || UDPChecksumValid(b[:13], src, Addr{198, 18, 0, 3}) {
		t.Fatal("checksum verification")
	}
	for n := 0; n < UDPHeaderLen; n++ {
		if _, err := ParseUDP(b[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: %v", n, err)
		}
		if UDPChecksumValid(b[:n], src, dst) {
			t.Fatalf("len %d accepted", n)
		}
	}
}

func TestUDPPayloadClamps(t *testing.T) {
	b := make([]byte, 12)
	for _, c := range []struct{ length, want int }{{0, 0}, {7, 0}, {8, 0}, {10, 2}, {12, 4}, {500, 4}} {
		PutUDPHeader(b, 1, 2, c.length)
		if got := len(UDP(b).Payload()); got != c.want {
			t.Errorf("Length %d: payload %d, want %d", c.length, got, c.want)
		}
	}
}

// TestUDPZeroChecksum: a zero checksum field means "none" and is accepted; a
// computed checksum of zero is transmitted as 0xffff (RFC 768).
func TestUDPZeroChecksum(t *testing.T) {
	src, dst := Addr{10, 0, 0, 1}, Addr{10, 0, 0, 2}
	b := make([]byte, UDPHeaderLen+2)
	PutUDPHeader(b, 7, 7, len(b))
	if !UDPChecksumValid(b, src, dst) {
		t.Fatal("zero checksum (none) rejected")
	}
	// Choose the two payload bytes so that the complemented sum is zero:
	// the sum of everything else plus x must fold to 0xffff.
	binary.BigEndian.PutUint16(b[UDPHeaderLen:], 0)
	rest := Fold(Sum(b, PseudoHeaderSum(src, dst, ProtoUDP, len(b))))
	binary.BigEndian.PutUint16(b[UDPHeaderLen:], 0xffff-rest)
	SetUDPChecksum(b, src, dst)
	if got := UDP(b).Checksum(); got != 0xffff {
		t.Fatalf("checksum %#04x, want 0xffff", got)
	}
	if !UDPChecksumValid(b, src, dst) {
		t.Fatal("0xffff checksum does not verify")
	}
}

func TestICMPRoundTrip(t *testing.T) {
	b := make([]byte, ICMPHeaderLen+4)
	PutICMPHeader(b, ICMPParamProblem, 0, 20<<24)
	copy(b[ICMPHeaderLen:], "quot")
	SetICMPChecksum(b)
	m, err := ParseICMP(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type() != ICMPParamProblem || m.Code() != 0 || m.Rest()>>24 != 20 || string(m.Payload()) != "quot" ||
		!m.ChecksumValid() || m.Checksum() == 0 {
		t.Fatalf("fields type %d rest %#x", m.Type(), m.Rest())
	}
	b[ICMPHeaderLen] ^= 1
	if m.ChecksumValid() {
		t.Fatal("corruption not detected")
	}
	for n := 0; n < ICMPHeaderLen; n++ {
		if _, err := ParseICMP(b[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
}
