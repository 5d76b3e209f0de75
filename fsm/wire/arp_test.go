package wire

import (
	"errors"
	"testing"
)

func TestARPRoundTrip(t *testing.T) {
	sha, tha := MAC{2, 0, 0, 0, 0, 1}, MAC{}
	spa, tpa := Addr{198, 18, 0, 1}, Addr{198, 18, 0, 2}
	b := make([]byte, ARPLen+18) // Ethernet minimum-frame padding after the packet
	PutARP(b, ARPRequest, sha, spa, tha, tpa)
	// RFC 826 layout: hrd=1, pro=0x0800, hln=6, pln=4, op=1.
	if got := b[:8]; string(got) != "\x00\x01\x08\x00\x06\x04\x00\x01" {
		t.Fatalf("fixed part %x", got)
	}
	a, err := ParseARP(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != ARPLen {
		t.Errorf("view length %d, want %d (padding trimmed)", len(a), ARPLen)
	}
	if a.Op() != ARPRequest || a.SenderMAC() != sha || a.SenderIP() != spa || a.TargetMAC() != tha || a.TargetIP() != tpa {
		t.Fatalf("fields: op %d %v %v %v %v", a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP())
	}
	PutARP(b, ARPReply, tha, tpa, sha, spa)
	if a.Op() != ARPReply || a.SenderIP() != tpa || a.TargetMAC() != sha {
		t.Fatal("reply fields")
	}
}

func TestARPRejects(t *testing.T) {
	good := make([]byte, ARPLen)
	PutARP(good, ARPRequest, MAC{1}, Addr{1}, MAC{}, Addr{2})
	for n := 0; n < ARPLen; n++ {
		if _, err := ParseARP(good[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
	for _, c := range []struct {
		name string
		off  int
		val  byte
	}{
		{"htype", 1, 6}, // IEEE 802 hardware type 6
		{"ptype", 2, 0x86},
		{"hlen", 4, 8},
		{"plen", 5, 16},
	} {
		b := append([]byte(nil), good...)
		b[c.off] = c.val
		if _, err := ParseARP(b); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s=%d: err %v, want ErrUnsupported", c.name, c.val, err)
		}
	}
}
