package ip

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// datagramFrom builds a datagram from src to us carrying payload.
func datagramFrom(src wire.Addr, proto uint8, payload []byte) []byte {
	b := make([]byte, wire.IPv4MinHeaderLen+len(payload))
	h := wire.IPv4Header{TTL: 64, Protocol: proto, Src: src, Dst: txUs, TotalLen: len(b)}
	h.Put(b)
	copy(b[wire.IPv4MinHeaderLen:], payload)
	return b
}

// TestICMPEchoAndErrors: an echo request gets the reply RFC 792 describes
// (type changed, identifier, sequence number and data kept); errors go out
// quoting the datagram's header and 8 octets, at most ErrorRate a second,
// never about a broadcast source or an ICMP error (RFC 1122 §3.2.2); an
// error received is delivered with what it quotes of our datagram.
func TestICMPEchoAndErrors(t *testing.T) {
	s, l := newTestSender(wire.Addr{}, 1)
	var got []ICMPReport
	m := NewICMP(ICMPConfig{EchoRate: 10, ErrorRate: 2, Deliver: func(_ time.Time, e ICMPReport) bool {
		got = append(got, e)
		return true
	}}, s)
	now := time.Unix(1000, 0)

	req := make([]byte, wire.ICMPHeaderLen+5)
	wire.PutICMPHeader(req, wire.ICMPEchoRequest, 0, 0x12340007)
	copy(req[wire.ICMPHeaderLen:], "hello")
	wire.SetICMPChecksum(req)
	m.Input(now, &Datagram{Src: txPeer, Dst: txUs, Proto: wire.ProtoICMP, Payload: req})
	if len(l.frames) != 1 || m.Counters().EchoReplies != 1 {
		t.Fatalf("%d frames, counters %+v", len(l.frames), m.Counters())
	}
	p := wire.IPv4(l.frames[0][LinkHeaderLen:])
	rep := p.Payload()
	if p.Dst() != txPeer || rep[0] != wire.ICMPEchoReply || string(rep[4:8]) != string(req[4:8]) ||
		string(rep[wire.ICMPHeaderLen:]) != "hello" || wire.Checksum(rep, 0) != 0 {
		t.Fatalf("echo reply %x", rep)
	}

	orig := datagramFrom(txPeer, wire.ProtoUDP, []byte("12345678rest"))
	for range 3 {
		m.SendError(now, orig, wire.ICMPDestUnreachable, 3, 0)
	}
	bcast := datagramFrom(s.SubnetBroadcast(), wire.ProtoUDP, []byte("12345678"))
	m.SendError(now.Add(time.Second), bcast, wire.ICMPDestUnreachable, 3, 0)
	if c := m.Counters(); c.ErrorsOut != 2 || c.RateLimited != 1 || len(l.frames) != 3 {
		t.Fatalf("errors: counters %+v, %d frames", c, len(l.frames))
	}
	e := wire.IPv4(l.frames[1][LinkHeaderLen:]).Payload()
	if e[0] != wire.ICMPDestUnreachable || e[1] != 3 || string(e[wire.ICMPHeaderLen:]) != string(orig[:wire.IPv4MinHeaderLen+8]) {
		t.Fatalf("error message %x", e)
	}

	// A port unreachable quoting a TCP segment we sent, seq 0x01020304.
	quote := make([]byte, wire.IPv4MinHeaderLen+8)
	h := wire.IPv4Header{TTL: 64, Protocol: wire.ProtoTCP, Src: txUs, Dst: txPeer, TotalLen: 40}
	h.Put(quote)
	copy(quote[wire.IPv4MinHeaderLen:], []byte{0x9c, 0x40, 0, 80, 1, 2, 3, 4})
	msg := make([]byte, wire.ICMPHeaderLen+len(quote))
	wire.PutICMPHeader(msg, wire.ICMPDestUnreachable, 4, 1280)
	copy(msg[wire.ICMPHeaderLen:], quote)
	wire.SetICMPChecksum(msg)
	m.Input(now, &Datagram{Src: txPeer, Dst: txUs, Proto: wire.ProtoICMP, Payload: msg})
	want := ICMPReport{Type: wire.ICMPDestUnreachable, Code: 4, Proto: wire.ProtoTCP, Src: txUs, Dst: txPeer,
		SrcPort: 40000, DstPort: 80, Seq: 0x01020304, MTU: 1280}
	if len(got) != 1 || got[0] != want || m.Counters().ErrorsIn != 1 || m.Counters().ErrorsUnmatched != 0 {
		t.Fatalf("delivered %+v, want %+v; counters %+v", got, want, m.Counters())
	}
	msg[len(msg)-1] ^= 1 // bad checksum
	m.Input(now, &Datagram{Src: txPeer, Dst: txUs, Proto: wire.ProtoICMP, Payload: msg})
	if len(got) != 1 || m.Counters().Bad != 1 {
		t.Fatalf("bad checksum delivered: %+v", m.Counters())
	}
}
