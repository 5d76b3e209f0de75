package spec

import "fmt"

// Outcome is what a rule says happens to the input after it fires.
type Outcome uint8

// Rule outcomes, as written in the DSL.
const (
	Continue Outcome = iota // "continue": run the next stage
	Done                    // "done": processing finished
	Drop                    // "drop <Reason>": finished and counted under Reason
	// Impossible ("impossible"): the cell cannot happen. The row has no
	// conditions, next state ("-"), actions or reason, and is the cell's last
	// row; if it fires, the runtime counts an internal error and the model
	// checker reports a property violation.
	Impossible
)

// String returns the DSL keyword for o.
func (o Outcome) String() string {
	switch o {
	case Continue:
		return "continue"
	case Done:
		return "done"
	case Drop:
		return "drop"
	case Impossible:
		return "impossible"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Cond is one condition of a rule: a guard, possibly negated ("!name").
type Cond struct {
	Guard  string
	Negate bool
}

// String returns the condition as written in the DSL.
func (c Cond) String() string {
	if c.Negate {
		return "!" + c.Guard
	}
	return c.Guard
}

// Rule is one "on ..." line of a spec. A line naming several states (a list, a
// group or "*") is one Rule whose States holds them all, in declaration order;
// a line naming several events ("E1,E2", an extension of the DSL) is one Rule
// per event, all with the same Line and Src.
type Rule struct {
	Line      int      // line number in the spec file (1-based)
	Src       string   // "spec/tcp.fsm:41": module-relative file and line
	StateRefs []string // the state references as written: names, groups or "*"
	States    []string // StateRefs expanded to state names, declaration order, no duplicates
	Event     string
	Conds     []Cond   // all must hold; empty means unconditional
	Next      string   // next state; "" means "-" (stay)
	Actions   []string // in order
	Outcome   Outcome
	Reason    string   // for Drop
	Anchor    string   // RFC clause, e.g. "RFC9293:3.10.7.4/s5"
	Reqs      []string // requirement IDs, e.g. "MUST-58"
	// Profiles lists the behavioural profiles the rule belongs to
	// ("profile=linux" or "only=linux"); nil means every profile.
	Profiles []string
	// ProfileOnly marks a profile-specific rule ("only=...") that has, by
	// intent, no twin in the other profiles: they fall through to later rows.
	ProfileOnly bool
}

// In reports whether the rule applies in profile p (untagged rules apply in
// every profile).
func (r *Rule) In(p string) bool {
	if len(r.Profiles) == 0 {
		return true
	}
	for _, q := range r.Profiles {
		if q == p {
			return true
		}
	}
	return false
}

// NextFor returns the state the rule moves to when it fires in state s.
func (r *Rule) NextFor(s string) string {
	if r.Next == "" {
		return s
	}
	return r.Next
}

// Group is a named set of states ("group Sync = A,B,C").
type Group struct {
	Name   string
	States []string
	Line   int
}

// Machine is a parsed spec file.
type Machine struct {
	File    string // module-relative path, e.g. "spec/tcp.fsm"
	Name    string // "machine" directive
	Package string // "package" directive: the Go package of the generated table
	Prefix  string // "prefix" directive: Go identifier prefix (may be empty)
	States  []string
	Events  []string
	Guards  []string
	Actions []string
	Reasons []string
	Groups  []Group
	Rules   []Rule
	// Profiles are the behavioural profiles ("profiles" directive), in
	// declaration order; the first is the default. Empty: one implicit profile.
	Profiles []string

	declLine map[string]int // "kind name" -> line of its declaration, for messages
	problems []error        // resolution problems found while parsing, reported by Check
}

// Initial returns the initial state (the first one declared), or "" if none.
func (m *Machine) Initial() string {
	if len(m.States) == 0 {
		return ""
	}
	return m.States[0]
}

// Cell is the ordered list of rules that apply to one (state, event) pair.
type Cell struct {
	State, Event string
	Rules        []*Rule
}

// DefaultProfile returns the first declared profile, or "" when the machine
// declares none.
func (m *Machine) DefaultProfile() string {
	if len(m.Profiles) == 0 {
		return ""
	}
	return m.Profiles[0]
}

// Cells returns the rules of every (state, event) cell, indexed
// [state index][event index], each in file order. Rules of every profile are
// included; ProfileCells gives one profile's projection.
func (m *Machine) Cells() [][]Cell {
	return m.ProfileCells("")
}

// ProfileCells is Cells restricted to the rules that apply in profile p; p ==
// "" keeps every rule.
func (m *Machine) ProfileCells(p string) [][]Cell {
	si := index(m.States)
	ei := index(m.Events)
	cells := make([][]Cell, len(m.States))
	for i, s := range m.States {
		cells[i] = make([]Cell, len(m.Events))
		for j, e := range m.Events {
			cells[i][j] = Cell{State: s, Event: e}
		}
	}
	for k := range m.Rules {
		r := &m.Rules[k]
		j, ok := ei[r.Event]
		if !ok || (p != "" && !r.In(p)) {
			continue
		}
		for _, s := range r.States {
			if i, ok := si[s]; ok {
				cells[i][j].Rules = append(cells[i][j].Rules, r)
			}
		}
	}
	return cells
}

func index(names []string) map[string]int {
	m := make(map[string]int, len(names))
	for i, n := range names {
		if _, dup := m[n]; !dup {
			m[n] = i
		}
	}
	return m
}
