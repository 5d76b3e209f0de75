package cover

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/spec"
)

// repoRoot is the module root, relative to this package.
const repoRoot = "../.."

// dropAssertions returns the text of every test in the repository that can
// assert a drop counter: Go test files and the scenario scripts.
func dropAssertions(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, ".pkt")) {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		b.Write(src)
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// dropRefs are the spellings under which a test asserts machine m's drop
// counter for reason r: the generated Go constant (<Prefix>Drop<Reason>, or
// Drop<Reason> for tcp), and for tcp a scenario script's "drops.<Reason>".
func dropRefs(m *spec.Machine, r string) *regexp.Regexp {
	alts := []string{`\b` + regexp.QuoteMeta(m.Prefix+"Drop"+r) + `\b`}
	if m.Name == "tcp" {
		alts = append(alts, `\bdrops\.`+regexp.QuoteMeta(r)+`\b`)
	}
	return regexp.MustCompile(strings.Join(alts, "|"))
}

// fireable reports whether some test can fire spec row r in at least one of
// its cells: a row every cell of which Row.Why excuses (a SEGMENT ARRIVES
// cell the pipeline never runs, an allow-listed cell) cannot be asserted.
func fireable(m *spec.Machine, r *spec.Rule) bool {
	for _, st := range r.States {
		row := Row{Machine: m.Name, Src: r.Src, Cell: st + " " + r.Event, Anchor: r.Anchor, Impossible: r.Outcome == spec.Impossible}
		if m.Name == "tcp" {
			for i := range tcp.Rules {
				if g := &tcp.Rules[i]; g.Src == r.Src && g.State.String() == st {
					row.Rule = g
				}
			}
		}
		if row.Why() == "" {
			return true
		}
	}
	return false
}

// TestEveryDropReasonAsserted: every reason a drop row of a machine in
// spec/ counts under, where some test can fire the row, is asserted by at
// least one test (issue 12): a Go test
// names its generated constant, or a scenario script asserts it with
// "drops.<Reason>". A drop row whose counter no test reads could become a
// done row, or count under the wrong reason, and nothing would notice.
func TestEveryDropReasonAsserted(t *testing.T) {
	tests := dropAssertions(t)
	for _, name := range []string{"tcp", "ipv4", "frag", "arp"} {
		m, err := spec.Load(filepath.Join(repoRoot, "spec", name+".fsm"))
		if err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, r := range m.Rules {
			if r.Outcome == spec.Drop && fireable(m, &r) && !slices.Contains(reasons, r.Reason) {
				reasons = append(reasons, r.Reason)
			}
		}
		if len(reasons) == 0 {
			t.Errorf("%s: no drop rows found: the gate checks nothing", name)
		}
		for _, r := range reasons {
			if !dropRefs(m, r).MatchString(tests) {
				t.Errorf("%s: drop reason %s (rows of %s) is asserted by no test", name, r, m.File)
			}
		}
	}
}

// TestDropRefs: the spellings the gate accepts, and what it does not.
func TestDropRefs(t *testing.T) {
	tcpM := &spec.Machine{Name: "tcp"}
	frag := &spec.Machine{Name: "frag", Prefix: "Frag"}
	for _, c := range []struct {
		m    *spec.Machine
		r    string
		text string
		want bool
	}{
		{tcpM, "PAWS", "r.dropped(DropPAWS, 1)", true},
		{tcpM, "PAWS", "%{ assert drops.PAWS == 1 }%", true},
		{tcpM, "PAWS", "DropPAWSx", false},
		{tcpM, "OutOfWindow", "RstOutOfWindow", false},
		{frag, "Late", "c.Frag[FragDropLate]", true},
		{frag, "Late", "DropLate", false},
	} {
		if got := dropRefs(c.m, c.r).MatchString(c.text); got != c.want {
			t.Errorf("%s %s in %q: %v, want %v", c.m.Name, c.r, c.text, got, c.want)
		}
	}
}
