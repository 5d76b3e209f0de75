package tcp

import "testing"

// BenchmarkMatch calls MatchProfile on every (profile, state, event) cell of
// the table, with guard values drawn from a bit mask that changes every
// round so that rows at every depth of a cell fire. ns/match is the cost of
// one call; the layer's own input path (Layer.run) walks Cells the same way.
func BenchmarkMatch(b *testing.B) {
	var mask uint64 = 0x9e3779b97f4a7c15
	eval := func(g Guard) bool { return mask>>g&1 != 0 }
	calls := 0
	b.ReportAllocs()
	for b.Loop() {
		for p := range Profile(NumProfiles) {
			for s := range State(NumStates) {
				for e := range Event(NumEvents) {
					if MatchProfile(p, s, e, eval) == nil {
						b.Fatalf("no rule for %v %v/%v", p, s, e)
					}
					calls++
				}
			}
		}
		mask = mask*6364136223846793005 + 1442695040888963407
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(calls), "ns/match")
}
