package spec

import (
	"fmt"
	"slices"
	"strings"
)

// Check validates the machine and returns every problem found, each carrying
// "file:line" where one applies. A machine with no problems is:
//   - declared: every state, event, guard, action, reason and group a rule
//     names is declared, and the machine has at least one state and event;
//   - total: every (state, event) cell has rules and ends in an unconditional
//     rule (an explicit "drop" row counts);
//   - deterministic: no rule follows an unconditional rule in its cell
//     (shadowed), no two rules of a cell have the same condition set, and no
//     rule requires both g and !g;
//   - free of trap states: every state is reachable from the initial state and
//     the initial state is reachable from every state, following Next edges.
func (m *Machine) Check() []error {
	errs := append([]error(nil), m.problems...)
	add := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", m.File, line, fmt.Sprintf(format, args...)))
	}
	if len(m.States) == 0 {
		add(0, "machine %s declares no states", m.Name)
	}
	if len(m.Events) == 0 {
		add(0, "machine %s declares no events", m.Name)
	}
	for _, l := range []struct {
		kind  string
		names []string
		max   int
	}{{"states", m.States, 255}, {"events", m.Events, 255}, {"guards", m.Guards, 255}, {"actions", m.Actions, 255}, {"reasons", m.Reasons, 254}} {
		if len(l.names) > l.max {
			add(0, "too many %s: %d > %d", l.kind, len(l.names), l.max)
		}
	}

	// Contradictory conditions.
	for k := range m.Rules {
		r := &m.Rules[k]
		pol := map[string]bool{}
		for _, c := range r.Conds {
			if p, ok := pol[c.Guard]; ok && p != c.Negate {
				add(r.Line, "condition %s and !%s can never both hold", c.Guard, c.Guard)
			}
			pol[c.Guard] = c.Negate
		}
		if len(r.States) == 0 && len(r.StateRefs) > 0 && !hasProblemAt(m.problems, m.File, r.Line) {
			add(r.Line, "rule applies to no state")
		}
	}

	// Totality and determinism, cell by cell.
	for _, row := range m.Cells() {
		for _, c := range row {
			if len(c.Rules) == 0 {
				add(0, "cell (%s, %s) has no rule", c.State, c.Event)
				continue
			}
			seen := map[string]int{}
			var uncond *Rule
			for _, r := range c.Rules {
				if uncond != nil {
					add(r.Line, "rule is shadowed in cell (%s, %s) by the unconditional rule at line %d", c.State, c.Event, uncond.Line)
					continue
				}
				key := condKey(r.Conds)
				if prev, ok := seen[key]; ok {
					add(r.Line, "cell (%s, %s): same conditions [%s] as line %d", c.State, c.Event, key, prev)
				}
				seen[key] = r.Line
				if len(r.Conds) == 0 {
					uncond = r
				}
			}
			if uncond == nil {
				last := c.Rules[len(c.Rules)-1]
				add(last.Line, "cell (%s, %s) does not end in an unconditional rule", c.State, c.Event)
			}
		}
	}

	// Reachability.
	if init := m.Initial(); init != "" {
		fwd := map[string][]string{}
		rev := map[string][]string{}
		for k := range m.Rules {
			r := &m.Rules[k]
			for _, s := range r.States {
				n := r.NextFor(s)
				fwd[s] = append(fwd[s], n)
				rev[n] = append(rev[n], s)
			}
		}
		from := reach(init, fwd)
		to := reach(init, rev)
		for _, s := range m.States {
			line := m.declLine["states "+s]
			if !from[s] {
				add(line, "state %s is unreachable from the initial state %s", s, init)
			}
			if !to[s] {
				add(line, "state %s is a trap: the initial state %s is unreachable from it", s, init)
			}
		}
	}
	return errs
}

func hasProblemAt(errs []error, file string, line int) bool {
	p := fmt.Sprintf("%s:%d:", file, line)
	for _, e := range errs {
		if strings.HasPrefix(e.Error(), p) {
			return true
		}
	}
	return false
}

// condKey returns a canonical, order-insensitive form of a condition set.
func condKey(cs []Cond) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, c.String())
	}
	slices.Sort(parts)
	parts = slices.Compact(parts)
	return strings.Join(parts, ",")
}

func reach(start string, edges map[string][]string) map[string]bool {
	seen := map[string]bool{start: true}
	stack := []string{start}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, n := range edges[s] {
			if !seen[n] {
				seen[n] = true
				stack = append(stack, n)
			}
		}
	}
	return seen
}
