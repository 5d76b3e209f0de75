package model

import (
	"fmt"
	"slices"

	"github.com/netspec/netspec/fsm/fsmrt"
	"github.com/netspec/netspec/fsm/tcp"
)

// Table is the rule table the endpoints run: by default a copy of the
// generated tcp.Rules and tcp.Cells in the default profile; tests mutate a
// clone to show that the checker catches a broken machine.
type Table struct {
	Rules []tcp.Rule
	Cells [tcp.NumStates][tcp.NumEvents]struct{ Start, End uint16 }
	// Profile selects the rows that apply (tcp.Rule.In); the others are
	// skipped by every lookup.
	Profile tcp.Profile
}

// DefaultTable returns a copy of the generated table from spec/tcp.fsm, in
// the default profile.
func DefaultTable() *Table {
	return ProfileTable(tcp.DefaultProfile)
}

// ProfileTable returns a copy of the generated table running profile p.
func ProfileTable(p tcp.Profile) *Table {
	return &Table{Rules: slices.Clone(tcp.Rules[:]), Cells: tcp.Cells, Profile: p}
}

// Clone returns a deep copy of t (conditions, actions and requirement lists
// included), safe to mutate.
func (t *Table) Clone() *Table {
	c := &Table{Rules: slices.Clone(t.Rules), Cells: t.Cells, Profile: t.Profile}
	for i := range c.Rules {
		r := &c.Rules[i]
		r.Conds = slices.Clone(r.Conds)
		r.Actions = slices.Clone(r.Actions)
		r.Reqs = slices.Clone(r.Reqs)
	}
	return c
}

// Lookup returns the first rule of cell (st, ev) that requires guard g to
// hold, or nil.
func (t *Table) Lookup(st tcp.State, ev tcp.Event, g tcp.Guard) *tcp.Rule {
	cell := t.Cells[st][ev]
	for i := cell.Start; i < cell.End; i++ {
		r := &t.Rules[i]
		if !r.In(t.Profile) {
			continue
		}
		for _, c := range r.Conds {
			if c.Guard == g && !c.Negate {
				return r
			}
		}
	}
	return nil
}

// Find returns the first rule of cell (st, ev) whose positive conditions
// are exactly gs (in any order), or nil.
func (t *Table) Find(st tcp.State, ev tcp.Event, gs ...tcp.Guard) *tcp.Rule {
	cell := t.Cells[st][ev]
	for i := cell.Start; i < cell.End; i++ {
		r := &t.Rules[i]
		if !r.In(t.Profile) {
			continue
		}
		n := 0
		for _, c := range r.Conds {
			if !c.Negate {
				if !slices.Contains(gs, c.Guard) {
					n = -1
					break
				}
				n++
			}
		}
		if n == len(gs) {
			return r
		}
	}
	return nil
}

// match returns the index of the first rule of cell (st, ev) whose
// conditions hold under eval (fsmrt.MatchIn on the cell, as tcp.Match).
func (t *Table) match(st tcp.State, ev tcp.Event, eval func(tcp.Guard) bool) (int, bool) {
	if st >= tcp.NumStates || ev >= tcp.NumEvents {
		return 0, false
	}
	c := t.Cells[st][ev]
	if r := fsmrt.MatchIn(t.Rules[c.Start:c.End], t.Profile, eval); r != nil {
		return int(r.ID), true
	}
	return 0, false
}

// machine returns the interpreter of t with the abstract guards and actions
// (absRun), after checking that it can run t: a table whose cells point
// outside its rules, or whose rules name guards, actions or states outside
// the machine's, or a guard or action without its abstract function, stops
// the check rather than explore a machine it cannot interpret.
func (t *Table) machine() (tcp.Machine[absRun], error) {
	m := fsmrt.New(tcp.TableOf(t.Rules, &t.Cells), absFuncs, t.Profile)
	if err := m.Check(); err != nil {
		return m, fmt.Errorf("model: %w", err)
	}
	return m, nil
}
