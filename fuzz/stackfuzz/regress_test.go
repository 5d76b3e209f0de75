package stackfuzz

import (
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// Named regression tests for what the fuzz targets found. Each input is also
// in testdata/fuzz/<Target>/ and runs as a seed under plain go test.

// TestRegressionGopacketARPOverflow pins an input FuzzDiffGopacket found
// (seed FuzzDiffGopacket/93dd9b74bc3657be): an ARP packet with hardware size
// 0x30 and protocol size 0x30, on which google/gopacket v1.1.19 panicked (its
// uint8 sum 8+2*hw+2*proto wrapped to 200 and sliced past the buffer,
// layers/arp.go:57). fsm/wire rejects it; the maintained fork the harness now
// uses computes the length in int and rejects it too, so the harness runs
// gopacket on every ARP input again.
func TestRegressionGopacketARPOverflow(t *testing.T) {
	data := []byte("0000\x7f\xff00")
	if err := diffParse(diffARP, data); err != nil {
		t.Fatalf("harness: %v", err)
	}
	if _, err := wire.ParseARP(data); err == nil {
		t.Fatal("wire accepts the packet")
	}
	var g layers.ARP
	if err := g.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("gopacket: %v, want a length error", err)
	}
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
