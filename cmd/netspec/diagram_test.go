package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netspec/netspec/spec"
)

// TestDiagramFormats: netspec diagram prints the built-in machine as the
// committed Graphviz text (docs/diagrams), as Mermaid, and as an SVG that
// Graphviz draws and stamps with the Dot text it came from.
func TestDiagramFormats(t *testing.T) {
	for _, name := range spec.Builtins {
		code, out, stderr := runCmd("diagram", name)
		want, err := os.ReadFile(filepath.Join("..", "..", "docs", "diagrams", name+".dot"))
		if err != nil {
			t.Fatal(err)
		}
		if code != exitOK || out != string(want) {
			t.Errorf("diagram %s: exit %d (%s), output differs from docs/diagrams/%s.dot", name, code, stderr, name)
		}
	}
	code, out, _ := runCmd("diagram", "tcp", "--format", "mermaid")
	for _, want := range []string{"flowchart LR", "Closed((Closed))", `Listen -->|"SegPre"| SynReceived`, `Established -.->|"SegText"| Closed`} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("mermaid lacks %q:\n%s", want, out)
		}
	}
	if _, err := exec.LookPath("dot"); err != nil {
		if code, _, stderr := runCmd("diagram", "arp", "--format", "svg"); code != exitFailure || !strings.Contains(stderr, "Graphviz") {
			t.Errorf("svg without Graphviz: exit %d, %q", code, stderr)
		}
		t.Skip("Graphviz's dot is not installed (scripts/deps.sh test installs it): the SVG itself is not checked")
	}
	code, out, stderr := runCmd("diagram", "arp", "--format", "svg")
	m, _ := spec.Builtin("arp")
	if code != exitOK || !strings.Contains(out, "<svg") || !strings.Contains(out, ">Reachable<") || !spec.SVGCurrent([]byte(out), m.Dot()) {
		t.Errorf("svg: exit %d (%s):\n%.400s", code, stderr, out)
	}
}
