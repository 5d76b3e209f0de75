package wire

import "testing"

// Benchmarks report parse, build and checksum costs; run with -benchmem (they
// call b.ReportAllocs) and expect 0 allocs/op everywhere.

var sinkU16 uint16
var sinkInt int

func BenchmarkParseFrame(b *testing.B) {
	b.ReportAllocs()
	frame := capData
	var o TCPOptions
	for b.Loop() {
		eth, err := ParseEthernet(frame)
		if err != nil {
			b.Fatal(err)
		}
		ip, err := ParseIPv4(eth.Payload())
		if err != nil || !ip.HeaderChecksumValid() {
			b.Fatal(err)
		}
		seg, err := ParseTCP(ip.Payload())
		if err != nil {
			b.Fatal(err)
		}
		if err := ParseTCPOptions(seg.Options(), &o); err != nil {
			b.Fatal(err)
		}
		sinkInt += len(seg.Payload()) + int(seg.Window())
	}
}

func BenchmarkParseTCPOptions(b *testing.B) {
	b.ReportAllocs()
	opts := capSYN[EthernetHeaderLen+IPv4MinHeaderLen+TCPMinHeaderLen:]
	var o TCPOptions
	for b.Loop() {
		if err := ParseTCPOptions(opts, &o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseReject(b *testing.B) {
	b.ReportAllocs()
	bad := []byte{1, 1, 2, 0}
	var o TCPOptions
	for b.Loop() {
		if ParseTCPOptions(bad, &o) == nil {
			b.Fatal("accepted")
		}
		if _, err := ParseTCP(bad); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkBuildTCPFrame(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 1514)
	payload := make([]byte, 1448)
	src, dst := Addr{198, 18, 0, 2}, Addr{198, 18, 0, 1}
	th := TCPHeader{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 2, Flags: FlagACK | FlagPSH, Window: 512,
		Opts: TCPOptions{HasTimestamps: true, TSVal: 3, TSEcr: 4}}
	for b.Loop() {
		PutEthernet(buf, MAC{1}, MAC{2}, EtherTypeIPv4)
		seg := buf[EthernetHeaderLen+IPv4MinHeaderLen:]
		n := th.Put(seg)
		n += copy(seg[n:], payload)
		SetTCPChecksum(seg[:n], src, dst)
		ih := IPv4Header{TotalLen: IPv4MinHeaderLen + n, TTL: 64, Protocol: ProtoTCP, DontFragment: true, Src: src, Dst: dst}
		ih.Put(buf[EthernetHeaderLen:])
	}
}

func benchChecksum(b *testing.B, n int) {
	b.ReportAllocs()
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(int64(n))
	for b.Loop() {
		sinkU16 += Checksum(buf, 0)
	}
}

func BenchmarkChecksum20(b *testing.B)    { benchChecksum(b, 20) }
func BenchmarkChecksum1500(b *testing.B)  { benchChecksum(b, 1500) }
func BenchmarkChecksum65535(b *testing.B) { benchChecksum(b, 65535) }

// BenchmarkChecksumReference is the 16-bit loop Sum replaces, for comparison.
func BenchmarkChecksumReference1500(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 1500)
	b.SetBytes(1500)
	for b.Loop() {
		sinkU16 += refSum(buf, 0)
	}
}

func BenchmarkFCS1514(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 1514)
	b.SetBytes(1514)
	for b.Loop() {
		sinkInt += int(FCS(buf))
	}
}
