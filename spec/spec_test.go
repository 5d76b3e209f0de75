package spec

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

const header = "machine t\npackage t\nprefix T\n"

func parse(t *testing.T, src string) *Machine {
	t.Helper()
	m, err := Parse("spec/t.fsm", strings.NewReader(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func TestParseRule(t *testing.T) {
	m := parse(t, header+`
states A B   # comment
states C
events E F
guards G H
actions X Y
reasons R
group AB = A, B
on AB E if G, !H -> C do X, Y drop R @ RFC1:2.3 MUST-1 SHOULD-2
on * E -> - continue @ RFC1:2.4
`)
	if m.Name != "t" || m.Package != "t" || m.Prefix != "T" {
		t.Fatalf("header: %+v", m)
	}
	if got := strings.Join(m.States, " "); got != "A B C" {
		t.Fatalf("states %q", got)
	}
	if len(m.Rules) != 2 {
		t.Fatalf("%d rules", len(m.Rules))
	}
	r := m.Rules[0]
	if r.Src != "spec/t.fsm:12" || r.Line != 12 {
		t.Errorf("src %q line %d", r.Src, r.Line)
	}
	if strings.Join(r.States, ",") != "A,B" || r.Event != "E" || r.Next != "C" {
		t.Errorf("rule %+v", r)
	}
	if len(r.Conds) != 2 || r.Conds[0] != (Cond{"G", false}) || r.Conds[1] != (Cond{"H", true}) {
		t.Errorf("conds %+v", r.Conds)
	}
	if strings.Join(r.Actions, ",") != "X,Y" || r.Outcome != Drop || r.Reason != "R" {
		t.Errorf("actions/outcome %+v", r)
	}
	if r.Anchor != "RFC1:2.3" || strings.Join(r.Reqs, " ") != "MUST-1 SHOULD-2" {
		t.Errorf("anchor %q reqs %q", r.Anchor, r.Reqs)
	}
	r = m.Rules[1]
	if strings.Join(r.States, ",") != "A,B,C" || r.Next != "" || r.Outcome != Continue || r.NextFor("B") != "B" {
		t.Errorf("star rule %+v", r)
	}
}

func TestParseErrorsCarryLine(t *testing.T) {
	for _, tc := range []struct{ name, src, line string }{
		{"unknown directive", header + "bogus x\n", ":4:"},
		{"no arrow", header + "on A E done @ X\n", ":4:"},
		{"no outcome", header + "on A E -> B @ X\n", ":4:"},
		{"drop without reason", header + "on A E -> B drop @ X\n", ":4:"},
		{"no anchor", header + "on A E -> B done\n", ":4:"},
		{"bad outcome", header + "on A E -> B finish @ X\n", ":4:"},
		{"bad group", header + "group G A,B\n", ":4:"},
		{"missing package", "machine t\nstates A\n", ":2:"},
		{"double machine", header + "machine u\n", ":4:"},
		{"bad ident", header + "states 9lives\n", ":4:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("spec/t.fsm", strings.NewReader(tc.src))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "spec/t.fsm"+tc.line) {
				t.Fatalf("error %q lacks file:line %s or ErrSyntax", err, tc.line)
			}
		})
	}
}

// good is a small valid machine; each TestCheck case breaks it one way.
const good = header + `
states A B
events E F
guards G
actions X
reasons R
on A E if G -> B do X done @ S:1
on A E -> - drop R @ S:2
on A F -> - done @ S:3
on B E,F -> A continue @ S:4
`

func TestCheckGood(t *testing.T) {
	if errs := parse(t, good).Check(); len(errs) != 0 {
		t.Fatalf("unexpected problems: %v", errs)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"undeclared state", strings.Replace(good, "on A F", "on Z F", 1), "spec/t.fsm:12: undeclared state or group Z"},
		{"undeclared event", good + "on A Q -> - done @ S:9\n", "undeclared event Q"},
		{"undeclared guard", strings.Replace(good, "if G ->", "if !K ->", 1), "spec/t.fsm:10: undeclared guard K"},
		{"undeclared action", strings.Replace(good, "do X", "do X,W", 1), "undeclared action W"},
		{"undeclared reason", strings.Replace(good, "drop R", "drop Q", 1), "undeclared reason Q"},
		{"undeclared next", strings.Replace(good, "-> B do", "-> Q do", 1), "undeclared next state Q"},
		{"duplicate declaration", strings.Replace(good, "states A B", "states A B A", 1), "state A already declared"},
		{"empty cell", strings.Replace(good, "on A F -> - done @ S:3\n", "", 1), "cell (A, F) has no rule"},
		{"not total", strings.Replace(good, "on A E -> - drop R @ S:2\n", "", 1), "spec/t.fsm:10: cell (A, E) does not end in an unconditional rule"},
		{"shadowed", good + "on A F if G -> - done @ S:9\n", "spec/t.fsm:14: rule is shadowed in cell (A, F) by the unconditional rule at line 12"},
		{"duplicate conditions", strings.Replace(good, "on A E -> - drop R", "on A E if G -> - drop R @ S:2\non A E -> - drop R", 1), "same conditions [G] as line 10"},
		{"contradiction", strings.Replace(good, "if G ->", "if G,!G ->", 1), "condition G and !G can never both hold"},
		{"unreachable", strings.Replace(good, "-> B do X", "-> - do X", 1), "state B is unreachable from the initial state A"},
		{"trap", strings.Replace(good, "on B E,F -> A continue", "on B E,F -> - continue", 1), "state B is a trap"},
		{"group of unknown", good + "group Q = A,Z\n", "group Q: undeclared state Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := parse(t, tc.src).Check()
			for _, e := range errs {
				if strings.Contains(e.Error(), tc.want) {
					return
				}
			}
			t.Fatalf("want a problem containing %q, got %v", tc.want, errs)
		})
	}
}

