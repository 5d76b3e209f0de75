package wire

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func TestParseTCPErrors(t *testing.T) {
	seg := make([]byte, 24)
	(&TCPHeader{Opts: TCPOptions{HasMSS: true, MSS: 536}}).Put(seg)
	if _, err := ParseTCP(seg); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < TCPMinHeaderLen; n++ {
		if _, err := ParseTCP(seg[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
	// Data offset 6 words (24 bytes) in a 20..23-byte buffer overruns.
	for n := TCPMinHeaderLen; n < 24; n++ {
		if _, err := ParseTCP(seg[:n]); !errors.Is(err, ErrBadHeaderLen) {
			t.Fatalf("len %d: %v", n, err)
		}
	}
	for off := 0; off < 5; off++ {
		seg[12] = byte(off) << 4
		if _, err := ParseTCP(seg); !errors.Is(err, ErrBadHeaderLen) {
			t.Fatalf("data offset %d words: %v", off, err)
		}
	}
}

func TestTCPFlagsString(t *testing.T) {
	for f, want := range map[TCPFlags]string{
		0:                                     "none",
		FlagSYN:                               "SYN",
		FlagSYN | FlagACK:                     "SYN|ACK",
		FlagFIN | FlagPSH | FlagACK | FlagCWR: "FIN|PSH|ACK|CWR",
		0xff:                                  "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR",
	} {
		if got := f.String(); got != want {
			t.Errorf("%#02x: %q, want %q", uint8(f), got, want)
		}
	}
	if !(FlagSYN | FlagACK).Has(FlagACK) || FlagSYN.Has(FlagSYN|FlagACK) {
		t.Error("Has")
	}
}

func TestTCPValidate(t *testing.T) {
	seg := make([]byte, 20)
	for f := 0; f < 256; f++ {
		(&TCPHeader{Flags: TCPFlags(f)}).Put(seg)
		err := TCP(seg).Validate()
		bad := f&int(FlagSYN) != 0 && f&int(FlagRST|FlagFIN) != 0
		if bad != errors.Is(err, ErrBadFlags) || (err != nil) != bad {
			t.Errorf("flags %v: Validate = %v", TCPFlags(f), err)
		}
	}
}

func TestTCPSegLen(t *testing.T) {
	seg := make([]byte, 25)
	(&TCPHeader{Flags: FlagSYN | FlagFIN}).Put(seg)
	if got := TCP(seg).SegLen(); got != 7 {
		t.Fatalf("SegLen %d, want 5+SYN+FIN = 7", got)
	}
}

// randOptions draws options whose values survive a round trip.
func randOptions(r *rand.Rand) TCPOptions {
	var o TCPOptions
	if r.IntN(2) == 0 {
		o.HasMSS, o.MSS = true, uint16(r.Uint32())
	}
	if r.IntN(2) == 0 {
		o.HasWScale, o.WScale = true, uint8(r.IntN(MaxWScale+1))
	}
	o.SACKPermitted = r.IntN(2) == 0
	if r.IntN(2) == 0 {
		o.HasTimestamps, o.TSVal, o.TSEcr = true, r.Uint32(), r.Uint32()
	}
	o.NumSACK = r.IntN(MaxSACKBlocks + 1)
	for i := 0; i < o.NumSACK; i++ {
		o.SACK[i] = SACKBlock{r.Uint32(), r.Uint32()}
	}
	return o
}

// TestTCPHeaderRoundTrip builds seeded random headers and parses them back.
// SACK blocks that do not fit in 40 bytes are dropped by Put, so the expected
// value is trimmed the same way.
func TestTCPHeaderRoundTrip(t *testing.T) {
	const seed = 9293
	r := rand.New(rand.NewPCG(seed, seed))
	buf := make([]byte, TCPMaxHeaderLen+10)
	for i := 0; i < 20000; i++ {
		in := TCPHeader{SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32()), Seq: r.Uint32(), Ack: r.Uint32(),
			Flags: TCPFlags(r.Uint32()), Window: uint16(r.Uint32()), Urgent: uint16(r.Uint32()), Opts: randOptions(r)}
		n := in.Put(buf)
		if n != in.Len() || n%4 != 0 || n > TCPMaxHeaderLen {
			t.Fatalf("seed %d iter %d: Put wrote %d, Len %d", seed, i, n, in.Len())
		}
		seg, err := ParseTCP(buf[:n])
		if err != nil {
			t.Fatalf("seed %d iter %d: %v", seed, i, err)
		}
		out, err := seg.Header()
		if err != nil {
			t.Fatalf("seed %d iter %d: options: %v (%x)", seed, i, err, seg.Options())
		}
		want := in
		_, nsack := want.Opts.layout()
		for j := nsack; j < MaxSACKBlocks; j++ {
			want.Opts.SACK[j] = SACKBlock{}
		}
		want.Opts.NumSACK = nsack
		if out != want {
			t.Fatalf("seed %d iter %d:\n got %+v\nwant %+v", seed, i, out, want)
		}
	}
}

func TestTCPHeaderLayout(t *testing.T) {
	h := TCPHeader{Opts: TCPOptions{HasTimestamps: true, TSVal: 1, TSEcr: 2, NumSACK: 4}}
	if got := h.Len(); got != 60 {
		t.Fatalf("TS + 4 SACK: Len %d, want 60 (3 blocks fit)", got)
	}
	h.Opts = TCPOptions{NumSACK: 4}
	if got := h.Len(); got != 56 {
		t.Fatalf("4 SACK: Len %d, want 56", got)
	}
	h.Opts = TCPOptions{}
	if got := h.Len(); got != 20 {
		t.Fatalf("no options: Len %d", got)
	}
	h.Opts = TCPOptions{HasMSS: true, HasWScale: true, SACKPermitted: true, HasTimestamps: true, NumSACK: 4}
	if got := h.Len(); got != 60 {
		t.Fatalf("all options: Len %d, want 60 (2 SACK blocks)", got)
	}
}

// TestParseTCPOptions covers RFC 9293 §3.1 / §3.7.1 MUST-4..MUST-7.
func TestParseTCPOptions(t *testing.T) {
	cases := []struct {
		name string
		opts []byte
		want TCPOptions
		err  error
	}{
		{"empty", nil, TCPOptions{}, nil},
		{"eol only", []byte{0}, TCPOptions{}, nil},
		{"nop padding", []byte{1, 1, 1, 1}, TCPOptions{}, nil},
		// MUST-4: EOL ends the list; whatever follows (here garbage) is ignored.
		{"data after eol", []byte{0, 2, 4, 5, 0xb4, 0xff}, TCPOptions{}, nil},
		{"mss", []byte{2, 4, 0x05, 0xb4}, TCPOptions{MSS: 1460, HasMSS: true}, nil},
		{"mss then eol", []byte{2, 4, 0x02, 0x18, 0, 0, 0, 0}, TCPOptions{MSS: 536, HasMSS: true}, nil},
		{"wscale", []byte{1, 3, 3, 7}, TCPOptions{WScale: 7, HasWScale: true}, nil},
		// RFC 7323 §2.3: a shift above 14 is used as 14.
		{"wscale clamp", []byte{3, 3, 200, 0}, TCPOptions{WScale: 14, HasWScale: true}, nil},
		{"sack permitted", []byte{4, 2}, TCPOptions{SACKPermitted: true}, nil},
		{"timestamps", []byte{8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, TCPOptions{HasTimestamps: true, TSVal: 1, TSEcr: 2}, nil},
		{"sack 2 blocks", []byte{5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4},
			TCPOptions{NumSACK: 2, SACK: [4]SACKBlock{{1, 2}, {3, 4}}}, nil},
		// MUST-6: unknown kinds are skipped by their length.
		{"unknown kind skipped", []byte{254, 4, 0xde, 0xad, 2, 4, 0x01, 0x00}, TCPOptions{MSS: 256, HasMSS: true}, nil},
		{"unknown kind length 2", []byte{99, 2, 4, 2}, TCPOptions{SACKPermitted: true}, nil},
		// Known kinds with the wrong length are skipped like unknown ones.
		{"mss wrong length", []byte{2, 6, 1, 2, 3, 4}, TCPOptions{}, nil},
		{"sack-permitted wrong length", []byte{4, 3, 0}, TCPOptions{}, nil},
		{"wscale wrong length", []byte{3, 4, 5, 6}, TCPOptions{}, nil},
		{"timestamps wrong length", []byte{8, 6, 0, 0, 0, 1}, TCPOptions{}, nil},
		{"sack body not multiple of 8", []byte{5, 6, 0, 0, 0, 1}, TCPOptions{}, nil},
		{"sack empty", []byte{5, 2}, TCPOptions{}, nil},
		// MUST-7: illegal lengths are errors, never loops.
		{"length 0", []byte{2, 0, 0, 0}, TCPOptions{}, ErrBadOption},
		{"length 1", []byte{254, 1, 0, 0}, TCPOptions{}, ErrBadOption},
		{"length overruns", []byte{2, 4, 5}, TCPOptions{}, ErrBadOption},
		{"unknown overruns", []byte{1, 1, 77, 40, 0, 0}, TCPOptions{}, ErrBadOption},
		{"missing length byte", []byte{1, 1, 1, 2}, TCPOptions{}, ErrBadOption},
		{"missing length byte after mss", []byte{2, 4, 0, 1, 8}, TCPOptions{MSS: 1, HasMSS: true}, ErrBadOption},
		{"length 0 after nops", []byte{1, 1, 1, 8, 0}, TCPOptions{}, ErrBadOption},
	}
	for _, c := range cases {
		// Start from a dirty value: ParseTCPOptions must reset it.
		o := TCPOptions{HasMSS: true, MSS: 9, NumSACK: 4}
		err := ParseTCPOptions(c.opts, &o)
		if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.err)
			continue
		}
		if o != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, o, c.want)
		}
	}
}

