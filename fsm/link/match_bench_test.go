package link

import "testing"

// BenchmarkARPMatch calls ARPMatch on every (state, event) cell of the ARP
// table, with guard values from a bit mask that changes every round.
func BenchmarkARPMatch(b *testing.B) {
	var mask uint64 = 0x9e3779b97f4a7c15
	eval := func(g ARPGuard) bool { return mask>>g&1 != 0 }
	calls := 0
	b.ReportAllocs()
	for b.Loop() {
		for s := range ARPState(NumARPStates) {
			for e := range ARPEvent(NumARPEvents) {
				if ARPMatch(s, e, eval) == nil {
					b.Fatalf("no rule for %v/%v", s, e)
				}
				calls++
			}
		}
		mask = mask*6364136223846793005 + 1442695040888963407
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(calls), "ns/match")
}
