package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/fsm/stack"
)

// traceFlag is --trace [FILTER]: set alone it traces every frame; with a
// value (--trace=FILTER, or the next argument, see joinTraceArg) only those
// the filter selects (stack.ParseTraceFilter).
type traceFlag struct {
	on     bool
	filter string
}

func (f *traceFlag) String() string {
	if f == nil || !f.on {
		return ""
	}
	return f.filter
}

func (f *traceFlag) Set(s string) error {
	f.on = true
	if s != "true" {
		f.filter = s
	}
	return nil
}

// IsBoolFlag lets --trace stand alone.
func (f *traceFlag) IsBoolFlag() bool { return true }

// joinTraceArg turns "--trace FILTER" into "--trace=FILTER" when the next
// argument is not a flag, so the filter may follow as its own argument, as
// the command line contract writes it (--trace [FILTER]).
func joinTraceArg(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if (a == "--trace" || a == "-trace") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// setTrace installs the --trace and --trace-json outputs on opts: the
// compact line of every frame the filter selects to cfg.traceOut, and the
// same frames as JSON lines to the --trace-json file. The returned function
// flushes and closes the file; call it after the stack closed.
func (cfg serveConfig) setTrace(opts *netspec.Options) (func() error, error) {
	if !cfg.trace.on && cfg.traceJSON == "" {
		return func() error { return nil }, nil
	}
	filter, err := stack.ParseTraceFilter(cfg.trace.filter)
	if err != nil {
		return nil, usagef("--trace: %v", err)
	}
	var text io.Writer
	if cfg.trace.on {
		text = cfg.traceOut
		if text == nil {
			text = io.Discard
		}
	}
	var jf *os.File
	var jw *bufio.Writer
	if cfg.traceJSON != "" {
		if jf, err = os.Create(cfg.traceJSON); err != nil {
			return nil, fmt.Errorf("--trace-json: %w", err)
		}
		jw = bufio.NewWriterSize(jf, 64<<10)
	}
	var line []byte
	opts.Tracer = func(t *stack.Trace) {
		if !filter.Match(t) {
			return
		}
		if text != nil {
			line = append(t.AppendLine(line[:0]), '\n')
			text.Write(line)
		}
		if jw != nil {
			line = netspec.AppendTraceJSON(line[:0], t)
			jw.Write(line)
		}
	}
	return func() error {
		if jf == nil {
			return nil
		}
		return errors.Join(jw.Flush(), jf.Close())
	}, nil
}
