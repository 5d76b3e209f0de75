package ip

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Rule hits of every Receiver newRx builds, for make rule-coverage.
var (
	covRx   [len(RxRules)]uint64
	covFrag [len(FragRules)]uint64
)

// TestMain runs the tests and, when NETSPEC_RULECOV_DIR is set (make
// rule-coverage), writes the rows they fired there in fuzz/cover's format
// ("machine<TAB>src<TAB>state event<TAB>hits"; this package cannot import
// fuzz/cover, which imports it).
func TestMain(m *testing.M) {
	code := m.Run()
	if dir := os.Getenv("NETSPEC_RULECOV_DIR"); dir != "" {
		if err := writeCoverage(filepath.Join(dir, "fsm-ip.cov")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func writeCoverage(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("rule coverage: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	for i := range RxRules {
		r := &RxRules[i]
		fmt.Fprintf(w, "ipv4\t%s\t%v %v\t%d\n", r.Src, r.State, r.Event, covRx[i])
	}
	for i := range FragRules {
		r := &FragRules[i]
		fmt.Fprintf(w, "frag\t%s\t%v %v\t%d\n", r.Src, r.State, r.Event, covFrag[i])
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("rule coverage: %w", err)
	}
	return nil
}
