package tcp

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// layersUnderTest collects every Layer the tests build, for row coverage.
var layersUnderTest []*Layer

// TestMain runs the tests and then, with -v, lists the spec rows that no
// test fired (design note N4: row coverage); when NETSPEC_RULECOV_DIR is set
// (make rule-coverage) it writes the hits there in fuzz/cover's format.
func TestMain(m *testing.M) {
	code := m.Run()
	var hits [len(Rules)]uint64
	for _, l := range layersUnderTest {
		for i, h := range l.ctr.RuleHits {
			hits[i] += h
		}
	}
	if dir := os.Getenv("NETSPEC_RULECOV_DIR"); dir != "" {
		if err := writeCoverage(filepath.Join(dir, "fsm-tcp.cov"), &hits); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if testing.Verbose() {
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

// writeCoverage writes hits as fuzz/cover does ("tcp<TAB>src<TAB>state
// event<TAB>hits"; this package cannot import fuzz/cover, which imports it).
func writeCoverage(path string, hits *[len(Rules)]uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("rule coverage: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	for i := range Rules {
		r := &Rules[i]
		fmt.Fprintf(w, "tcp\t%s\t%v %v\t%d\n", r.Src, r.State, r.Event, hits[i])
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("rule coverage: %w", err)
	}
	return nil
}
