package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
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
			}{{goFile, src}, {dotFile, m.Dot()}} {
				got, err := os.ReadFile(f.path)
				if err != nil {
					t.Errorf("%s: %v (run go generate ./fsm/%s)", f.path, err, m.Package)
					continue
				}
				if !bytes.Equal(got, f.want) {
					t.Errorf("%s is stale: regenerate from %s (go generate ./fsm/%s) and commit\n%s", f.path, m.File, m.Package, firstDiff(got, f.want))
				}
			}
			// The SVG beside the diagram was drawn from it (whatever
			// Graphviz drew it: its stamp names the Dot text's hash).
			svgFile := strings.TrimSuffix(dotFile, ".dot") + ".svg"
			if svg, err := os.ReadFile(svgFile); err != nil || !spec.SVGCurrent(svg, m.Dot()) {
				t.Errorf("%s is missing or stale (%v): redraw it with go generate ./fsm/%s (needs Graphviz's dot) and commit", svgFile, err, m.Package)
			}
		})
	}
}

// TestReadmeShowsTCPMermaid: the README's Mermaid diagram of the TCP machine
// is the one spec/tcp.fsm gives now (netspec diagram tcp --format mermaid).
// It lives here, beside the other generated-file checks, since fuzz/mutate's
// suites leave this package out: a mutant need not redraw the README.
func TestReadmeShowsTCPMermaid(t *testing.T) {
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := spec.Load(filepath.Join(root, "spec", "tcp.fsm"))
	if err != nil {
		t.Fatal(err)
	}
	block := "```mermaid\n" + string(m.Mermaid()) + "```\n"
	if !strings.Contains(string(readme), block) {
		t.Errorf("README.md lacks the current TCP diagram; replace its mermaid block with the output of\n  go run ./cmd/netspec diagram tcp --format mermaid\n%s", block)
	}
}
