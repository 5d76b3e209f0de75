package wire

import "testing"

// TestNoAllocs asserts the zero-allocation contract of parse, build, checksum
// and rejection paths (hostile input must not cost memory).
func TestNoAllocs(t *testing.T) {
	buf := make([]byte, 1514)
	src, dst := capClient, capServer
	var o TCPOptions
	cases := map[string]func(){
		"parse frame": func() {
			eth, _ := ParseEthernet(capData)
			ip, _ := ParseIPv4(eth.Payload())
			seg, _ := ParseTCP(ip.Payload())
			_ = ParseTCPOptions(seg.Options(), &o)
			_ = TCPChecksumValid(seg, ip.Src(), ip.Dst())
			_ = ip.Validate()
		},
		"reject": func() {
			_, _ = ParseEthernet(nil)
			_, _ = ParseARP(make([]byte, 4))
			_, _ = ParseIPv4(nil)
			_, _ = ParseTCP(capData[:30])
			_, _ = ParseUDP(nil)
			_, _ = ParseICMP(nil)
			_ = ParseTCPOptions([]byte{2, 0}, &o)
			_ = TCP(capSYN[34:]).Validate()
			_ = IPv4(capSYN[15:]).Validate()
		},
		"build": func() {
			th := TCPHeader{Flags: FlagSYN, Opts: TCPOptions{HasMSS: true, MSS: 1460, HasWScale: true, SACKPermitted: true, HasTimestamps: true}}
			PutEthernet(buf, MAC{}, MAC{}, EtherTypeIPv4)
			n := th.Put(buf[34:])
			SetTCPChecksum(buf[34:34+n], src, dst)
			(&IPv4Header{TotalLen: 20 + n, TTL: 64, Protocol: ProtoTCP, Src: src, Dst: dst}).Put(buf[14:])
			PutARP(buf[14:], ARPReply, MAC{}, src, MAC{}, dst)
			PutUDPHeader(buf[34:], 1, 2, 8)
			SetUDPChecksum(buf[34:42], src, dst)
			PutICMPHeader(buf[34:], ICMPEchoReply, 0, 0)
			SetICMPChecksum(buf[34:60])
			PutFCS(buf[60:], buf[:60])
		},
	}
	for name, fn := range cases {
		fn() // warm up one-time tables (crc32)
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
}
