package fsmrt

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// tx is the test machine's context: guard g holds when bit g of mask is
// set; guards and actions append what they did to log.
type tx struct {
	mask uint8
	log  *[]string
}

func testFuncs() Funcs[gd, act, tx] {
	guard := func(g gd) func(tx) bool {
		return func(x tx) bool {
			if x.log != nil {
				*x.log = append(*x.log, "?"+g.String())
			}
			return x.mask>>g&1 != 0
		}
	}
	action := func(a act) func(tx) {
		return func(x tx) {
			if x.log != nil {
				*x.log = append(*x.log, "!"+a.String())
			}
		}
	}
	return Funcs[gd, act, tx]{
		Guards:  []func(tx) bool{guard(0), guard(1), guard(2)},
		Actions: []func(tx){action(0), action(1)},
	}
}

// testTable is the two-state, one-event machine of fsmrt_test.go: (Idle, Go)
// is cell, (Busy, Go) its unconditional last row.
func testTable(profiles int) *Table[st, ev, gd, act, rsn, pf] {
	return &Table[st, ev, gd, act, rsn, pf]{
		Rules: cell, Cells: []Cell{{0, 4}, {3, 4}},
		States: 2, Events: 1, Guards: 3, Actions: 2, Reasons: 2, Profiles: profiles,
	}
}

// TestStepAgreesWithMatch: Step fires the row MatchIn (or, without
// profiles, Match) picks, asks the guards in the same order, performs the
// row's actions in order after them, and counts the row and its drop.
func TestStepAgreesWithMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 500 {
		mask, p := uint8(rng.IntN(8)), pf(rng.IntN(2))
		profiles := 2 * rng.IntN(2) // 0: a machine without profiles
		m := New(testTable(profiles), testFuncs(), p)
		hits, drops := make([]uint64, len(cell)), make([]uint64, 2)
		m.Count(hits, drops)
		var log []string
		r := m.Step(tx{mask, &log}, 0, 0)
		var asked []gd
		want := MatchIn(cell, p, evalOf(mask, &asked))
		if profiles == 0 {
			asked = asked[:0]
			want = Match(cell, evalOf(mask, &asked))
		}
		if r != want {
			t.Fatalf("trial %d: Step fired %v, Match %v", trial, r, want)
		}
		var wantLog []string
		for _, g := range asked {
			wantLog = append(wantLog, "?"+g.String())
		}
		for _, a := range r.Actions {
			wantLog = append(wantLog, "!"+a.String())
		}
		if !slices.Equal(log, wantLog) {
			t.Fatalf("trial %d: did %v, want %v", trial, log, wantLog)
		}
		if hits[r.ID] != 1 || slices.Max(hits) != 1 {
			t.Fatalf("trial %d: hits %v after row %d", trial, hits, r.ID)
		}
		if (r.Outcome == OutDrop) != (drops[r.Reason] == 1 && r.Reason != 0) {
			t.Fatalf("trial %d: drops %v after %v", trial, drops, r)
		}
	}
}

func TestStepHooks(t *testing.T) {
	m := New(testTable(2), testFuncs(), 1)
	var log []string
	m.Hooks.Row = func(r *rule) { log = append(log, "row "+r.Src+" "+r.Outcome.String()) }
	m.Hooks.Drop = func(x rsn) { log = append(log, "drop "+x.String()) }
	// A, !B: row 0 fires (Blink, drop Jam): the row hook before the action,
	// the drop hook after it.
	m.Step(tx{0b001, &log}, 0, 0)
	want := []string{"?A", "?B", "row t.fsm:1 drop", "!Blink", "drop Jam"}
	if !slices.Equal(log, want) {
		t.Fatalf("got %v, want %v", log, want)
	}
	if m.Firing() != &cell[0] {
		t.Errorf("Firing = %v, want row 0", m.Firing())
	}
	log = log[:0]
	m.Drop(1)
	if !slices.Equal(log, []string{"drop Jam"}) {
		t.Fatalf("Drop: got %v", log)
	}
}

