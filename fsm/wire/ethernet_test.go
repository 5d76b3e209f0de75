package wire

import (
	"errors"
	"testing"
)

func TestEthernetRoundTrip(t *testing.T) {
	dst := MAC{1, 2, 3, 4, 5, 6}
	src := MAC{0xa, 0xb, 0xc, 0xd, 0xe, 0xf}
	b := make([]byte, EthernetHeaderLen+3)
	PutEthernet(b, dst, src, EtherTypeARP)
	copy(b[EthernetHeaderLen:], "abc")
	e, err := ParseEthernet(b)
	if err != nil {
		t.Fatal(err)
	}
	if e.Dst() != dst || e.Src() != src || e.Type() != EtherTypeARP || string(e.Payload()) != "abc" {
		t.Fatalf("got %v %v %v %q", e.Dst(), e.Src(), e.Type(), e.Payload())
	}
}

func TestEthernetTruncated(t *testing.T) {
	for n := 0; n < EthernetHeaderLen; n++ {
		if _, err := ParseEthernet(make([]byte, n)); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: err %v", n, err)
		}
	}
	e, err := ParseEthernet(make([]byte, EthernetHeaderLen))
	if err != nil || len(e.Payload()) != 0 {
		t.Fatalf("header-only frame: %v", err)
	}
}

func TestEtherTypeString(t *testing.T) {
	for et, want := range map[EtherType]string{EtherTypeIPv4: "IPv4", EtherTypeARP: "ARP", EtherTypeVLAN: "802.1Q", 0x86dd: "0x86dd"} {
		if got := et.String(); got != want {
			t.Errorf("%#x: %q, want %q", uint16(et), got, want)
		}
	}
}

// TestFCSVector: the CRC-32/IEEE check value of "123456789" is 0xCBF43926.
func TestFCSVector(t *testing.T) {
	if got := FCS([]byte("123456789")); got != 0xCBF43926 {
		t.Fatalf("FCS = %#08x, want 0xcbf43926", got)
	}
}

// TestFCSDetectsBitFlips appends the FCS to a captured frame and checks that
// the frame verifies and that flipping any single bit, in data or FCS, fails.
func TestFCSDetectsBitFlips(t *testing.T) {
	frame := append([]byte(nil), capData...)
	frame = append(frame, 0, 0, 0, 0)
	PutFCS(frame[len(frame)-FCSLen:], frame[:len(frame)-FCSLen])
	if !CheckFCS(frame) {
		t.Fatal("frame with its own FCS does not verify")
	}
	for i := 0; i < len(frame)*8; i++ {
		frame[i/8] ^= 1 << (i % 8)
		if CheckFCS(frame) {
			t.Fatalf("bit flip %d not detected", i)
		}
		frame[i/8] ^= 1 << (i % 8)
	}
	for n := 0; n < FCSLen; n++ {
		if CheckFCS(make([]byte, n)) {
			t.Fatalf("CheckFCS accepted a %d-byte frame", n)
		}
	}
}

// TestFCSResidue checks the transmission byte order: with the FCS stored least
// significant byte first, the CRC-32 over frame plus FCS is the fixed residue
// 0x2144df1c (IEEE 802.3 CRC "magic number" after final complement).
func TestFCSResidue(t *testing.T) {
	frame := make([]byte, 64)
	copy(frame, capSYN)
	PutFCS(frame[60:], frame[:60])
	if got := FCS(frame); got != 0x2144df1c {
		t.Fatalf("CRC residue %#08x, want 0x2144df1c", got)
	}
}
