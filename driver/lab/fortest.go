package lab

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"
)

// testPrefix starts the namespace names ForTest creates: nst<pid>-<n>.
const testPrefix = "nst"

var testLabs atomic.Uint64

// ForTest creates a uniquely named lab for a test and removes it with
// t.Cleanup. It skips the test, saying why, when not on Linux, not root, or
// when the ip command (iproute2) is missing. Labs left behind by test
// processes that died are removed first.
func ForTest(t testing.TB) *Lab {
	t.Helper()
	return ForTestConfig(t, Config{})
}

// ForTestConfig is ForTest for a lab with cfg's knobs (cfg.Driver = DriverTAP
// asks for the TAP variant); cfg.Prefix is replaced by a unique test prefix.
func ForTestConfig(t testing.TB, cfg Config) *Lab {
	t.Helper()
	SkipUnlessLab(t)
	cfg.Prefix = fmt.Sprintf("%s%d-%d", testPrefix, os.Getpid(), testLabs.Add(1))
	l, err := Up(cfg)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab: down: %v", err)
		}
	})
	return l
}

// NeedTools fails t at once, naming every tool of tools that is not on PATH,
// so that a test never runs into a timeout because a client tool is missing.
// make test installs them first (scripts/deps.sh); a plain go test does not.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing tools: %v (as root, make deps or scripts/deps.sh test installs them)", missing)
	}
}

// skipUnlessLab skips t unless labs can be built here, and removes labs left
// behind by test processes that died.
func SkipUnlessLab(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("lab: needs Linux network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("lab: needs root to create network namespaces (run the test as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("lab: needs the ip command (apt-get install iproute2)")
	}
	removeDeadTestLabs()
}
