package model

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A trace file (testdata/counterexamples/*.trace) is line oriented; "#"
// starts a comment (WriteTrace puts the state after each step there):
//
//	property: no-stuck-state-without-timer
//	detail: A is in LastAck with no retransmission timer running
//	bounds: cap=2 loss=1 dup=0 reorder=1 opens=1 data=1 aborts=1 closes=1 rtx=2 window=4 eager=0
//	options: symmetric embryo-calls          (optional)
//	step: A call conn OpenActive             # -> A:SynSent(...) | B:Closed | A->B: [SYN seq=0]
//	loop:                                    (livelocks: the steps below return to this point)
//	step: B->A deliver 0
//
// Steps are those of Step.String: "E call conn|listener CALL", "E timeout
// Rtx|User|TimeWait|FinWait2", "E->F deliver|lose|dup INDEX".

// Trace is a parsed trace file.
type Trace struct {
	Property    string
	Detail      string
	Bounds      Bounds
	Symmetric   bool
	EmbryoCalls bool
	Steps       []Step
	LoopAt      int // -1 when there is no loop
}

// WriteTrace writes v, found under cfg, in the trace format.
func WriteTrace(w io.Writer, cfg Config, v *Violation, note string) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# netspec model-check counterexample (fuzz/model; replay with model.ParseTrace and model.Replay)\n")
	if note != "" {
		for _, l := range strings.Split(note, "\n") {
			fmt.Fprintf(bw, "# %s\n", l)
		}
	}
	fmt.Fprintf(bw, "property: %s\n", v.Property)
	fmt.Fprintf(bw, "detail: %s\n", strings.ReplaceAll(v.Detail, "\n", " "))
	fmt.Fprintf(bw, "bounds: %s\n", cfg.Bounds)
	var opts []string
	if cfg.Symmetric {
		opts = append(opts, "symmetric")
	}
	if cfg.EmbryoCalls {
		opts = append(opts, "embryo-calls")
	}
	if len(opts) > 0 {
		fmt.Fprintf(bw, "options: %s\n", strings.Join(opts, " "))
	}
	fmt.Fprintf(bw, "# start: %s\n", v.States[0].Summary())
	for i, st := range v.Steps {
		if i == v.LoopAt {
			fmt.Fprintf(bw, "loop:\n")
		}
		fmt.Fprintf(bw, "step: %-30s # -> %s\n", st, v.States[i+1].Summary())
	}
	return bw.Flush()
}

// ParseTrace reads a trace file.
func ParseTrace(r io.Reader) (*Trace, error) {
	t := &Trace{LoopAt: -1, Bounds: DefaultBounds()}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("model: trace line %d: want key: value", n)
		}
		v = strings.TrimSpace(v)
		switch k {
		case "property":
			t.Property = v
		case "detail":
			t.Detail = v
		case "bounds":
			b, err := ParseBounds(DefaultBounds(), v)
			if err != nil {
				return nil, fmt.Errorf("model: trace line %d: %w", n, err)
			}
			t.Bounds = b
		case "options":
			for _, o := range strings.Fields(v) {
				switch o {
				case "symmetric":
					t.Symmetric = true
				case "embryo-calls":
					t.EmbryoCalls = true
				default:
					return nil, fmt.Errorf("model: trace line %d: unknown option %q", n, o)
				}
			}
		case "loop":
			t.LoopAt = len(t.Steps)
		case "step":
			st, err := ParseStep(v)
			if err != nil {
				return nil, fmt.Errorf("model: trace line %d: %w", n, err)
			}
			t.Steps = append(t.Steps, st)
		default:
			return nil, fmt.Errorf("model: trace line %d: unknown key %q", n, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("model: trace: %w", err)
	}
	if t.Property == "" {
		return nil, errors.New("model: trace: no property")
	}
	return t, nil
}

// ErrNotEnabled is wrapped by Replay when a step of the trace cannot be taken.
var ErrNotEnabled = errors.New("step not enabled")

// Replay runs the trace's steps on table (nil: the generated table) from the
// initial state and reports whether the trace's property fails at its end:
// safety properties on the last state, a livelock by the loop returning to
// its start, and the graph properties by a bounded search from the last state.
// It returns the states visited.
func Replay(table *Table, t *Trace) (states []State, violated bool, err error) {
	if table == nil {
		table = DefaultTable()
	}
	m, err := table.machine()
	if err != nil {
		return nil, false, err
	}
	r := &runner{t: table, m: m, b: t.Bounds, symmetric: t.Symmetric, embryoCalls: t.EmbryoCalls}
	var s State
	states = append(states, s)
	impossible := false // the last step fired an impossible row
	for i, st := range t.Steps {
		if !r.isEnabled(&s, st) {
			return states, false, fmt.Errorf("model: replay step %d (%s) in %s: %w", i+1, st, s.Summary(), ErrNotEnabled)
		}
		s = r.apply(&s, st)
		if r.err != nil {
			return states, false, fmt.Errorf("model: replay step %d: %w", i+1, r.err)
		}
		if r.trunc != "" {
			return states, false, fmt.Errorf("model: replay step %d runs past a bound (%s)", i+1, r.trunc)
		}
		states = append(states, s)
		impossible = r.impossible != nil
	}
	last := states[len(states)-1]
	switch t.Property {
	case PropTimer, PropFinState, PropHalfOpen, PropEstab, PropReleased, PropEnds:
		p, _ := safety(&last)
		return states, p == t.Property, nil
	case PropImpossible:
		return states, impossible, nil
	case PropLivelock:
		return states, t.LoopAt >= 0 && t.LoopAt < len(t.Steps) && states[t.LoopAt] == last, nil
	case PropDeadlock, PropSynRcvd, PropGraceful:
		b := t.Bounds
		b.MaxStates = 0
		res, err := Check(Config{Bounds: b, Table: table, Start: &last, Symmetric: t.Symmetric, EmbryoCalls: t.EmbryoCalls})
		if err != nil {
			return states, false, err
		}
		v := res.Violation
		return states, v != nil && v.Property == t.Property, nil
	}
	return states, false, fmt.Errorf("model: trace: unknown property %q", t.Property)
}
