// Command fsmgen turns a state-machine spec (spec/*.fsm) into a Go table and,
// optionally, a Graphviz state diagram (X.dot) with its SVG rendering beside
// it (X.svg). It is run from //go:generate lines:
//
//	go run ./cmd/fsmgen -in spec/ipv4.fsm -out fsm/ip/zipv4_gen.go -dot docs/diagrams/ipv4.dot
//
// It refuses to generate from a spec that fails spec.Check, printing every
// problem with its file and line. The SVG is drawn by Graphviz's dot only
// when the diagram changed (the SVG carries the hash of the Dot text it was
// drawn from, spec.SVGCurrent), so an unchanged spec regenerates on a
// machine without Graphviz; a changed one there leaves the SVG stale with a
// warning, and TestGeneratedFilesFresh fails until it is redrawn.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/netspec/netspec/spec"
)

func main() {
	in := flag.String("in", "", "spec file (spec/*.fsm)")
	out := flag.String("out", "", "generated Go file")
	dot := flag.String("dot", "", "generated Graphviz file (optional)")
	flag.Parse()
	if *in == "" || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: fsmgen -in spec/X.fsm -out path/zX_gen.go [-dot docs/diagrams/X.dot]")
		os.Exit(2)
	}
	if err := run(*in, *out, *dot); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(in, out, dot string) error {
	m, err := spec.Load(in)
	if err != nil {
		return fmt.Errorf("fsmgen: %w", err)
	}
	if errs := m.Check(); len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(os.Stderr, e)
		}
		return fmt.Errorf("fsmgen: %s: %d problems", m.File, len(errs))
	}
	src, err := Generate(m)
	if err != nil {
		return err
	}
	if err := writeIfChanged(out, src); err != nil {
		return err
	}
	if dot != "" {
		if err := writeIfChanged(dot, m.Dot()); err != nil {
			return err
		}
		return writeSVG(strings.TrimSuffix(dot, ".dot")+".svg", m.Dot())
	}
	return nil
}

// writeSVG redraws path from the Dot text unless it is current already.
func writeSVG(path string, dot []byte) error {
	if old, err := os.ReadFile(path); err == nil && spec.SVGCurrent(old, dot) {
		return nil
	}
	svg, err := spec.RenderSVG(dot)
	if errors.Is(err, spec.ErrNoGraphviz) {
		fmt.Fprintf(os.Stderr, "fsmgen: warning: %s is stale and not redrawn: %v\n", path, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("fsmgen: %s: %w", path, err)
	}
	return writeIfChanged(path, svg)
}

// writeIfChanged leaves an up-to-date file untouched (keeping its mtime).
func writeIfChanged(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("fsmgen: write: %w", err)
	}
	return nil
}
