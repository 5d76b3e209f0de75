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
//     rule (an explicit "drop" row counts, and so does an "impossible" row,
//     which has no conditions, next state, actions, requirements or profile
//     tag);
//   - deterministic: no rule follows an unconditional rule in its cell
//     (shadowed), no two rules of a cell have the same condition set, and no
//     rule requires both g and !g;
//   - free of trap states: every state is reachable from the initial state and
//     the initial state is reachable from every state, following Next edges;
//   - per profile: totality, determinism and reachability hold for every
//     declared profile's projection on its own, every profile a rule names is
//     declared, and every profile-specific rule has a twin (a rule specific to
//     the other profile in the same cell) or is marked only=.
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

	// Contradictory conditions; impossible rows.
	for k := range m.Rules {
		r := &m.Rules[k]
		if r.Outcome == Impossible {
			for _, p := range r.impossibleProblems() {
				add(r.Line, "impossible row %s", p)
			}
		}
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

	// Totality, determinism and reachability hold for each profile's
	// projection on its own (verification.md §10.1); a problem common to every
	// profile is reported once, one particular to some profiles names them.
	profiles := m.Profiles
	if len(profiles) == 0 {
		profiles = []string{""}
	}
	if len(profiles) > 8 {
		add(0, "too many profiles: %d > 8", len(profiles))
	}
	type found struct {
		line     int
		msg      string
		profiles []string
	}
	var order []string
	byMsg := map[string]*found{}
	for _, p := range profiles {
		for _, f := range m.projectionProblems(p) {
			key := fmt.Sprintf("%d\x00%s", f.line, f.msg)
			if byMsg[key] == nil {
				byMsg[key] = &found{line: f.line, msg: f.msg}
				order = append(order, key)
			}
			byMsg[key].profiles = append(byMsg[key].profiles, p)
		}
	}
	for _, key := range order {
		f := byMsg[key]
		if len(f.profiles) < len(profiles) {
			add(f.line, "%s (profile %s)", f.msg, strings.Join(f.profiles, ","))
		} else {
			add(f.line, "%s", f.msg)
		}
	}

	// Twins: a profile-specific rule needs, in each of its cells and for each
	// profile it leaves out, a rule specific to that profile, unless it is
	// marked profile-only ("only=").
	if len(m.Profiles) > 0 {
		for _, row := range m.Cells() {
			for _, c := range row {
				for _, r := range c.Rules {
					if len(r.Profiles) == 0 || r.ProfileOnly {
						continue
					}
					for _, q := range m.Profiles {
						if r.In(q) {
							continue
						}
						twin := false
						for _, o := range c.Rules {
							if len(o.Profiles) > 0 && o.In(q) {
								twin = true
								break
							}
						}
						if !twin {
							add(r.Line, "profile-specific rule has no twin for profile %s in cell (%s, %s) (add one or mark it only=%s)", q, c.State, c.Event, strings.Join(r.Profiles, ","))
						}
					}
				}
			}
		}
	}
	return errs
}

// impossibleProblems lists what an impossible row may not have. It is
// unconditional, so it is its cell's last row in every profile (anything
// after it would be shadowed): it claims that nothing the rows above it leave
// over can happen, which the model checker proves for tcp. A condition would
// make it a claim about one guard combination in the middle of a cell, and a
// next state, action, requirement or profile tag would be behaviour, of
// which an impossible row has none.
func (r *Rule) impossibleProblems() []string {
	var out []string
	if len(r.Conds) > 0 {
		out = append(out, "has conditions (it must be its cell's last, unconditional row)")
	}
	if r.Next != "" {
		out = append(out, "has a next state (write -)")
	}
	if len(r.Actions) > 0 {
		out = append(out, "has actions")
	}
	if len(r.Reqs) > 0 {
		out = append(out, "names requirements")
	}
	if len(r.Profiles) > 0 {
		out = append(out, "has a profile tag (a cell that cannot happen cannot happen in any profile)")
	}
	return out
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

type lineMsg struct {
	line int
	msg  string
}

// projectionProblems checks totality, determinism and reachability of the
// machine restricted to profile p ("" keeps every rule).
func (m *Machine) projectionProblems(p string) []lineMsg {
	var out []lineMsg
	add := func(line int, format string, args ...any) {
		out = append(out, lineMsg{line, fmt.Sprintf(format, args...)})
	}
	for _, row := range m.ProfileCells(p) {
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
	if init := m.Initial(); init != "" {
		fwd := map[string][]string{}
		rev := map[string][]string{}
		for k := range m.Rules {
			r := &m.Rules[k]
			if p != "" && !r.In(p) {
				continue
			}
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
	return out
}