func TestStepOutOfRange(t *testing.T) {
	m := New(testTable(2), testFuncs(), 0)
	for _, c := range []struct {
		s st
		e ev
	}{{2, 0}, {0, 1}, {255, 255}} {
		if r := m.Step(tx{}, c.s, c.e); r != nil {
			t.Errorf("Step(%d, %d) = %v", c.s, c.e, r)
		}
		if r := m.Match(tx{}, c.s, c.e); r != nil {
			t.Errorf("Match(%d, %d) = %v", c.s, c.e, r)
		}
	}
	if r := m.Step(tx{}, 1, 0); r == nil || r.ID != 3 {
		t.Errorf("Busy/Go: got %v, want row 3", r)
	}
	var zero Machine[st, ev, gd, act, rsn, pf, tx]
	if zero.Step(tx{}, 0, 0) != nil || zero.Match(tx{}, 0, 0) != nil || zero.Check() == nil {
		t.Error("the zero machine runs")
	}
	// A profile the table does not declare has no rows.
	bad := New(testTable(2), testFuncs(), 5)
	if r := bad.Step(tx{}, 0, 0); r != nil || bad.Match(tx{}, 0, 0) != nil {
		t.Errorf("unknown profile fired %v", r)
	}
	if err := bad.Check(); err == nil || !strings.Contains(err.Error(), "profile") {
		t.Errorf("Check of an unknown profile: %v", err)
	}
}

