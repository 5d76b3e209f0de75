package stackfuzz

import (
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// Named regression tests for what the fuzz targets found. Each input is also
// in testdata/fuzz/<Target>/ and runs as a seed under plain go test.

// TestRegressionGopacketARPOverflow pins a panic in gopacket v1.1.19 found by
// FuzzDiffGopacket (seed FuzzDiffGopacket/93dd9b74bc3657be): an ARP packet
// with hardware size 0x30 and protocol size 0x30 makes the uint8 sum
// 8+2*hw+2*proto wrap to 200 ... and slice past the buffer (layers/arp.go:57).
// fsm/wire rejects the packet, and the differential harness no longer hands
// such packets to gopacket. If gopacket stops panicking this test says so.
func TestRegressionGopacketARPOverflow(t *testing.T) {
	data := []byte("0000\x7f\xff00")
	if err := diffParse(diffARP, data); err != nil {
		t.Fatalf("harness: %v", err)
	}
	defer func() {
		r := recover()
		if r == nil {
			t.Fatalf("gopacket no longer panics on this ARP packet: drop the guard in diffARPPkt")
		}
		if !strings.Contains(strings.ToLower(toString(r)), "out of range") {
			t.Fatalf("unexpected panic: %v", r)
		}
	}()
	var g layers.ARP
	_ = g.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
}

func toString(v any) string {
	if e, ok := v.(error); ok {
		return e.Error()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

// TestRegressionSynAckWithText pins the bug FuzzConnProgram found (seed
// FuzzConnProgram/4d3569f1ff7794a6): in SYN-SENT a SYN,ACK that carries text
// was processed from SEG.SEQ = IRS instead of IRS+1 (spec/tcp.fsm, rule "on
// SynSent SegPre if HasSYN, HasACK", had no TrimSyn), so the text was held as
// an out-of-order range below RCV.NXT and tcp.InvariantChecker failed. Fixed:
// the text is trimmed past the SYN and to the window, and delivered.
func TestRegressionSynAckWithText(t *testing.T) {
	// Active open left in SYN-SENT, then SYN|ACK|URG with 48 octets at the
	// peer's IRS acknowledging SND.NXT (the fuzz input "702000000").
	h, err := newConnHarness('7')
	if err != nil {
		t.Fatal(err)
	}
	rcvNxt, _, _, sndNxt := h.live()
	h.inject(wire.FlagSYN|wire.FlagACK|wire.FlagURG, rcvNxt, sndNxt, 0x3030, nil, 48, nil, false)
	if err := h.check(); err != nil {
		t.Fatalf("SYN,ACK with text: %v", err)
	}
	if got := h.c.State(); got != tcp.StateEstablished {
		t.Fatalf("state %v, want ESTABLISHED", got)
	}
	if got, want := h.c.TCB().RcvNxt, rcvNxt+1+48; got != want {
		t.Fatalf("RCV.NXT %v, want %v (IRS+1+48)", got, want)
	}
}
