package wire

import (
	"bytes"
	"testing"
)

// Fuzz targets for every parser. Each asserts that parsing and every accessor
// of an accepted view never panic, that accepted views keep their invariants,
// and, where the format allows, that build(parse(x)) reproduces x.

func FuzzParseEthernet(f *testing.F) {
	f.Add(capSYN)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = CheckFCS(b)
		e, err := ParseEthernet(b)
		if err != nil {
			if len(b) >= EthernetHeaderLen {
				t.Fatalf("rejected %d bytes: %v", len(b), err)
			}
			return
		}
		out := make([]byte, len(b))
		PutEthernet(out, e.Dst(), e.Src(), e.Type())
		copy(out[EthernetHeaderLen:], e.Payload())
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip %x != %x", out, b)
		}
	})
}

func FuzzParseARP(f *testing.F) {
	req := make([]byte, ARPLen)
	PutARP(req, ARPRequest, MAC{2, 0, 0, 0, 0, 1}, Addr{198, 18, 0, 1}, MAC{}, Addr{198, 18, 0, 2})
	f.Add(req)
	f.Add(req[:10])
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseARP(b)
		if err != nil {
			return
		}
		out := make([]byte, ARPLen)
		PutARP(out, a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP())
		if !bytes.Equal(out, b[:ARPLen]) {
			t.Fatalf("round trip %x != %x", out, b[:ARPLen])
		}
	})
}

func FuzzParseIPv4(f *testing.F) {
	f.Add(capSYN[EthernetHeaderLen:])
	f.Add(capICMPUnreach[EthernetHeaderLen:])
	f.Add([]byte{0x4f, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, err := ParseIPv4(b)
		if err != nil {
			return
		}
		_, _, _, _, _ = ip.Version(), ip.TOS(), ip.ID(), ip.Flags(), ip.IsFragment()
		_, _, _ = ip.TTL(), ip.Protocol(), ip.HeaderChecksum()
		opts, pl := ip.Options(), ip.Payload()
		if len(opts) > IPv4MaxHeaderLen-IPv4MinHeaderLen || len(pl) > len(b) || len(pl) > max(ip.TotalLen(), 0) {
			t.Fatalf("options %d payload %d of %d", len(opts), len(pl), len(b))
		}
		valid := ip.Validate() == nil
		if valid && !ip.HeaderChecksumValid() {
			t.Fatal("Validate accepted a bad checksum")
		}
		// A valid option-less header rebuilds from its decoded fields.
		if valid && ip.IHL() == IPv4MinHeaderLen && ip.Flags()&4 == 0 {
			hdr := ip.Header()
			out := make([]byte, IPv4MinHeaderLen)
			hdr.Put(out)
			// Bytes 10-11 may differ: 0x0000 and 0xffff both verify (ones'-
			// complement zero has two forms; see TestIPv4ChecksumNegativeZero).
			if !bytes.Equal(out[:10], b[:10]) || !bytes.Equal(out[12:], b[12:IPv4MinHeaderLen]) ||
				!IPv4(out).HeaderChecksumValid() {
				t.Fatalf("round trip %x != %x", out, b[:IPv4MinHeaderLen])
			}
		}
		if len(b) >= IPv4MinHeaderLen && ip.HeaderChecksumValid() {
			c := append(IPv4(nil), ip...)
			c.SetTTL(ip.TTL() - 1)
			if !c.HeaderChecksumValid() {
				t.Fatal("SetTTL broke a valid checksum")
			}
		}
	})
}