// TestParseTCPOptionsMaxSACK: an option with more than four blocks (only
// possible with a bogus length in a 40-byte area) keeps the first four.
func TestParseTCPOptionsMaxSACK(t *testing.T) {
	opts := make([]byte, 2+5*8)
	opts[0], opts[1] = TCPOptSACK, byte(len(opts))
	for i := 0; i < 5; i++ {
		opts[2+8*i+3] = byte(i)
	}
	var o TCPOptions
	if err := ParseTCPOptions(opts, &o); err != nil {
		t.Fatal(err)
	}
	if o.NumSACK != MaxSACKBlocks || o.SACK[3].Start != 3 {
		t.Fatalf("got %+v", o)
	}
}

// TestTCPPartialChecksum: finishing a partial checksum the way a NIC does
// (complemented sum over the segment, partial field included) yields the same
// value as SetTCPChecksum.
func TestTCPPartialChecksum(t *testing.T) {
	_, ip := parseFrame(t, capData)
	seg := append([]byte(nil), ip.Payload()...)
	want := TCP(seg).Checksum()
	SetTCPPartialChecksum(seg, ip.Src(), ip.Dst())
	if TCP(seg).Checksum() == want {
		t.Fatal("partial checksum equals the final one; test vector is degenerate")
	}
	final := Checksum(seg, 0)
	seg[16], seg[17] = byte(final>>8), byte(final)
	if TCP(seg).Checksum() != want || !TCPChecksumValid(seg, ip.Src(), ip.Dst()) {
		t.Fatalf("finished checksum %#04x, want %#04x", TCP(seg).Checksum(), want)
	}
}
