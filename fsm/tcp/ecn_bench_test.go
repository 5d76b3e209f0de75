package tcp

import (
	"testing"
)

// BenchmarkECNvsLoss moves 2 MB over a 100 Mbit/s simulated link that
// signals congestion on 2% of the data segments, once by CE marks (ECN on
// both sides) and once by drops (ECN off), and reports the simulated
// transfer time and the retransmissions each needed.
func BenchmarkECNvsLoss(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  Config
		f    faults
	}{
		{"ce", Config{ECN: ECNOn}, faults{ce: 0.02, rate: 100e6, queue: 1000}},
		{"loss", Config{ECN: ECNOff}, faults{loss: 0.02, rate: 100e6, queue: 1000}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var secs, rtx float64
			for i := 0; i < b.N; i++ {
				p := newWirePair(b, uint64(5+i), c.cfg, c.f)
				client, server := p.connect()
				start := p.now
				want := pattern(5, 2<<20)
				cs := &streamer{c: client, out: want}
				ss := &streamer{c: server}
				p.runUntil(func() bool {
					cs.pump(p.now)
					ss.pump(p.now)
					return ss.eof
				}, 2_000_000)
				if len(ss.in) != len(want) {
					b.Fatalf("received %d octets", len(ss.in))
				}
				secs += p.now.Sub(start).Seconds()
				rtx += float64(p.a.Counters().Retransmits)
			}
			b.ReportMetric(secs/float64(b.N), "sim-s/op")
			b.ReportMetric(rtx/float64(b.N), "rtx/op")
		})
	}
}
