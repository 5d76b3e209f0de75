package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/driver/progress"
)

// The output of a go test -fuzz run that found a failing input (Go 1.26).
const crashOutput = `fuzz: elapsed: 9s, execs: 51234 (5688/sec), new interesting: 3 (total: 80)
--- FAIL: FuzzConnProgram (12.34s)
    --- FAIL: FuzzConnProgram (0.00s)
        fuzz_test.go:123: step 1 op 7: tcp invariant violated: CloseWait: out-of-order range 0 [1002,1050) not after 1002

    Failing input written to testdata/fuzz/FuzzConnProgram/5c1ab9f0e3c5e6d4
    To re-run:
    go test -run=FuzzConnProgram/5c1ab9f0e3c5e6d4
FAIL
exit status 1
FAIL	github.com/netspec/netspec/fuzz/stackfuzz	12.456s
`

func TestParseFailureKeepsTheInput(t *testing.T) {
	input, detail := parseFailure([]byte(crashOutput))
	if input != "testdata/fuzz/FuzzConnProgram/5c1ab9f0e3c5e6d4" {
		t.Errorf("input %q", input)
	}
	if !strings.HasPrefix(detail, "--- FAIL: FuzzConnProgram (12.34s)") || !strings.Contains(detail, "tcp invariant violated") {
		t.Errorf("detail:\n%s", detail)
	}
	if n := strings.Count(detail, "\n") + 1; n > 12 {
		t.Errorf("detail has %d lines, want at most 12", n)
	}
}

func TestParseFailureWithoutInput(t *testing.T) {
	out := "# github.com/netspec/netspec/fuzz/stackfuzz\nfuzz_test.go:9:2: undefined: x\nFAIL\tgithub.com/netspec/netspec/fuzz/stackfuzz [build failed]\n"
	input, detail := parseFailure([]byte(out))
	if input != "" || !strings.Contains(detail, "undefined: x") {
		t.Errorf("input %q detail %q", input, detail)
	}
}

func TestRotationPositionPersists(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "next")
	if got := readNext(p); got != 0 {
		t.Errorf("no file: %d", got)
	}
	writeNext(p, 7)
	if got := readNext(p); got != 7 {
		t.Errorf("after writeNext(7): %d", got)
	}
	os.WriteFile(p, []byte("junk"), 0o644)
	if got := readNext(p); got != 0 {
		t.Errorf("junk: %d", got)
	}
}

func TestDeclaresFuzz(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a_test.go"), []byte("package a\n\n// func FuzzNot in a comment\nfunc TestA(t *testing.T) {}\n"), 0o644)
	if declaresFuzz(dir) {
		t.Error("a package without a fuzz target")
	}
	os.WriteFile(filepath.Join(dir, "b_test.go"), []byte("package a\n\nfunc FuzzB(f *testing.F) {}\n"), 0o644)
	if !declaresFuzz(dir) {
		t.Error("a package with FuzzB")
	}
}

func TestStatusLineOnATerminal(t *testing.T) {
	var out strings.Builder
	st := &status{out: &out, meter: progress.NewOn(&out, true), label: "[1/13] FuzzConnProgram",
		turn: time.Now(), ft: time.Minute, deadline: time.Now().Add(time.Hour)}
	// Written in pieces that split lines, as a pipe delivers them.
	st.Write([]byte(crashOutput[:30]))
	st.Write([]byte(crashOutput[30:]))
	st.Close()
	got := out.String()
	if strings.Contains(got, "fuzz: elapsed") {
		t.Errorf("the periodic report was printed as it came:\n%q", got)
	}
	if !strings.Contains(got, "[1/13] FuzzConnProgram") || !strings.Contains(got, "execs 51.2k (5.69k/s)  new 3, corpus 80") {
		t.Errorf("no status line from the report:\n%q", got)
	}
	if !strings.Contains(got, "\n    Failing input written to testdata/fuzz/FuzzConnProgram/5c1ab9f0e3c5e6d4\n") {
		t.Errorf("the failure's lines were not printed:\n%q", got)
	}
}

func TestStatusPassesEverythingOffATerminal(t *testing.T) {
	var out strings.Builder
	st := &status{out: &out, meter: progress.NewOn(&out, false)}
	st.Write([]byte(crashOutput))
	st.Close()
	if out.String() != crashOutput {
		t.Errorf("output changed off a terminal:\n%q", out.String())
	}
}
