package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheckPassesOnTheRepo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the model checker")
	}
	var out, errb bytes.Buffer
	code := run([]string{"check", "--spec", "../../spec", "--out", t.TempDir()}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"spec ../../spec/tcp.fsm: ok", "model: ", " states, ", "rules fired", "check: ok"} {
		if !strings.Contains(strings.ReplaceAll(out.String(), "spec spec/", "spec ../../spec/"), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
}

func TestCheckArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "extra"}, "unexpected argument"},
		{[]string{"check", "--bounds", "cap=x"}, "--bounds"},
		{[]string{"check", "--bounds", "colour=3"}, "unknown key"},
		{[]string{"check", "--runs", "client-server,nosuch"}, "no run named \"nosuch\""},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errb.String())
		}
	}
}

// TestCheckFailsOnUnfiredRows: without injected segments (and at tiny
// bounds) rows that must fire do not, and check exits 1 naming them; --exact
// runs without hash compaction.
func TestCheckFailsOnUnfiredRows(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the model checker")
	}
	var out, errb bytes.Buffer
	code := run([]string{"check", "--spec", "../../spec", "--out", t.TempDir(), "--exact", "--bounds", "inject=0 cap=1 loss=0 reorder=0"}, &out, &errb)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailure, out.String())
	}
	for _, want := range []string{"every-rule-fires", "gap: spec/tcp.fsm:", "RstChallenge", "bytes/state", ", exact\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
}
