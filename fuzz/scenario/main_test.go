package scenario

import (
	"fmt"
	"os"
	"testing"

	"github.com/netspec/netspec/fuzz/cover"
)

// TestMain runs the tests and, when NETSPEC_RULECOV_DIR is set (make
// rule-coverage), writes the rows the scripts fire there, so that the
// merged report counts them with the simulator's.
func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getenv("NETSPEC_RULECOV_DIR") != "" {
		hits, err := RuleHits(scenarioDir, Options{Seed: 1})
		if err == nil {
			for i, h := range hits {
				cover.Global.TCP[i] += h
			}
			err = cover.WriteEnv("fuzz-scenario")
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}
