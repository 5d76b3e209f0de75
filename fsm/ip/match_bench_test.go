package ip

import "testing"

// BenchmarkRxMatch calls RxMatch on every (state, event) cell of the IPv4
// receive table (the receiver calls it once per stage of every packet), with
// guard values from a bit mask that changes every round.
func BenchmarkRxMatch(b *testing.B) {
	var mask uint64 = 0x9e3779b97f4a7c15
	eval := func(g RxGuard) bool { return mask>>g&1 != 0 }
	calls := 0
	b.ReportAllocs()
	for b.Loop() {
		for s := range RxState(NumRxStates) {
			for e := range RxEvent(NumRxEvents) {
				if RxMatch(s, e, eval) == nil {
					b.Fatalf("no rule for %v/%v", s, e)
				}
				calls++
			}
		}
		mask = mask*6364136223846793005 + 1442695040888963407
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(calls), "ns/match")
}

// BenchmarkFragMatch is BenchmarkRxMatch for the reassembly table.
func BenchmarkFragMatch(b *testing.B) {
	var mask uint64 = 0x9e3779b97f4a7c15
	eval := func(g FragGuard) bool { return mask>>g&1 != 0 }
	calls := 0
	b.ReportAllocs()
	for b.Loop() {
		for s := range FragState(NumFragStates) {
			for e := range FragEvent(NumFragEvents) {
				if FragMatch(s, e, eval) == nil {
					b.Fatalf("no rule for %v/%v", s, e)
				}
				calls++
			}
		}
		mask = mask*6364136223846793005 + 1442695040888963407
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(calls), "ns/match")
}
