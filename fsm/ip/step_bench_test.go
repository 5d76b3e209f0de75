package ip

import (
	"testing"

	"github.com/netspec/netspec/fsm/wire"
)

// BenchmarkReceive is the per-packet cost of the receive pipeline: one valid
// UDP datagram for us per op, one row of spec/ipv4.fsm per stage fired by
// the table runtime (fsmrt). "nohook" runs with no hook set, "hook" with a trace on
// every fired row (Receiver.SetTrace, fsmrt's Hooks.Row); ns/row divides by
// the rows fired.
func BenchmarkReceive(b *testing.B) {
	pkt := packet(peer, us, wire.ProtoUDP, make([]byte, 64), nil, nil)
	per := 0 // rows fired per packet
	probe := NewReceiver(Config{Addr: us, PrefixLen: 24})
	probe.SetTrace(func(*RxRule, *FragRule) { per++ })
	if !probe.Receive(t0, pkt, &Datagram{}) || per == 0 {
		b.Fatal("not delivered")
	}
	for _, hook := range []bool{false, true} {
		name := "nohook"
		if hook {
			name = "hook"
		}
		b.Run(name, func(b *testing.B) {
			r := NewReceiver(Config{Addr: us, PrefixLen: 24})
			rows := 0
			if hook {
				r.SetTrace(func(*RxRule, *FragRule) { rows++ })
			}
			var d Datagram
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if !r.Receive(t0, pkt, &d) {
					b.Fatal("not delivered")
				}
				n++
			}
			if hook && rows != per*n {
				b.Fatalf("%d rows fired for %d packets, want %d each", rows, n, per)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(per*n), "ns/row")
		})
	}
}

// BenchmarkReassemble is the per-datagram cost of reassembly: two fragments
// in, one datagram out per op (each fragment runs the pipeline and one frag
// row; the release of the datagram runs another).
func BenchmarkReassemble(b *testing.B) {
	frags := fragments(1, payloadOf(1024, 1), 512)
	r := NewReceiver(Config{Addr: us, PrefixLen: 24})
	var d Datagram
	b.ReportAllocs()
	for b.Loop() {
		r.Receive(t0, frags[0], &d)
		if !r.Receive(t0, frags[1], &d) {
			b.Fatal("not reassembled")
		}
	}
}
