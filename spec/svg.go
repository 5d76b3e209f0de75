package spec

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os/exec"
)

// ErrNoGraphviz means Graphviz's dot command is not installed (Debian:
// apt-get install graphviz; scripts/deps.sh installs it).
var ErrNoGraphviz = errors.New("Graphviz's dot is not installed (apt-get install graphviz)")

// svgStamp is the comment RenderSVG puts in an SVG to name the Dot text it
// was drawn from: an SVG is current when its stamp matches the Dot text the
// spec gives now, whatever Graphviz version drew it. So `go generate` never
// needs Graphviz for an unchanged spec, and a test finds a stale SVG on any
// machine.
func svgStamp(dot []byte) []byte {
	return fmt.Appendf(nil, "<!-- netspec diagram source sha256:%x -->\n", sha256.Sum256(dot))
}

// RenderSVG runs Graphviz's dot on the Dot text and returns the SVG,
// stamped with the text's hash (SVGCurrent). It fails with ErrNoGraphviz
// when dot is not installed.
func RenderSVG(dot []byte) ([]byte, error) {
	path, err := exec.LookPath("dot")
	if err != nil {
		return nil, ErrNoGraphviz
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(path, "-Tsvg")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(dot), &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dot -Tsvg: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	svg := out.Bytes()
	// The stamp goes after the XML declaration, which must come first.
	at := 0
	if bytes.HasPrefix(svg, []byte("<?xml")) {
		at = bytes.IndexByte(svg, '\n') + 1
	}
	return append(append(append([]byte(nil), svg[:at]...), svgStamp(dot)...), svg[at:]...), nil
}

// SVGCurrent reports whether svg was rendered by RenderSVG from this Dot
// text.
func SVGCurrent(svg, dot []byte) bool { return bytes.Contains(svg, svgStamp(dot)) }
