package sim

import (
	"fmt"
	"os"
	"testing"

	"github.com/netspec/netspec/fuzz/cover"
)

// TestMain registers every simulated stack for rule coverage and, when
// NETSPEC_RULECOV_DIR is set (make rule-coverage), writes the counts there.
func TestMain(m *testing.M) {
	OnNew = func(s *Sim) {
		for _, h := range s.Hosts() {
			cover.TrackStack(h.Stack)
		}
	}
	code := m.Run()
	if err := cover.WriteEnv("fuzz-sim"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
