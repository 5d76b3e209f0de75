package tcp

import (
	"fmt"
	"os"
	"testing"
)

// layersUnderTest collects every Layer the tests build, for row coverage.
var layersUnderTest []*Layer

// TestMain runs the tests and then, with -v, lists the spec rows that no
// test fired (design note N4: row coverage).
func TestMain(m *testing.M) {
	code := m.Run()
	if testing.Verbose() {
		var hits [len(Rules)]uint64
		for _, l := range layersUnderTest {
			for i, h := range l.ctr.RuleHits {
				hits[i] += h
			}
		}
		missed := 0
		for i, h := range hits {
			if h == 0 {
				missed++
				r := &Rules[i]
				fmt.Printf("row never fired: %s %v %v (%s)\n", r.Src, r.State, r.Event, r.Anchor)
			}
		}
		fmt.Printf("row coverage: %d of %d rows fired\n", len(Rules)-missed, len(Rules))
	}
	os.Exit(code)
}
