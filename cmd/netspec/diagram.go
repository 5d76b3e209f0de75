package main

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"

	"github.com/netspec/netspec/spec"
)

// runDiagram is `netspec diagram tcp|ipv4|frag|arp [--format dot|svg|mermaid]`:
// the state diagram of a built-in machine (spec/*.fsm as compiled in), as
// Graphviz text, an SVG drawn by Graphviz's dot, or a Mermaid flowchart.
func runDiagram(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diagram", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "dot", "output format: dot, svg (runs Graphviz's dot) or mermaid")
	// The machine comes first; flags may follow it.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return fail(stderr, usagef("diagram: %v", err))
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fail(stderr, usagef("diagram: unexpected argument %q", fs.Arg(0)))
	}
	if !slices.Contains(spec.Builtins, name) {
		return fail(stderr, usagef("diagram: want a machine, one of %s (got %q)", strings.Join(spec.Builtins, ", "), name))
	}
	m, err := spec.Builtin(name)
	if err != nil {
		return fail(stderr, err)
	}
	var out []byte
	switch *format {
	case "dot":
		out = m.Dot()
	case "mermaid":
		out = m.Mermaid()
	case "svg":
		if out, err = spec.RenderSVG(m.Dot()); err != nil {
			return fail(stderr, err)
		}
	default:
		return fail(stderr, usagef("diagram: --format: unknown format %q (want dot, svg or mermaid)", *format))
	}
	if _, err := stdout.Write(out); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}
