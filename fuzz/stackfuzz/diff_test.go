package stackfuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/netspec/netspec/fsm/wire"
)

// Differential parsing against gopacket's decoders (github.com/gopacket/gopacket,
// the maintained fork of google/gopacket). The first byte of the
// input picks the layer decoding starts at (Ethernet, IPv4, TCP, UDP, ICMP,
// ARP); from Ethernet and IPv4 it follows the EtherType and protocol. When
// both parsers accept, every field must agree; where the two accept exactly
// the same inputs (TCP header, UDP and ICMP headers) acceptance must agree
// too. Known, intended differences (gopacket is a lenient dissector, wire a
// validating receiver):
//   - IPv4: gopacket does not check version or checksum, takes a total length
//     of 0 as "the whole buffer" (TSO) and accepts truncated datagrams; wire's
//     Validate rejects all of these. Only "wire accepts => gopacket accepts"
//     is checked, for headers without options (gopacket also parses IP
//     options strictly, wire leaves them to the pipeline).
//   - TCP options: gopacket stops parsing options at one whose length is
//     missing, below 2 or past the header (layers/tcp.go stopOptions), keeps
//     the rest as padding and accepts the segment; wire rejects it
//     (ErrBadOption). Accepted by gopacket with its options cut short (some
//     padding left) is the only disagreement allowed.
//   - UDP: a length of 0 is a jumbogram to gopacket (RFC 2675, IPv6 only);
//     wire gives an empty payload. Payloads are compared for lengths >= 8.
//   - Ethernet: types below 0x0600 are 802.3 lengths to gopacket.
//   - ARP: wire accepts only Ethernet/IPv4 ARP; "wire accepts => gopacket
//     accepts" is checked, and gopacket runs on every input (google/gopacket
//     v1.1.19 panicked on some, TestRegressionGopacketARPOverflow).
const (
	diffEthernet = iota
	diffIPv4
	diffTCP
	diffUDP
	diffICMP
	diffARP
	numDiff
)

func diffParse(sel byte, data []byte) error {
	switch int(sel) % numDiff {
	case diffEthernet:
		return diffEth(data)
	case diffIPv4:
		return diffIP(data)
	case diffTCP:
		return diffTCPSeg(data)
	case diffUDP:
		return diffUDPDgram(data)
	case diffICMP:
		return diffICMPMsg(data)
	default:
		return diffARPPkt(data)
	}
}

func diffEth(data []byte) error {
	e, err := wire.ParseEthernet(data)
	var g layers.Ethernet
	gerr := g.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
	if (err == nil) != (gerr == nil) {
		return fmt.Errorf("ethernet: wire err %v, gopacket err %v", err, gerr)
	}
	if err != nil {
		return nil
	}
	dst, src := e.Dst(), e.Src()
	if !bytes.Equal(dst[:], g.DstMAC) || !bytes.Equal(src[:], g.SrcMAC) {
		return fmt.Errorf("ethernet: addresses differ")
	}
	raw := binary.BigEndian.Uint16(data[12:14])
	if raw < 0x0600 {
		return nil
	}
	if uint16(e.Type()) != uint16(g.EthernetType) || !bytes.Equal(e.Payload(), g.Payload) {
		return fmt.Errorf("ethernet: type %v vs %v or payload differs", e.Type(), g.EthernetType)
	}
	switch e.Type() {
	case wire.EtherTypeIPv4:
		return diffIP(e.Payload())
	case wire.EtherTypeARP:
		return diffARPPkt(e.Payload())
	}
	return nil
}

func diffIP(data []byte) error {
	ip, err := wire.ParseIPv4(data)
	var g layers.IPv4
	gerr := g.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
	if err != nil {
		if gerr == nil {
			return fmt.Errorf("ipv4: wire rejects (%v), gopacket accepts", err)
		}
		return nil
	}
	valid := ip.Validate() == nil
	if valid && ip.IHL() == wire.IPv4MinHeaderLen && gerr != nil {
		return fmt.Errorf("ipv4: wire validates, gopacket rejects: %v", gerr)
	}
	if gerr != nil {
		return nil
	}
	hdrLen := int(g.IHL) * 4
	switch {
	case ip.Version() != g.Version, ip.IHL() != hdrLen, ip.TOS() != g.TOS,
		ip.ID() != g.Id, ip.TTL() != g.TTL, ip.Protocol() != uint8(g.Protocol),
		ip.HeaderChecksum() != g.Checksum, ip.FragOffset() != int(g.FragOffset)*8,
		ip.DontFragment() != (g.Flags&layers.IPv4DontFragment != 0),
		ip.MoreFragments() != (g.Flags&layers.IPv4MoreFragments != 0),
		!bytes.Equal(ip.Src().Netip().AsSlice(), g.SrcIP.To4()), !bytes.Equal(ip.Dst().Netip().AsSlice(), g.DstIP.To4()):
		return fmt.Errorf("ipv4: header fields differ: wire %+v, gopacket %+v", ip.Header(), g)
	}
	if binary.BigEndian.Uint16(data[2:4]) != 0 && ip.TotalLen() != int(g.Length) {
		return fmt.Errorf("ipv4: total length %d vs %d", ip.TotalLen(), g.Length)
	}
	if !valid {
		return nil
	}
	if !bytes.Equal(ip.Payload(), g.Payload) {
		return fmt.Errorf("ipv4: payloads differ (%d vs %d octets)", len(ip.Payload()), len(g.Payload))
	}
	if ip.IsFragment() {
		return nil
	}
	switch ip.Protocol() {
	case wire.ProtoTCP:
		return diffTCPSeg(ip.Payload())
	case wire.ProtoUDP:
		return diffUDPDgram(ip.Payload())
	case wire.ProtoICMP:
		return diffICMPMsg(ip.Payload())
	}
	return nil
}

