package fsm

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fsmModule is the import path prefix of the fsm packages.
const fsmModule = "github.com/netspec/netspec/fsm/"

// mayImport lists, for each package under fsm/, the fsm packages its
// non-test files may import: the layering docs/architecture.md ("What each
// fsm package owns") describes. The leaves import no fsm package; link and
// ip know nothing of each other (ip.Link is an interface fsm/stack fills
// with a link.Port) nor of the transports; only stack ties the layers
// together. A package missing here fails the test: add it, and to the doc.
var mayImport = map[string][]string{
	"fsmrt":   nil,
	"wire":    nil,
	"seqnum":  nil,
	"siphash": nil,
	"sock":    nil,
	"link":    {"fsmrt", "wire"},
	"ip":      {"fsmrt", "siphash", "wire"},
	"tcp":     {"fsmrt", "seqnum", "siphash", "sock", "wire"},
	"udp":     {"sock", "wire"},
	"stack":   {"fsmrt", "wire", "seqnum", "siphash", "sock", "link", "ip", "tcp", "udp"},
}

// TestLayering checks every non-test file under fsm/ against mayImport.
func TestLayering(t *testing.T) {
	fset := token.NewFileSet()
	seen := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if d.IsDir() || dir == "." || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		allowed, ok := mayImport[dir]
		if !ok {
			t.Errorf("fsm/%s is not in mayImport: say what it may import (and write it in docs/architecture.md)", dir)
			return filepath.SkipDir
		}
		seen[dir] = true
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if dep, ok := strings.CutPrefix(p, fsmModule); ok && !slices.Contains(allowed, dep) {
				t.Errorf("%s imports fsm/%s: fsm/%s may import only %v", path, dep, dir, allowed)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir := range mayImport {
		if !seen[dir] {
			t.Errorf("mayImport lists fsm/%s, which has no source files", dir)
		}
	}
}