func TestCheck(t *testing.T) {
	good := New(testTable(2), testFuncs(), 1)
	if err := good.Check(); err != nil {
		t.Fatalf("good machine: %v", err)
	}
	for _, c := range []struct {
		name, want string
		edit       func(*Table[st, ev, gd, act, rsn, pf], *Funcs[gd, act, tx], *[]uint64)
	}{
		{"nil guard", "guard B", func(_ *Table[st, ev, gd, act, rsn, pf], f *Funcs[gd, act, tx], _ *[]uint64) { f.Guards[1] = nil }},
		{"nil action", "action Blink", func(_ *Table[st, ev, gd, act, rsn, pf], f *Funcs[gd, act, tx], _ *[]uint64) { f.Actions[1] = nil }},
		{"few guards", "guard functions", func(_ *Table[st, ev, gd, act, rsn, pf], f *Funcs[gd, act, tx], _ *[]uint64) { f.Guards = f.Guards[:2] }},
		{"cell", "cell (Busy, Go)", func(t *Table[st, ev, gd, act, rsn, pf], _ *Funcs[gd, act, tx], _ *[]uint64) { t.Cells[1].End = 9 }},
		{"cells", "cells for", func(t *Table[st, ev, gd, act, rsn, pf], _ *Funcs[gd, act, tx], _ *[]uint64) { t.Cells = t.Cells[:1] }},
		{"guard", "unknown guard", func(t *Table[st, ev, gd, act, rsn, pf], _ *Funcs[gd, act, tx], _ *[]uint64) {
			t.Rules[1].Conds = []Cond[gd]{{Guard: 7}}
		}},
		{"action", "unknown action", func(t *Table[st, ev, gd, act, rsn, pf], _ *Funcs[gd, act, tx], _ *[]uint64) {
			t.Rules[1].Actions = []act{2}
		}},
		{"next", "unknown next state", func(t *Table[st, ev, gd, act, rsn, pf], _ *Funcs[gd, act, tx], _ *[]uint64) { t.Rules[2].Next = 2 }},
		{"reason", "unknown reason", func(t *Table[st, ev, gd, act, rsn, pf], _ *Funcs[gd, act, tx], _ *[]uint64) { t.Rules[2].Reason = 2 }},
		{"id", "rule ID", func(t *Table[st, ev, gd, act, rsn, pf], _ *Funcs[gd, act, tx], _ *[]uint64) { t.Rules[2].ID = 4 }},
		{"hits", "rule counters", func(_ *Table[st, ev, gd, act, rsn, pf], _ *Funcs[gd, act, tx], h *[]uint64) { *h = (*h)[:3] }},
	} {
		tb := testTable(2)
		tb.Rules = slices.Clone(tb.Rules)
		tb.Cells = slices.Clone(tb.Cells)
		f := testFuncs()
		hits := make([]uint64, len(cell))
		c.edit(tb, &f, &hits)
		m := New(tb, f, 1)
		m.Count(hits, nil)
		if err := m.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Check = %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// TestStepDoesNotAllocate, with and without hooks and counters, and
// neither does Match.
func TestStepDoesNotAllocate(t *testing.T) {
	m := New(testTable(2), testFuncs(), 0)
	var mask uint8
	run := func(name string, f func(tx, st, ev) *rule) {
		if a := testing.AllocsPerRun(100, func() {
			mask++
			if f(tx{mask: mask}, st(mask&1), 0) == nil {
				t.Fatal("no row")
			}
		}); a != 0 {
			t.Errorf("%s allocates %.1f times", name, a)
		}
	}
	run("Step without hooks", m.Step)
	n := 0
	m.Hooks.Row = func(*rule) { n++ }
	m.Hooks.Drop = func(rsn) { n++ }
	m.Count(make([]uint64, len(cell)), make([]uint64, 2))
	run("Step with hooks", m.Step)
	if n == 0 {
		t.Error("hooks not called")
	}
	run("Match", m.Match)
}

// sum adds up counters.
func sum(c []uint64) (n uint64) {
	for _, x := range c {
		n += x
	}
	return n
}

// TestImpossibleRowCounted: an impossible row that fires is counted as an
// internal error (CountInternal), counted in the rule hits, seen by
// Hooks.Row, performs no actions and counts no drop.
func TestImpossibleRowCounted(t *testing.T) {
	tb := testTable(0)
	tb.Rules = slices.Clone(tb.Rules)
	last := &tb.Rules[3] // (Busy, Go): unconditional
	last.Outcome, last.Actions, last.Reason, last.Next = OutImpossible, nil, 0, last.State
	m := New(tb, testFuncs(), 0)
	hits, drops := make([]uint64, len(tb.Rules)), make([]uint64, 2)
	m.Count(hits, drops)
	var internal uint64
	var seen []*rule
	m.Hooks.Row = func(r *rule) { seen = append(seen, r) }
	var log []string
	r := m.Step(tx{log: &log}, 1, 0)
	if r != last || r.Outcome != OutImpossible {
		t.Fatalf("Step fired %v, want the impossible row", r)
	}
	if internal != 0 {
		t.Fatal("counted without CountInternal")
	}
	m.CountInternal(&internal)
	m.Step(tx{log: &log}, 1, 0)
	if internal != 1 || hits[3] != 2 || len(seen) != 2 || seen[1] != last || len(log) != 0 || slices.Max(drops) != 0 {
		t.Errorf("internal %d hits %d hooks %d log %v drops %v", internal, hits[3], len(seen), log, drops)
	}
	if !strings.Contains(r.String(), " impossible @ ") {
		t.Errorf("String() = %q", r.String())
	}
}

// TestStepRandomTables: on random tables (cells of random rows, some empty,
// some with rows after an unconditional one, a profile or none), Step fires
// the row MatchIn (Match without profiles) picks, asking the same guards in
// the same order: the program New compiles changes nothing Step does. The
// machine's dry run, Machine.Match, asked first, names the same row after
// the same guards, and does nothing else: no action, no count, no hook,
// Firing unchanged.
func TestStepRandomTables(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 1000 {
		profiles := 2 * rng.IntN(2)
		var rules []rule
		var cells []Cell
		for range 3 {
			start := len(rules)
			for range rng.IntN(5) {
				r := rule{ID: uint16(len(rules)), Profiles: uint8(rng.IntN(4))}
				for range rng.IntN(4) {
					r.Conds = append(r.Conds, Cond[gd]{Guard: gd(rng.IntN(3)), Negate: rng.IntN(2) == 0})
				}
				rules = append(rules, r)
			}
			cells = append(cells, Cell{uint16(start), uint16(len(rules))})
		}
		tb := &Table[st, ev, gd, act, rsn, pf]{Rules: rules, Cells: cells,
			States: 3, Events: 1, Guards: 3, Actions: 2, Reasons: 2, Profiles: profiles}
		p := pf(rng.IntN(2))
		m := New(tb, testFuncs(), p)
		hits, drops := make([]uint64, len(rules)), make([]uint64, 2)
		m.Count(hits, drops)
		hooked := 0
		m.Hooks.Row = func(*rule) { hooked++ }
		for s := range st(3) {
			mask := uint8(rng.IntN(8))
			var dry []string
			firing, before := m.Firing(), slices.Concat(hits, drops)
			predicted := m.Match(tx{mask, &dry}, s, 0)
			if m.Firing() != firing || !slices.Equal(slices.Concat(hits, drops), before) || hooked != int(sum(before[:len(rules)])) {
				t.Fatalf("trial %d state %d: Match counted or reported a row", trial, s)
			}
			var log []string
			got := m.Step(tx{mask, &log}, s, 0)
			acted := 0
			if got != nil {
				acted = len(got.Actions)
			}
			if predicted != got || !slices.Equal(dry, log[:len(log)-acted]) {
				t.Fatalf("trial %d state %d: Match %v asking %v; Step fired %v doing %v", trial, s, predicted, dry, got, log)
			}
			var asked []gd
			c := cells[s]
			want := MatchIn(rules[c.Start:c.End], p, evalOf(mask, &asked))
			if profiles == 0 {
				asked = asked[:0]
				want = Match(rules[c.Start:c.End], evalOf(mask, &asked))
			}
			var wantLog []string
			for _, g := range asked {
				wantLog = append(wantLog, "?"+g.String())
			}
			if got != want || !slices.Equal(log, wantLog) {
				t.Fatalf("trial %d state %d: Step fired %v asking %v; Match %v asking %v (rules %v)", trial, s, got, log, want, wantLog, rules[c.Start:c.End])
			}
		}
	}
}
