package mutate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netspec/netspec/spec"
)

func TestParseEquivalences(t *testing.T) {
	src := `# machine | row head | mutation | reason

door | on Shut Push   if  Locked | outcome  done | a counter no test reads
door | on Shut , Open Kick profile=strict | next Shut | Kick is never raised
`
	es, err := ParseEquivalences("eq", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Fatalf("%d entries", len(es))
	}
	if got := es[0].Key(); got != "door | on Shut Push if Locked | outcome done" {
		t.Errorf("key %q", got)
	}
	if es[0].Line != 3 || es[0].Reason != "a counter no test reads" {
		t.Errorf("%+v", es[0])
	}
	if got := es[1].Head; got != "on Shut,Open Kick profile=strict" {
		t.Errorf("head not normalised: %q", got)
	}
	for _, c := range []struct{ src, want string }{
		{"door | on A E | next B", "eq:1: want: machine | row head | mutation | reason"},
		{"door | on A E | next B |  ", "eq:1: no reason given"},
		{"door | A E | next B | r", `eq:1: row head "A E" does not start with "on "`},
		{"door | on A E -> B | next B | r", "give the row only up to"},
		{"door | on A E | swap B | r", `eq:1: unknown mutation kind "swap"`},
		{"door | on A E | negate | r", `mutation "negate" has no argument`},
		{"do or | on A E | next B | r", "is not a name"},
		{"door | on A E | next B | r\ndoor | on A  E | next B | s", "eq:2: mutant already argued at line 1"},
	} {
		_, err := ParseEquivalences("eq", strings.NewReader(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.src, err, c.want)
		}
	}
}

// TestRepoEquivalences: the committed equivalence file parses and each entry
// names a row and mutation of the current specs (a stale entry is also
// reported by every run, but this catches it in make test).
func TestRepoEquivalences(t *testing.T) {
	f, err := os.Open("../../spec/mutants.equivalent")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	es, err := ParseEquivalences("spec/mutants.equivalent", f)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../spec/*.fsm")
	var all []Mutant
	for _, p := range files {
		all = append(all, Generate(loadSpec(t, p))...)
	}
	for _, s := range ApplyEquivalences(nil, all, es) {
		t.Errorf("spec/mutants.equivalent:%d: %s: %s", s.Entry.Line, s.Entry.Key(), s.Why)
	}
}

func TestApplyEquivalences(t *testing.T) {
	muts := Generate(parseDoor(t, door))
	find := func(line int, mutation string) Mutant {
		for _, x := range muts {
			if x.Line == line && x.Mutation == mutation {
				return x
			}
		}
		t.Fatalf("no mutant %d %s", line, mutation)
		return Mutant{}
	}
	surv, killed, unrun := find(10, "outcome done"), find(12, "drop-action Bang"), find(11, "next -")
	results := []Result{{Mutant: surv, Status: Survived}, {Mutant: killed, Status: Killed, Package: "p", Detail: "--- FAIL: TestX"}}
	entry := func(line int, x Mutant) Equivalence {
		return Equivalence{Line: line, Machine: x.Machine, Head: x.Head, Mutation: x.Mutation, Reason: "because"}
	}
	stale := ApplyEquivalences(results, muts, []Equivalence{
		entry(1, surv), entry(2, killed), entry(3, unrun),
		{Line: 4, Machine: "door", Head: "on Shut Push", Mutation: "next Nowhere", Reason: "r"},
		{Line: 5, Machine: "other", Head: "on A E", Mutation: "next B", Reason: "another machine: not judged"},
	})
	if results[0].Status != Equivalent || results[0].Detail != "because" {
		t.Errorf("argued survivor: %+v", results[0])
	}
	if results[1].Status != Killed {
		t.Errorf("killed mutant changed: %+v", results[1])
	}
	var lines []int
	for _, s := range stale {
		lines = append(lines, s.Entry.Line)
	}
	if len(lines) != 2 || lines[0] != 2 || lines[1] != 4 {
		t.Fatalf("stale entries at lines %v, want [2 4]: %+v", lines, stale)
	}
	if !strings.Contains(stale[0].Why, "killed") || !strings.Contains(stale[1].Why, "no such row") {
		t.Errorf("reasons: %+v", stale)
	}
}

func TestReportFormat(t *testing.T) {
	muts := Generate(parseDoor(t, door))
	var results []Result
	for i, st := range []Status{Killed, Killed, Survived, Equivalent, Invalid, Timeout, SameTables, NotRun} {
		r := Result{Mutant: muts[i], Status: st}
		if st == Killed {
			r.Package, r.Detail = "fsm/door", "--- FAIL: TestDoor"
		}
		results = append(results, r)
	}
	var b strings.Builder
	rep := Report{Header: []string{"spec mutation testing: test"}, Results: results,
		Stale: []Stale{{Equivalence{Line: 9, Machine: "door", Head: "on A E", Mutation: "next B"}, "no such row or mutation in the spec"}}}
	if err := rep.Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	x := muts[2]
	for _, want := range []string{
		"spec mutation testing: test\n",
		"machine   total killed timeout survived equivalent same-tables invalid not-run   score\n",
		// 2 killed + 1 timeout of 4 scored.
		"door          8      2       1        1          1           1       1       1   75.0%\n",
		"     2  fsm/door\n",
		"survivors (1):\n  " + x.Where() + "  " + x.Mutation + "\n      " + x.Diff() + "\n",
		"stale equivalence entries (1):\n  line 9: door | on A E | next B: no such row or mutation in the spec\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "all mutants") {
		t.Error("mutants listed without Verbose")
	}
	rep.Verbose = true
	b.Reset()
	rep.Write(&b)
	if !strings.Contains(b.String(), "all mutants (8):") || !strings.Contains(b.String(), "fsm/door: --- FAIL: TestDoor") {
		t.Errorf("verbose report:\n%s", b.String())
	}
}

func TestFirstFailure(t *testing.T) {
	out := `=== RUN   TestA
--- FAIL: TestScenarios (0.50s)
    --- FAIL: TestScenarios/close.pkt (0.01s)
        close.pkt:19: outbound segment differs
        more
FAIL
FAIL	github.com/netspec/netspec/fuzz/scenario	0.6s
`
	if got, want := firstFailure([]byte(out)), "--- FAIL: TestScenarios/close.pkt (0.01s) close.pkt:19: outbound segment differs"; got != want {
		t.Errorf("firstFailure = %q, want %q", got, want)
	}
	if got := firstFailure([]byte("panic: boom\n\ngoroutine 1\n")); got != "panic: boom" {
		t.Errorf("panic: %q", got)
	}
}

func loadSpec(t *testing.T, path string) *spec.Machine {
	t.Helper()
	m, err := spec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
