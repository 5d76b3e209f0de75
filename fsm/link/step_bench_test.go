package link

import (
	"testing"

	"github.com/netspec/netspec/fsm/wire"
)

// BenchmarkARPResolve is the per-event cost of the neighbour machine: a
// frame to a known (Reachable) neighbour per op, one row of spec/arp.fsm
// (Send: Transmit) fired by the table runtime (fsmrt). "nohook" runs with no
// hook set, "hook" with a trace on every fired row (ARP.SetTrace, fsmrt's
// Hooks.Row).
func BenchmarkARPResolve(b *testing.B) {
	for _, hook := range []bool{false, true} {
		name := "nohook"
		if hook {
			name = "hook"
		}
		b.Run(name, func(b *testing.B) {
			sent := 0
			a := NewARP(ourIP, ARPConfig{}, ARPHooks{
				Request: func(wire.Addr) {},
				Send:    func([]byte, wire.MAC) { sent++ },
				Drop:    func([]byte, Reason) {},
			})
			a.Input(t0, arpPacket(wire.ARPRequest, peerMAC, peerIP, wire.MAC{}, ourIP))
			rows := 0
			if hook {
				a.SetTrace(func(*ARPRule) { rows++ })
			}
			frame := make([]byte, 64)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				a.Resolve(t0, peerIP, frame)
				n++
			}
			if sent != n || hook && rows != n {
				b.Fatalf("%d frames sent, %d rows fired for %d", sent, rows, n)
			}
		})
	}
}
