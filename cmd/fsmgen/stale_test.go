package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/netspec/netspec/spec"
)

// Generated files live where docs/architecture.md says: the table in
// fsm/<package>/z<machine>_gen.go and the diagram in docs/diagrams/<machine>.dot.
func generatedPaths(root string, m *spec.Machine) (goFile, dotFile string) {
	return filepath.Join(root, "fsm", m.Package, "z"+m.Name+"_gen.go"),
		filepath.Join(root, "docs", "diagrams", m.Name+".dot")
}

// TestGeneratedFilesFresh regenerates every spec/*.fsm in memory and fails when
// a committed table or diagram is missing or differs: a spec change must be
// committed together with its regenerated files (go generate ./...).
func TestGeneratedFilesFresh(t *testing.T) {
	root := filepath.Join("..", "..")
	specs, err := filepath.Glob(filepath.Join(root, "spec", "*.fsm"))
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) == 0 {
		t.Skip("no spec/*.fsm yet")
	}
	for _, p := range specs {
		t.Run(filepath.Base(p), func(t *testing.T) {
			m, err := spec.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			src, err := Generate(m)
			if err != nil {
				t.Fatal(err)
			}
			goFile, dotFile := generatedPaths(root, m)
			for _, f := range []struct {
				path string
				want []byte
			}{{goFile, src}, {dotFile, Dot(m)}} {
				got, err := os.ReadFile(f.path)
				if err != nil {
					t.Errorf("%s: %v (run go generate ./fsm/%s)", f.path, err, m.Package)
					continue
				}
				if !bytes.Equal(got, f.want) {
					t.Errorf("%s is stale: regenerate from %s (go generate ./fsm/%s) and commit\n%s", f.path, m.File, m.Package, firstDiff(got, f.want))
				}
			}
		})
	}
}
