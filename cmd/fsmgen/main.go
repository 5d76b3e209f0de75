// Command fsmgen turns a state-machine spec (spec/*.fsm) into a Go table and,
// optionally, a Graphviz state diagram. It is run from //go:generate lines:
//
//	go run ./cmd/fsmgen -in spec/ipv4.fsm -out fsm/ip/zipv4_gen.go -dot docs/diagrams/ipv4.dot
//
// It refuses to generate from a spec that fails spec.Check, printing every
// problem with its file and line.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

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
		if err := writeIfChanged(dot, Dot(m)); err != nil {
			return err
		}
	}
	return nil
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
