// Package labtest gives tests their own lab: uniquely named namespaces that
// are removed when the test ends, skips with a reason where a lab cannot be
// built (not Linux, not root, no iproute2), and a check for the client tools
// a test runs. It imports testing, so only tests may import it: the netspec
// binary never links it (arch_test.go at the module root checks this).
package labtest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/netspec/netspec/driver/lab"
)

// testPrefix starts the namespace names this package creates: nst<pid>-<n>.
// removeDeadTestLabs relies on the pid following it.
const testPrefix = "nst"

var testLabs atomic.Uint64

// uniqueName returns a namespace prefix no other test of any live process
// uses: nst<pid>-<n>.
func uniqueName() string {
	return fmt.Sprintf("%s%d-%d", testPrefix, os.Getpid(), testLabs.Add(1))
}

// ForTest creates a uniquely named lab for a test and removes it with
// t.Cleanup. It skips the test, saying why, when not on Linux, not root, or
// when the ip command (iproute2) is missing. Labs left behind by test
// processes that died are removed first.
func ForTest(t testing.TB) *lab.Lab {
	t.Helper()
	return ForTestConfig(t, lab.Config{})
}

// ForTestConfig is ForTest for a lab with cfg's knobs (cfg.Driver =
// lab.DriverTAP asks for the TAP variant); cfg.Prefix is replaced by a unique
// test prefix.
func ForTestConfig(t testing.TB, cfg lab.Config) *lab.Lab {
	t.Helper()
	SkipUnlessLab(t)
	cfg.Prefix = uniqueName()
	l, err := lab.Up(cfg)
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

// NamespaceForTest creates a uniquely named bare network namespace for a
// test (lab.NewNamespace) and removes it, with every device in it, with
// t.Cleanup. It skips the test as ForTest does.
func NamespaceForTest(t testing.TB) *lab.Namespace {
	t.Helper()
	SkipUnlessLab(t)
	n, err := lab.NewNamespace(uniqueName() + "-ns")
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Remove(); err != nil {
			t.Errorf("lab: %v", err)
		}
	})
	return n
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

// SkipUnlessLab skips t unless labs can be built here, and removes labs left
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