func TestCellsOrder(t *testing.T) {
	m := parse(t, good)
	c := m.Cells()[0][0]
	if len(c.Rules) != 2 || c.Rules[0].Line != 10 || c.Rules[1].Line != 11 {
		t.Fatalf("cell (A,E): %+v", c.Rules)
	}
}

func TestModulePath(t *testing.T) {
	abs, _ := filepath.Abs("doc.go")
	if got := ModulePath(abs); got != "spec/doc.go" {
		t.Fatalf("ModulePath(%s) = %q", abs, got)
	}
	if got := ModulePath("../spec/doc.go"); got != "spec/doc.go" {
		t.Fatalf("ModulePath(../spec/doc.go) = %q", got)
	}
}

// TestRepoSpecs checks every spec/*.fsm in the repository: a spec with any
// problem fails the build's tests.
func TestRepoSpecs(t *testing.T) {
	files, err := filepath.Glob("*.fsm")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no spec/*.fsm yet")
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			m, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if m.File != "spec/"+f {
				t.Errorf("File = %q, want spec/%s", m.File, f)
			}
			for _, e := range m.Check() {
				t.Error(e)
			}
		})
	}
}

// TestImpossibleRow: an impossible row parses to the Impossible outcome and
// may end a cell after conditional rows; one with conditions, a next state,
// actions, requirements or a profile tag is an error naming the line.
func TestImpossibleRow(t *testing.T) {
	base := header + "states A B\nevents E F\nguards G\nactions X\nreasons R\n" +
		"on A,B F -> - done @ X\non B E -> A done @ X\n"
	m := parse(t, base+"on A E if G -> B do X done @ X\non A E -> - impossible @ NETSPEC:t\n")
	if errs := m.Check(); len(errs) != 0 {
		t.Fatalf("Check: %v", errs)
	}
	r := m.Rules[len(m.Rules)-1]
	if r.Outcome != Impossible || r.Outcome.String() != "impossible" || r.Next != "" || r.Reason != "" {
		t.Fatalf("impossible row parsed as %+v", r)
	}
	for _, tc := range []struct{ name, row, want string }{
		{"conditions", "on A E if G -> - impossible @ X\non A E -> B done @ X", "has conditions"},
		{"next state", "on A E -> B impossible @ X", "has a next state"},
		{"actions", "on A E -> - do X impossible @ X", "has actions"},
		{"requirements", "on A E -> - impossible @ X MUST-1", "names requirements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := parse(t, base+tc.row+"\n")
			errs := m.Check()
			if len(errs) == 0 || !strings.Contains(errs[0].Error(), "spec/t.fsm:11: impossible row "+tc.want) {
				t.Fatalf("Check = %v, want line 11 %q", errs, tc.want)
			}
		})
	}
	if _, err := Parse("spec/t.fsm", strings.NewReader(base+"on A E -> - impossible R @ X\n")); err == nil {
		t.Error("impossible with a reason parsed")
	}
}
