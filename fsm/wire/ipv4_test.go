package wire

import (
	"bytes"
	"errors"
	"testing"
)

func TestIPv4RoundTrip(t *testing.T) {
	hdr := IPv4Header{TOS: 0x10, TotalLen: 28, ID: 0xbeef, MoreFragments: true, FragOffset: 1480,
		TTL: 17, Protocol: ProtoUDP, Src: Addr{198, 18, 0, 1}, Dst: Addr{198, 18, 0, 2}}
	b := make([]byte, 28)
	hdr.Put(b)
	copy(b[20:], "payload!")
	ip, err := ParseIPv4(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := ip.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := ip.Header(); got != hdr {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, hdr)
	}
	if ip.Version() != 4 || ip.IHL() != 20 || len(ip.Options()) != 0 || string(ip.Payload()) != "payload!" ||
		!ip.IsFragment() || ip.Flags() != 1 {
		t.Fatalf("accessors: v%d ihl %d flags %d", ip.Version(), ip.IHL(), ip.Flags())
	}
	hdr.DontFragment, hdr.MoreFragments, hdr.FragOffset = true, false, 0
	hdr.Put(b)
	ip = IPv4(b)
	if ip.IsFragment() || !ip.DontFragment() || ip.Flags() != 2 {
		t.Fatal("DF-only header")
	}
}

func TestIPv4PayloadClamps(t *testing.T) {
	base := make([]byte, 40)
	(&IPv4Header{TotalLen: 40, TTL: 1, Protocol: ProtoTCP}).Put(base)
	cases := []struct {
		name          string
		verIHL        byte
		totalLen      uint16
		bufLen        int
		wantOpts      int
		wantPayload   int
		wantValidated error
	}{
		{"exact", 0x45, 40, 40, 0, 20, nil},
		{"link padding", 0x45, 30, 40, 0, 10, nil},
		{"total beyond buffer", 0x45, 100, 40, 0, 20, ErrBadTotalLen},
		{"total below ihl", 0x45, 10, 40, 0, 0, ErrBadTotalLen},
		{"ihl below 20", 0x43, 40, 40, 0, 20, ErrBadHeaderLen},
		{"ihl 0", 0x40, 40, 40, 0, 20, ErrBadHeaderLen},
		{"ihl 60 in 40 bytes", 0x4f, 40, 40, 20, 0, ErrBadHeaderLen},
		{"ihl 24, zero options", 0x46, 40, 40, 4, 16, nil},
		{"version 6", 0x65, 40, 40, 0, 20, ErrBadVersion},
		{"header only", 0x45, 20, 20, 0, 0, nil},
	}
	for _, c := range cases {
		b := append([]byte(nil), base[:c.bufLen]...)
		b[0] = c.verIHL
		b[2], b[3] = byte(c.totalLen>>8), byte(c.totalLen)
		b[10], b[11] = 0, 0
		b[10], b[11] = byte(Checksum(b[:20], 0)>>8), byte(Checksum(b[:20], 0))
		ip, err := ParseIPv4(b)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := len(ip.Options()); got != c.wantOpts {
			t.Errorf("%s: options %d, want %d", c.name, got, c.wantOpts)
		}
		if got := len(ip.Payload()); got != c.wantPayload {
			t.Errorf("%s: payload %d, want %d", c.name, got, c.wantPayload)
		}
		if err := ip.Validate(); !errors.Is(err, c.wantValidated) || (err == nil) != (c.wantValidated == nil) {
			t.Errorf("%s: Validate = %v, want %v", c.name, err, c.wantValidated)
		}
	}
	for n := 0; n < IPv4MinHeaderLen; n++ {
		if _, err := ParseIPv4(base[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
}

func TestIPv4Options(t *testing.T) {
	b := make([]byte, 28)
	(&IPv4Header{TotalLen: 28, TTL: 64, Protocol: ProtoICMP}).Put(b)
	b[0] = 0x46
	copy(b[20:24], []byte{1, 1, 1, 0}) // NOP NOP NOP EOL
	b[10], b[11] = 0, 0
	c := Checksum(b[:24], 0)
	b[10], b[11] = byte(c>>8), byte(c)
	ip := IPv4(b)
	if !bytes.Equal(ip.Options(), []byte{1, 1, 1, 0}) || len(ip.Payload()) != 4 || !ip.HeaderChecksumValid() {
		t.Fatalf("options %x payload %d", ip.Options(), len(ip.Payload()))
	}
}

// TestIPv4SetTTL checks the RFC 1624 incremental update against a full
// recomputation for every TTL value.
func TestIPv4SetTTL(t *testing.T) {
	_, ip := parseFrame(t, capSYN)
	b := append(IPv4(nil), ip...)
	for ttl := 0; ttl < 256; ttl++ {
		b.SetTTL(uint8(ttl))
		if b.TTL() != uint8(ttl) || !b.HeaderChecksumValid() {
			t.Fatalf("ttl %d: checksum %#04x invalid", ttl, b.HeaderChecksum())
		}
	}
}

func TestIPv4HeaderChecksumInvalid(t *testing.T) {
	_, ip := parseFrame(t, capUDP)
	b := append(IPv4(nil), ip...)
	b[8]-- // TTL without checksum update
	if b.HeaderChecksumValid() || !errors.Is(b.Validate(), ErrBadChecksum) {
		t.Fatal("stale checksum accepted")
	}
}

// TestIPv4ChecksumNegativeZero is the fuzzer's first find (corpus entry
// FuzzParseIPv4/checksum-negative-zero): a header whose other fields sum to
// 0xffff verifies with a stored checksum of 0xffff as well as 0x0000, while
// Put always writes 0x0000 (RFC 1624 §3: ones'-complement zero has two forms).
func TestIPv4ChecksumNegativeZero(t *testing.T) {
	b := h("4500003c5bd27fc2c6ffffff44120708c6120702")
	if !IPv4(b).HeaderChecksumValid() {
		t.Fatal("0xffff form rejected")
	}
	out := make([]byte, IPv4MinHeaderLen)
	hdr := IPv4(b).Header()
	hdr.Put(out)
	if IPv4(out).HeaderChecksum() != 0 || !IPv4(out).HeaderChecksumValid() {
		t.Fatalf("Put wrote checksum %#04x", IPv4(out).HeaderChecksum())
	}
}

// TestMarkCE: only ECT datagrams are marked, and the header checksum stays
// valid (RFC 3168 §5, RFC 1624).
func TestMarkCE(t *testing.T) {
	for _, c := range []struct {
		ecn  uint8
		mark bool
	}{{ECNNotECT, false}, {ECNECT0, true}, {ECNECT1, true}, {ECNCE, false}} {
		b := make([]byte, IPv4MinHeaderLen)
		(&IPv4Header{TOS: 0xb8 | c.ecn, TotalLen: 20, TTL: 9, Protocol: ProtoTCP, Src: Addr{1, 2, 3, 4}, Dst: Addr{5, 6, 7, 8}}).Put(b)
		ip := IPv4(b)
		if got := ip.MarkCE(); got != c.mark {
			t.Fatalf("ECN %02b: marked %v", c.ecn, got)
		}
		want := c.ecn
		if c.mark {
			want = ECNCE
		}
		if ip.ECN() != want || ip.TOS()>>2 != 0xb8>>2 || !ip.HeaderChecksumValid() {
			t.Fatalf("ECN %02b: now TOS %#x, checksum valid %v", c.ecn, ip.TOS(), ip.HeaderChecksumValid())
		}
	}
}