func diffTCPSeg(data []byte) error {
	t, err := wire.ParseTCP(data)
	var g layers.TCP
	gerr := g.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
	var o wire.TCPOptions
	oerr := err
	if err == nil {
		oerr = wire.ParseTCPOptions(t.Options(), &o)
	}
	// gopacket parses options as part of the header: it accepts what wire's
	// ParseTCP and ParseTCPOptions both accept, and more only where it cut
	// the options short at a malformed one.
	if err == nil && errors.Is(oerr, wire.ErrBadOption) && gerr == nil && len(g.Padding) > 0 {
		return nil // gopacket stopped at the malformed option (above)
	}
	if (oerr == nil) != (gerr == nil) {
		return fmt.Errorf("tcp: wire err %v, gopacket err %v", oerr, gerr)
	}
	if oerr != nil {
		return nil
	}
	f := t.Flags()
	switch {
	case t.SrcPort() != uint16(g.SrcPort), t.DstPort() != uint16(g.DstPort),
		t.Seq() != g.Seq, t.Ack() != g.Ack, t.DataOffset() != int(g.DataOffset)*4,
		t.Window() != g.Window, t.Checksum() != g.Checksum, t.Urgent() != g.Urgent,
		f.Has(wire.FlagFIN) != g.FIN, f.Has(wire.FlagSYN) != g.SYN, f.Has(wire.FlagRST) != g.RST,
		f.Has(wire.FlagPSH) != g.PSH, f.Has(wire.FlagACK) != g.ACK, f.Has(wire.FlagURG) != g.URG,
		f.Has(wire.FlagECE) != g.ECE, f.Has(wire.FlagCWR) != g.CWR:
		return fmt.Errorf("tcp: header fields differ")
	}
	if !bytes.Equal(t.Payload(), g.Payload) {
		return fmt.Errorf("tcp: payloads differ")
	}
	// The decoded options: the last well-formed occurrence of each kind wins
	// (a known kind with the wrong length is skipped, as Linux does).
	var want wire.TCPOptions
	for _, op := range g.Options {
		d := op.OptionData
		switch op.OptionType {
		case layers.TCPOptionKindMSS:
			if len(d) == 2 {
				want.MSS, want.HasMSS = binary.BigEndian.Uint16(d), true
			}
		case layers.TCPOptionKindWindowScale:
			if len(d) == 1 {
				want.WScale, want.HasWScale = min(d[0], wire.MaxWScale), true
			}
		case layers.TCPOptionKindSACKPermitted:
			if len(d) == 0 {
				want.SACKPermitted = true
			}
		case layers.TCPOptionKindTimestamps:
			if len(d) == 8 {
				want.TSVal, want.TSEcr, want.HasTimestamps = binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:]), true
			}
		}
	}
	if want.HasMSS != o.HasMSS || want.MSS != o.MSS || want.HasWScale != o.HasWScale || want.WScale != o.WScale ||
		want.SACKPermitted != o.SACKPermitted || want.HasTimestamps != o.HasTimestamps ||
		want.TSVal != o.TSVal || want.TSEcr != o.TSEcr {
		return fmt.Errorf("tcp options differ: wire %+v, gopacket %+v", o, want)
	}
	return nil
}

func diffUDPDgram(data []byte) error {
	u, err := wire.ParseUDP(data)
	var g layers.UDP
	gerr := g.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
	if err != nil || gerr != nil {
		// gopacket also rejects lengths 1..7; wire leaves those to the receiver.
		if err != nil && gerr == nil {
			return fmt.Errorf("udp: wire rejects (%v), gopacket accepts", err)
		}
		return nil
	}
	if u.SrcPort() != uint16(g.SrcPort) || u.DstPort() != uint16(g.DstPort) || u.Length() != int(g.Length) || u.Checksum() != g.Checksum {
		return fmt.Errorf("udp: header fields differ")
	}
	if u.Length() >= wire.UDPHeaderLen && !bytes.Equal(u.Payload(), g.Payload) {
		return fmt.Errorf("udp: payloads differ")
	}
	return nil
}

func diffICMPMsg(data []byte) error {
	m, err := wire.ParseICMP(data)
	var g layers.ICMPv4
	gerr := g.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
	if (err == nil) != (gerr == nil) {
		return fmt.Errorf("icmp: wire err %v, gopacket err %v", err, gerr)
	}
	if err != nil {
		return nil
	}
	if m.Type() != g.TypeCode.Type() || m.Code() != g.TypeCode.Code() || m.Checksum() != g.Checksum ||
		m.ID() != g.Id || m.Seq() != g.Seq || !bytes.Equal(m.Payload(), g.Payload) {
		return fmt.Errorf("icmp: fields differ")
	}
	return nil
}

func diffARPPkt(data []byte) error {
	a, err := wire.ParseARP(data)
	var g layers.ARP
	gerr := g.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
	if err != nil {
		return nil // gopacket also decodes non-Ethernet/IPv4 ARP
	}
	if gerr != nil {
		return fmt.Errorf("arp: wire accepts, gopacket rejects: %v", gerr)
	}
	sm, tm, si, ti := a.SenderMAC(), a.TargetMAC(), a.SenderIP(), a.TargetIP()
	if a.Op() != g.Operation || g.AddrType != layers.LinkTypeEthernet || g.Protocol != layers.EthernetTypeIPv4 ||
		!bytes.Equal(sm[:], g.SourceHwAddress) || !bytes.Equal(tm[:], g.DstHwAddress) ||
		!bytes.Equal(si[:], g.SourceProtAddress) || !bytes.Equal(ti[:], g.DstProtAddress) {
		return fmt.Errorf("arp: fields differ")
	}
	return nil
}
