//go:build linux

package lab

import "testing"

func TestRunInMissingNS(t *testing.T) {
	l := &Lab{cfg: Config{Prefix: "netspec-test-missing-xyz"}}
	if err := l.RunInServerNS(func() error { return nil }); err == nil {
		t.Fatal("RunInServerNS in a missing namespace succeeded")
	}
}
