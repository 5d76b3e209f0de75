package wire

import (
	"bytes"
	"testing"
)

// Frames captured with tcpdump on a veth between two namespaces
// (198.18.7.1 Linux client, 198.18.7.2 Linux server, tx checksum offload off so
// every checksum is final). tcpdump marked every checksum "correct".
var (
	// 198.18.7.1.47320 > 198.18.7.2.8080: Flags [S], seq 3184797056, win 64240,
	// options [mss 1460,sackOK,TS val 215024828 ecr 0,nop,wscale 10]
	capSYN = h("fa2ecce6b94b9e655ffb8be008004500003c5bd24000400644c2c6120701c6120702b8d81f90bdd4258000000000a002faf0e5990000020405b40402080a0cd104bc000000000103030a")
	// 198.18.7.2.8080 > 198.18.7.1.47320: Flags [S.], seq 371779475, ack 3184797057, win 65160,
	// options [mss 1460,sackOK,TS val 4149664391 ecr 215024828,nop,wscale 10]
	capSYNACK = h("9e655ffb8be0fa2ecce6b94b08004500003c000040004006a094c6120702c61207011f90b8d81628e793bdd42581a012fe8812560000020405b40402080af756da870cd104bc0103030a")
	// 198.18.7.1.47320 > 198.18.7.2.8080: Flags [P.], seq 1:15, ack 1, win 63,
	// options [nop,nop,TS val 215024830 ecr 4149664391], length 14 "hello, netspec"
	capData = h("fa2ecce6b94b9e655ffb8be00800450000425bd44000400644bac6120701c6120702b8d81f90bdd425811628e7948018003f9ca200000101080a0cd104bef756da8768656c6c6f2c206e657473706563")
	// 198.18.7.2.8080 > 198.18.7.1.52322: Flags [R.], seq 0, ack 3140728419, win 0
	capRST = h("5a4cd488f69f8e368ce94202080045000028000040004006a0a8c6120702c61207011f90cc6200000000bb33b66350140000b81e0000")
	// 198.18.7.1.60553 > 198.18.7.2.9999: UDP, length 5 "odd!!" (odd length)
	capUDP = h("7ac3df27112c76a80a097e46080045000021b2e240004011edc1c6120701c6120702ec89270f000d5d8d6f64642121")
	// 198.18.7.2 > 198.18.7.1: ICMP udp port 9999 unreachable, quoting capUDP's datagram
	capICMPUnreach = h("76a80a097e467ac3df27112c080045c0003d28d900004001b6ffc6120702c6120701030397430000000045000021b2e240004011edc1c6120701c6120702ec89270f000d5d8d6f64642121")
	// 198.18.7.1 > 198.18.7.2: ICMP echo request, id 9769, seq 1, length 19 (odd)
	capEcho = h("7ac3df27112c76a80a097e46080045000027cab840004001d5f5c6120701c6120702080089e9262900016162616261626162616261")
)

var (
	capClient = Addr{198, 18, 7, 1}
	capServer = Addr{198, 18, 7, 2}
)

// parseFrame walks Ethernet -> IPv4 and checks the layers every capture shares.
func parseFrame(t *testing.T, frame []byte) (Ethernet, IPv4) {
	t.Helper()
	eth, err := ParseEthernet(frame)
	if err != nil {
		t.Fatalf("ParseEthernet: %v", err)
	}
	if eth.Type() != EtherTypeIPv4 {
		t.Fatalf("EtherType %v", eth.Type())
	}
	ip, err := ParseIPv4(eth.Payload())
	if err != nil {
		t.Fatalf("ParseIPv4: %v", err)
	}
	if err := ip.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return eth, ip
}

