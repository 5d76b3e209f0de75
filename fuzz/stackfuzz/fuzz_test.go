package stackfuzz

import (
	"testing"
)

// FuzzConnProgram drives one TCP connection through an operation program
// decoded from the input (see conn_test.go): segments whose SEQ and ACK are
// chosen relative to the live TCB (RCV.NXT, the window edges, SND.UNA,
// SND.NXT), user calls, and a virtual clock, under a step budget. Checksums
// are correct except for the opCorrupt opcode. After every operation every
// emitted segment must parse, carry a valid checksum and possible flags, put
// MSS only on a SYN and never answer a RST with a RST; and the layer's
// runtime invariants (tcp.InvariantChecker) must hold.
func FuzzConnProgram(f *testing.F) {
	f.Add([]byte{0, opInject, 0x18, 0, 0, 0, 0, 10, 0x20, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		h, err := newConnHarness(b[0])
		if err != nil {
			t.Fatalf("setup: %v", err)
		}
		if err := h.run(b[1:]); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzStackFrames injects frames into a whole stack.Stack (arbitrary frames,
// IPv4 datagrams built around fuzz bytes, ARP, TCP segments) interleaved with
// timer polls and user calls (see stack_test.go). Nothing may panic or hang,
// the output queue and connection table stay within their bounds, every
// emitted frame is well formed (Ethernet from our MAC, a valid IPv4 header
// from our address, valid TCP, UDP and ICMP checksums), and the TCP layer's
// invariants hold after every operation.
func FuzzStackFrames(f *testing.F) {
	f.Add([]byte{0, frCall, 0, 0, frSyn, 0x02, 0, 0, 0, 1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		h := newStackHarness(b[0])
		if err := h.run(b[1:]); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDiffGopacket parses the input with fsm/wire and with gopacket's
// decoders for Ethernet, IPv4, TCP (with options), UDP, ICMP and ARP, and
// requires them to agree (see diff_test.go for the rules and the known,
// intended differences).
func FuzzDiffGopacket(f *testing.F) {
	f.Add(byte(diffTCP), make([]byte, 20))
	f.Fuzz(func(t *testing.T, sel byte, data []byte) {
		if err := diffParse(sel, data); err != nil {
			t.Fatal(err)
		}
	})
}
