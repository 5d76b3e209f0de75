package tcp

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testNames returns the Test and Fuzz functions declared in the _test.go
// files of the package directory dir.
func testNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in %s (%v)", dir, err)
	}
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil &&
				(strings.HasPrefix(fd.Name.Name, "Test") || strings.HasPrefix(fd.Name.Name, "Fuzz")) {
				names[fd.Name.Name] = true
			}
		}
	}
	return names
}

// TestRequirementsChecklist checks docs/rfc9293.md: all 119 requirement IDs
// of RFC 9293 Appendix B appear once, every status is known, and every row
// marked done names at least one test, each of which exists (fsm/tcp unless
// prefixed with a package path such as fsm/wire.).
func TestRequirementsChecklist(t *testing.T) {
	const root = "../.."
	f, err := os.Open(filepath.Join(root, "docs", "rfc9293.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkgs := map[string]map[string]bool{}
	lookup := func(pkg string) map[string]bool {
		if pkgs[pkg] == nil {
			pkgs[pkg] = testNames(t, filepath.Join(root, pkg))
		}
		return pkgs[pkg]
	}
	idRe := regexp.MustCompile(`^(MUST|SHLD|MAY|REC)-\d+$`)
	seen := map[string]bool{}
	count := map[string]int{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 8 {
			continue
		}
		id := strings.TrimSpace(cells[1])
		if !idRe.MatchString(id) {
			continue
		}
		if seen[id] {
			t.Errorf("line %d: %s listed twice", line, id)
		}
		seen[id] = true
		status := strings.TrimSpace(cells[5])
		count[strings.SplitN(id, "-", 2)[0]]++
		switch status {
		case "done", "partial", "todo", "n/a":
		default:
			t.Errorf("line %d: %s has unknown status %q", line, id, status)
		}
		tests := strings.TrimSpace(cells[6])
		if status == "done" && tests == "" {
			t.Errorf("line %d: %s is done but names no test", line, id)
		}
		for _, name := range strings.Split(tests, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			pkg := "fsm/tcp"
			if i := strings.LastIndex(name, "."); i >= 0 {
				pkg, name = name[:i], name[i+1:]
			}
			if !lookup(pkg)[name] {
				t.Errorf("line %d: %s names %s.%s, which does not exist", line, id, pkg, name)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// Appendix B: 69 MUST, 31 SHOULD, 18 MAY, 1 RECOMMENDED (119 IDs).
	want := map[string]int{"MUST": 69, "SHLD": 31, "MAY": 18, "REC": 1}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d %s rows, want %d", count[k], k, n)
		}
	}
}