func FuzzParseTCP(f *testing.F) {
	for _, fr := range [][]byte{capSYN, capSYNACK, capData, capRST} {
		f.Add(fr[EthernetHeaderLen+IPv4MinHeaderLen:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		seg, err := ParseTCP(b)
		if err != nil {
			return
		}
		_, _, _, _ = seg.Window(), seg.Checksum(), seg.Urgent(), seg.SegLen()
		_ = seg.Flags().String()
		_ = seg.Validate()
		_ = TCPChecksumValid(seg, capClient, capServer)
		if len(seg.Options())+len(seg.Payload())+TCPMinHeaderLen != len(b) {
			t.Fatal("options + payload do not partition the segment")
		}
		hdr, err := seg.Header()
		if err != nil {
			return
		}
		// Rebuild; the canonical encoding of the decoded header parses back
		// to the same decoded header.
		out := make([]byte, TCPMaxHeaderLen)
		n := hdr.Put(out)
		seg2, err := ParseTCP(out[:n])
		if err != nil {
			t.Fatalf("rebuilt header rejected: %v", err)
		}
		hdr2, err := seg2.Header()
		if err != nil {
			t.Fatalf("rebuilt options rejected: %v", err)
		}
		_, nsack := hdr.Opts.layout()
		hdr.Opts.NumSACK = nsack
		for i := nsack; i < MaxSACKBlocks; i++ {
			hdr.Opts.SACK[i] = SACKBlock{}
		}
		if hdr2 != hdr {
			t.Fatalf("round trip\n got %+v\nwant %+v", hdr2, hdr)
		}
	})
}

func FuzzParseTCPOptions(f *testing.F) {
	f.Add([]byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 10})
	f.Add([]byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2})
	f.Add([]byte{2, 0})
	f.Add([]byte{254, 1})
	f.Add([]byte{1, 1, 1, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		var o TCPOptions
		if err := ParseTCPOptions(b, &o); err != nil {
			return
		}
		if o.NumSACK < 0 || o.NumSACK > MaxSACKBlocks || o.WScale > MaxWScale {
			t.Fatalf("out of range: %+v", o)
		}
		// Encode and decode again: same options (SACK trimmed to what fits).
		h := TCPHeader{Opts: o}
		buf := make([]byte, TCPMaxHeaderLen)
		n := h.Put(buf)
		var o2 TCPOptions
		if err := ParseTCPOptions(buf[TCPMinHeaderLen:n], &o2); err != nil {
			t.Fatalf("re-encoded options rejected: %v", err)
		}
		_, nsack := o.layout()
		o.NumSACK = nsack
		for i := nsack; i < MaxSACKBlocks; i++ {
			o.SACK[i] = SACKBlock{}
		}
		if o2 != o {
			t.Fatalf("round trip\n got %+v\nwant %+v", o2, o)
		}
	})
}

func FuzzParseUDP(f *testing.F) {
	f.Add(capUDP[EthernetHeaderLen+IPv4MinHeaderLen:])
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUDP(b)
		if err != nil {
			return
		}
		_, _, _ = u.SrcPort(), u.DstPort(), u.Checksum()
		if p := u.Payload(); len(p) > len(b)-UDPHeaderLen || len(p) > max(u.Length()-UDPHeaderLen, 0) {
			t.Fatalf("payload %d of %d, Length %d", len(p), len(b), u.Length())
		}
		_ = UDPChecksumValid(b, capClient, capServer)
		c := append([]byte(nil), b...)
		SetUDPChecksum(c, capClient, capServer)
		if !UDPChecksumValid(c, capClient, capServer) || UDP(c).Checksum() == 0 {
			t.Fatal("SetUDPChecksum output does not verify")
		}
	})
}

func FuzzParseICMP(f *testing.F) {
	f.Add(capEcho[EthernetHeaderLen+IPv4MinHeaderLen:])
	f.Add(capICMPUnreach[EthernetHeaderLen+IPv4MinHeaderLen:])
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseICMP(b)
		if err != nil {
			return
		}
		_, _, _, _, _ = m.Type(), m.Code(), m.ID(), m.Seq(), m.Checksum()
		out := make([]byte, len(b))
		PutICMPHeader(out, m.Type(), m.Code(), m.Rest())
		copy(out[ICMPHeaderLen:], m.Payload())
		SetICMPChecksum(out)
		if !ICMP(out).ChecksumValid() {
			t.Fatal("SetICMPChecksum output does not verify")
		}
		if m.ChecksumValid() && !bytes.Equal(out[4:], b[4:]) {
			t.Fatal("rebuild changed the message")
		}
	})
}

// FuzzChecksum compares Sum with the 16-bit reference on arbitrary input.
func FuzzChecksum(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, uint32(0))
	f.Add(bytes.Repeat([]byte{0xff}, 67), uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, b []byte, init uint32) {
		if got, want := Fold(Sum(b, init)), refSum(b, init); got != want {
			t.Fatalf("Sum folds to %#04x, reference %#04x", got, want)
		}
	})
}
