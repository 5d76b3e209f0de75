package mutate

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/netspec/netspec/spec"
)

// door is a tiny spec: two states, two events, one guard, profiles.
const door = `machine door
package door
profiles lax strict
states Shut Open
events Push Kick
guards Locked
actions Creak Bang
reasons Jammed Ignored

on Shut Push if Locked -> - drop Jammed @ X:1
on Shut Push -> Open do Creak,Bang done @ X:2 MUST-1
on Open Push -> Shut do Bang done @ X:3
on Shut,Open Kick -> - drop Ignored @ X:4 profile=strict
on * Kick -> - done @ X:5 profile=lax
`

func parseDoor(t *testing.T, src string) *spec.Machine {
	t.Helper()
	m, err := spec.Parse("spec/door.fsm", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if errs := m.Check(); len(errs) > 0 {
		t.Fatal(errs)
	}
	return m
}

func mutations(muts []Mutant, line int) []string {
	var out []string
	for _, x := range muts {
		if x.Line == line {
			out = append(out, x.Mutation)
		}
	}
	return out
}

func TestGenerateEveryKind(t *testing.T) {
	muts := Generate(parseDoor(t, door))
	for line, want := range map[int][]string{
		// Stays in its only state: "next Shut" would be the same row.
		10: {"next Open", "negate Locked", "outcome continue", "outcome done"},
		11: {"next -", "next Shut", "drop-action Creak", "drop-action Bang", "outcome continue", "outcome drop Jammed"},
		12: {"next -", "next Open", "drop-action Bang", "outcome continue", "outcome drop Jammed"},
		// Two states: staying is not "next Shut" nor "next Open".
		13: {"next Shut", "next Open", "outcome continue", "outcome done"},
		// Kick's first drop row gives the reason.
		14: {"next Shut", "next Open", "outcome continue", "outcome drop Ignored"},
	} {
		if got := mutations(muts, line); !reflect.DeepEqual(got, want) {
			t.Errorf("line %d: mutations %q, want %q", line, got, want)
		}
	}
	for _, x := range muts {
		if x.Machine != "door" || x.File != "spec/door.fsm" || x.Orig == x.Text {
			t.Errorf("%+v", x)
		}
	}
}

func TestApplyKeepsLinesAndParses(t *testing.T) {
	m := parseDoor(t, door)
	for _, x := range Generate(m) {
		out, err := Apply([]byte(door), x)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(out, []byte("\n")) != strings.Count(door, "\n") {
			t.Fatalf("%s %s: line count changed", x.Where(), x.Mutation)
		}
		got := strings.Split(string(out), "\n")[x.Line-1]
		if got != x.Text {
			t.Fatalf("%s: line %q, want %q", x.Where(), got, x.Text)
		}
		if _, err := spec.Parse(x.File, bytes.NewReader(out)); err != nil {
			t.Errorf("%s %s: %v", x.Where(), x.Mutation, err)
		}
	}
	if _, err := Apply([]byte(door), Mutant{File: "spec/door.fsm", Line: 3, Text: "x"}); err == nil {
		t.Error("Apply replaced a line that is not a rule")
	}
}

// TestValidate: a mutant that breaks determinism or totality is invalid.
func TestValidate(t *testing.T) {
	m := parseDoor(t, door)
	byMut := map[string]Mutant{}
	for _, x := range Generate(m) {
		byMut[x.Where()+" "+x.Mutation] = x
	}
	check := func(key string, wantValid bool) {
		t.Helper()
		x, ok := byMut[key]
		if !ok {
			t.Fatalf("no mutant %s", key)
		}
		out, _ := Apply([]byte(door), x)
		if err := Validate(x.File, out); (err == nil) != wantValid {
			t.Errorf("%s: Validate = %v, want valid %v", key, err, wantValid)
		}
	}
	check("spec/door.fsm:11 drop-action Bang", true)
	// "if !Locked" before the unconditional row: still total and deterministic.
	check("spec/door.fsm:10 negate Locked", true)
	// Open is then reachable only from... nowhere: Shut has no way out.
	check("spec/door.fsm:11 next -", false)
}

func TestSampleReproducibleAndSpread(t *testing.T) {
	muts := Generate(parseDoor(t, door))
	a, b := Sample(muts, 7, 5), Sample(muts, 7, 5)
	if !reflect.DeepEqual(a, b) || len(a) != 5 {
		t.Fatalf("same seed, different samples (or wrong size %d)", len(a))
	}
	if c := Sample(muts, 8, 5); reflect.DeepEqual(a, c) {
		t.Error("seeds 7 and 8 give the same sample")
	}
	classes := map[string]bool{}
	for _, x := range a {
		classes[x.Where()+x.Kind()] = true
	}
	if len(classes) != len(a) {
		t.Errorf("a sample smaller than the classes repeats a class: %v", a)
	}
	if got := Sample(muts, 1, 0); len(got) != len(muts) {
		t.Errorf("Sample(0) = %d mutants, want all %d", len(got), len(muts))
	}
	big := Sample(muts, 1, len(muts)-1)
	seen := map[string]bool{}
	for i, x := range big {
		if seen[x.Key()] {
			t.Errorf("mutant drawn twice: %s", x.Key())
		}
		seen[x.Key()] = true
		if i > 0 && big[i-1].Line > x.Line {
			t.Error("sample not in file order")
		}
	}
}

func TestWordDiff(t *testing.T) {
	for _, c := range []struct{ a, b, want string }{
		{"on A E -> B do X,Y done @ R", "on A E -> B do X done @ R", "on A E -> B do X[-,Y-] done @ R"},
		{"on A E -> B do X done @ R", "on A E -> B done @ R", "on A E -> B [-do X -]done @ R"},
		{"on A E if G -> - done @ R", "on A E if !G -> - done @ R", "on A E if [-G-]{+!G+} -> - done @ R"},
		{"on A E -> - done @ R", "on A E -> - drop Q @ R", "on A E -> - [-done-]{+drop Q+} @ R"},
	} {
		if got := WordDiff(c.a, c.b); got != c.want {
			t.Errorf("WordDiff(%q, %q) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
}

// TestRepoSpecsRoundTrip: every row of spec/*.fsm renders to a line the
// parser reads back to the same rule, each row head names one row (the
// equivalence file relies on it), and every mutant applies and parses.
func TestRepoSpecsRoundTrip(t *testing.T) {
	files, err := filepath.Glob("../../spec/*.fsm")
	if err != nil || len(files) == 0 {
		t.Fatal("no specs", err)
	}
	for _, f := range files {
		m, err := spec.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		heads := map[string]int{}
		for _, row := range Rows(m) {
			if prev, dup := heads[row.Head()]; dup {
				t.Errorf("%s: lines %d and %d have the same head %q", m.File, prev, row.Rule.Line, row.Head())
			}
			heads[row.Head()] = row.Rule.Line
			back, err := spec.Parse(m.File, strings.NewReader("machine x\npackage x\n"+row.Text()))
			if err != nil {
				t.Fatalf("%s:%d: %v", m.File, row.Rule.Line, err)
			}
			var events []string
			for _, r := range back.Rules {
				events = append(events, r.Event)
			}
			got, want := back.Rules[0], row.Rule
			got.Line, got.Src, got.States = want.Line, want.Src, want.States
			if !reflect.DeepEqual(got, want) || !slices.Equal(events, row.Events) {
				t.Errorf("%s:%d: round trip\n got %+v %v\nwant %+v %v", m.File, row.Rule.Line, got, events, want, row.Events)
			}
		}
		for _, x := range Generate(m) {
			out, err := Apply(src, x)
			if err == nil {
				_, err = spec.Parse(x.File, bytes.NewReader(out))
			}
			if err != nil {
				t.Errorf("%s %s: %v", x.Where(), x.Mutation, err)
			}
		}
	}
}