func TestCaptureSYN(t *testing.T) {
	eth, ip := parseFrame(t, capSYN)
	if eth.Src() != (MAC{0x9e, 0x65, 0x5f, 0xfb, 0x8b, 0xe0}) || eth.Dst() != (MAC{0xfa, 0x2e, 0xcc, 0xe6, 0xb9, 0x4b}) {
		t.Errorf("MACs %v > %v", eth.Src(), eth.Dst())
	}
	if ip.Src() != capClient || ip.Dst() != capServer || ip.Protocol() != ProtoTCP || ip.TTL() != 64 ||
		!ip.DontFragment() || ip.MoreFragments() || ip.FragOffset() != 0 || ip.ID() != 0x5bd2 || ip.TotalLen() != 60 {
		t.Errorf("IPv4 fields: %+v", ip.Header())
	}
	seg, err := ParseTCP(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if !TCPChecksumValid(seg, ip.Src(), ip.Dst()) {
		t.Fatal("TCP checksum of a captured SYN does not verify")
	}
	if seg.SrcPort() != 47320 || seg.DstPort() != 8080 || seg.Seq() != 3184797056 || seg.Ack() != 0 ||
		seg.Flags() != FlagSYN || seg.Window() != 64240 || seg.DataOffset() != 40 || len(seg.Payload()) != 0 ||
		seg.SegLen() != 1 {
		t.Errorf("TCP fields wrong: flags %v", seg.Flags())
	}
	var o TCPOptions
	if err := ParseTCPOptions(seg.Options(), &o); err != nil {
		t.Fatal(err)
	}
	want := TCPOptions{MSS: 1460, HasMSS: true, SACKPermitted: true, HasTimestamps: true,
		TSVal: 215024828, TSEcr: 0, WScale: 10, HasWScale: true}
	if o != want {
		t.Errorf("options %+v, want %+v", o, want)
	}
}

// TestCaptureRebuild rebuilds each captured TCP frame with the builders and
// requires byte equality: Linux's option layout is the one TCPHeader.Put uses.
func TestCaptureRebuild(t *testing.T) {
	for name, frame := range map[string][]byte{"syn": capSYN, "synack": capSYNACK, "data": capData, "rst": capRST} {
		t.Run(name, func(t *testing.T) {
			eth, ip := parseFrame(t, frame)
			seg, err := ParseTCP(ip.Payload())
			if err != nil {
				t.Fatal(err)
			}
			if !TCPChecksumValid(seg, ip.Src(), ip.Dst()) {
				t.Fatal("captured checksum does not verify")
			}
			th, err := seg.Header()
			if err != nil {
				t.Fatal(err)
			}
			ih := ip.Header()
			out := make([]byte, len(frame))
			PutEthernet(out, eth.Dst(), eth.Src(), eth.Type())
			ih.Put(out[EthernetHeaderLen:])
			tcpOut := out[EthernetHeaderLen+IPv4MinHeaderLen:]
			n := th.Put(tcpOut)
			copy(tcpOut[n:], seg.Payload())
			SetTCPChecksum(tcpOut, ih.Src, ih.Dst)
			if !bytes.Equal(out, frame) {
				t.Fatalf("rebuilt frame differs:\n got %x\nwant %x", out, frame)
			}
		})
	}
}

func TestCaptureData(t *testing.T) {
	_, ip := parseFrame(t, capData)
	seg, err := ParseTCP(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if string(seg.Payload()) != "hello, netspec" || seg.Flags() != FlagPSH|FlagACK || seg.SegLen() != 14 {
		t.Fatalf("payload %q flags %v", seg.Payload(), seg.Flags())
	}
	// Every single-bit corruption of the segment must fail verification,
	// and so must a wrong pseudo-header address.
	b := append([]byte(nil), seg...)
	for i := 0; i < len(b)*8; i++ {
		b[i/8] ^= 1 << (i % 8)
		if TCPChecksumValid(b, ip.Src(), ip.Dst()) {
			t.Fatalf("bit flip %d not detected", i)
		}
		b[i/8] ^= 1 << (i % 8)
	}
	if TCPChecksumValid(seg, ip.Src(), Addr{198, 18, 7, 3}) {
		t.Fatal("pseudo-header destination not covered")
	}
}

func TestCaptureUDP(t *testing.T) {
	_, ip := parseFrame(t, capUDP)
	u, err := ParseUDP(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if u.SrcPort() != 60553 || u.DstPort() != 9999 || u.Length() != 13 || string(u.Payload()) != "odd!!" {
		t.Fatalf("UDP fields: %d > %d len %d %q", u.SrcPort(), u.DstPort(), u.Length(), u.Payload())
	}
	if !UDPChecksumValid(u, ip.Src(), ip.Dst()) {
		t.Fatal("captured UDP checksum does not verify")
	}
	out := make([]byte, u.Length())
	PutUDPHeader(out, u.SrcPort(), u.DstPort(), u.Length())
	copy(out[UDPHeaderLen:], u.Payload())
	SetUDPChecksum(out, ip.Src(), ip.Dst())
	if !bytes.Equal(out, u) {
		t.Fatalf("rebuilt %x, want %x", out, []byte(u))
	}
}

func TestCaptureICMP(t *testing.T) {
	_, ip := parseFrame(t, capEcho)
	m, err := ParseICMP(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if m.Type() != ICMPEchoRequest || m.Code() != 0 || m.ID() != 9769 || m.Seq() != 1 ||
		m.Rest() != 9769<<16|1 || !m.ChecksumValid() || len(m.Payload()) != 11 {
		t.Fatalf("echo fields: type %d id %d seq %d", m.Type(), m.ID(), m.Seq())
	}
	out := make([]byte, len(m))
	PutICMPHeader(out, m.Type(), m.Code(), m.Rest())
	copy(out[ICMPHeaderLen:], m.Payload())
	SetICMPChecksum(out)
	if !bytes.Equal(out, m) {
		t.Fatalf("rebuilt %x, want %x", out, []byte(m))
	}

	_, ip = parseFrame(t, capICMPUnreach)
	if ip.TOS() != 0xc0 || ip.DontFragment() {
		t.Errorf("unreachable IPv4 header: tos %#x", ip.TOS())
	}
	m, err = ParseICMP(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if m.Type() != ICMPDestUnreachable || m.Code() != ICMPCodePortUnreachable || !m.ChecksumValid() {
		t.Fatalf("unreachable: type %d code %d", m.Type(), m.Code())
	}
	quoted, err := ParseIPv4(m.Payload())
	if err != nil || quoted.Validate() != nil {
		t.Fatalf("quoted header: %v", err)
	}
	if !bytes.Equal(m.Payload(), capUDP[EthernetHeaderLen:]) {
		t.Fatal("quote is not the original datagram")
	}
}
