package tcp

import "testing"

// BenchmarkSegment is the per-segment cost of the layer in steady state: per
// op one round of steadyState (1000 octets sent, taken, read, and the ACK
// taken), two segments each through the SEGMENT ARRIVES rows of spec/tcp.fsm
// fired by the table runtime (fsmrt), allocating nothing
// (TestSteadyStateNoAllocs). "nohook" runs with no
// hook set, "hook" with Row and Drop hooks on both layers' machines; ns/row
// divides by the rows fired.
func BenchmarkSegment(b *testing.B) {
	for _, hook := range []bool{false, true} {
		name := "nohook"
		if hook {
			name = "hook"
		}
		b.Run(name, func(b *testing.B) {
			p, _, round := steadyState(b)
			round()
			rows := func() (n uint64) {
				for _, l := range []*Layer{p.a, p.b} {
					for _, h := range l.Counters().RuleHits {
						n += h
					}
				}
				return n
			}
			fired, drops := 0, 0
			if hook {
				for _, l := range []*Layer{p.a, p.b} {
					l.m.Hooks.Row = func(*Rule) { fired++ }
					l.m.Hooks.Drop = func(Reason) { drops++ }
				}
			}
			before := rows()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				round()
				n++
			}
			fired64 := rows() - before
			if hook && uint64(fired) != fired64 {
				b.Fatalf("Row hook saw %d rows, the counters %d", fired, fired64)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*n), "ns/segment")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(fired64), "ns/row")
		})
	}
}
