package fsm

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The packages fsm/ may import (fsm/ itself and the pure standard packages:
// no os, syscall, net, sync, unsafe, math/rand, crypto/rand) are checked on
// the import graph by arch_test.go at the module root. This test checks what
// an import graph cannot see: calls that read the real clock or the global
// random source through packages fsm may import.

// forbiddenCalls are package-level functions that read real time or global randomness.
var forbiddenCalls = map[string]map[string]bool{
	"time": {"Now": true, "Sleep": true, "After": true, "AfterFunc": true, "NewTimer": true, "NewTicker": true, "Tick": true, "Since": true, "Until": true},
	"math/rand/v2": {"Int": true, "IntN": true, "Int32": true, "Int32N": true, "Int64": true, "Int64N": true,
		"Uint32": true, "Uint64": true, "UintN": true, "Uint32N": true, "Uint64N": true, "Float32": true, "Float64": true,
		"Perm": true, "Shuffle": true, "N": true, "ExpFloat64": true, "NormFloat64": true, "Uint": true},
}

// TestPurity checks that no non-test file under fsm/ calls a function that
// reads the real clock or the global random source.
func TestPurity(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		checked++
		local := map[string]string{} // local name -> import path
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			name := p[strings.LastIndex(p, "/")+1:]
			if p == "math/rand/v2" {
				name = "rand"
			}
			if imp.Name != nil {
				name = imp.Name.Name
			}
			local[name] = p
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			if calls := forbiddenCalls[local[id.Name]]; calls[sel.Sel.Name] {
				t.Errorf("%s: %s.%s reads real time or global randomness; take it as a parameter", fset.Position(sel.Pos()), id.Name, sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no files checked")
	}
}
