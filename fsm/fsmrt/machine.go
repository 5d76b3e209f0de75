package fsmrt

import "fmt"

// Cell is the index range [Start, End) of one (state, event) cell's rows in
// a table's Rules.
type Cell struct{ Start, End uint16 }

// Table is a generated machine's rows as the runtime reads them: the rules,
// cells in (state, event) order, and, flattened, the cells, the cell of
// (s, e) being Cells[s*Events+e]. The generated PTableOf builds one from
// PRules and PCells (or from a copy that a test mutated). The sizes are those
// of the machine's enums; Profiles is zero for a machine without profiles.
type Table[S, E, G, A, R, P Enum] struct {
	Rules                                              []Rule[S, E, G, A, R, P]
	Cells                                              []Cell
	States, Events, Guards, Actions, Reasons, Profiles int
}

// Funcs are the hand-written guards and actions of a machine, indexed by its
// Guard and Action enums. X is the context of one event (what the guards read
// and the actions change), passed by value. The generated PFuncs[X] builds
// them from the methods of X that the generated PImpl interface requires, so
// a guard or action the spec names without its method is a compile error.
type Funcs[G, A Enum, X any] struct {
	Guards  []func(X) bool
	Actions []func(X)
}

// Hooks observe a machine; each is optional, and an unset one costs one
// comparison on the path it sits on. They are what a per-packet trace or a
// per-rule counter is built on.
type Hooks[S, E, G, A, R, P Enum] struct {
	// Row is called with every row that fires, before its actions: r.ID,
	// r.Src (the spec line) and r.Outcome say which row it is and what it
	// does (r.String formats it all).
	Row func(r *Rule[S, E, G, A, R, P])
	// Drop is called with every drop reason: that of a row whose outcome is
	// drop, after its actions, and those the code around the table reports
	// through Machine.Drop.
	Drop func(reason R)
}

// Machine runs one table with its guards and actions in one profile: the one
// interpreter of every generated machine (fsm/tcp, fsm/ip, fsm/link and the
// model checker). Its zero value runs nothing; New builds one.
type Machine[S, E, G, A, R, P Enum, X any] struct {
	// The program New compiles from the table for the profile (see op):
	// Step starts cell i at prog[cells[i]].
	cells   []uint32
	prog    []op
	events  uint
	guards  *[256]func(X) bool // indexed by G, a uint8: no bounds check on the stepping path
	actions *[256]func(X)
	rules   []Rule[S, E, G, A, R, P]
	nfuncs  [2]int   // len(Funcs.Guards), len(Funcs.Actions)
	hits    []uint64 // per rule ID, or nil
	drops   []uint64 // per reason, or nil
	intern  *uint64  // impossible rows fired, or nil
	pbit    uint8    // the profile's bit in Rule.Profiles; 0 without profiles (every row applies)
	table   *Table[S, E, G, A, R, P]
	firing  uint32 // 1 + the index of the row Step fired last; 0: none (an index, not a pointer: no write barrier on the stepping path)
	profile P
	// Hooks are called as the machine runs; set them at any time.
	Hooks Hooks[S, E, G, A, R, P]
}

// op is one instruction of a machine's program, packed in 32 bits: a kind,
// a guard and whether it is negated, and an index (next). The rows of a
// cell that apply in the machine's profile compile, in order, to
// consecutive ops: one opIf per condition (ask the guard; when the
// condition fails, go on at next, the first op of the cell's next row) and
// an opFire (fire the rule at index next). A cell that may find no row
// ends in an opNone. So Step tests no profile bit, and across a guard call
// it keeps only the machine, the context and one op live.
type op uint32

// The fields of an op.
const (
	opGuard  = 0xff   // bits 0-7: the guard of an opIf
	opNegate = 1 << 8 // the condition is !guard
	opKind   = 3 << 9 // bits 9-10: the kind
	opShift  = 11     // bits 11-31: next
	opIf     = 0 << 9
	opFire   = 1 << 9
	opNone   = 2 << 9
	opMax    = 1<<(32-opShift) - 1 // the largest next
)

// New returns a machine running t's rows that apply in profile p (ignored
// for a table without profiles) with the guards and actions of f. It does not
// validate t or f (Check does): a cell outside t's rules runs no row, and
// a profile t does not declare has none. It compiles t for p, so a change to
// t made after New is not seen.
func New[S, E, G, A, R, P Enum, X any](t *Table[S, E, G, A, R, P], f Funcs[G, A, X], p P) Machine[S, E, G, A, R, P, X] {
	m := Machine[S, E, G, A, R, P, X]{
		rules: t.Rules, table: t, profile: p,
		guards: new([256]func(X) bool), actions: new([256]func(X)),
		nfuncs: [2]int{len(f.Guards), len(f.Actions)},
	}
	copy(m.guards[:], f.Guards)
	copy(m.actions[:], f.Actions)
	switch {
	case t.Profiles == 0:
	case int(p) < t.Profiles && p < 8:
		m.pbit = 1 << p
	default:
		return m // an unknown profile: no row applies (Check reports it)
	}
	m.compile(t)
	return m
}

// compile builds m's program from the rows of t in m's profile. Rows after
// a cell's first unconditional row never fire and are left out; a program
// too large for an op's index runs no row (Check reports it).
func (m *Machine[S, E, G, A, R, P, X]) compile(t *Table[S, E, G, A, R, P]) {
	n := len(t.Cells)
	for i := range t.Rules {
		n += len(t.Rules[i].Conds) + 1
	}
	if n > opMax || len(t.Rules) > opMax {
		return
	}
	m.events = uint(t.Events)
	m.cells, m.prog = make([]uint32, len(t.Cells)), make([]op, 0, n)
	for i, c := range t.Cells {
		m.cells[i] = uint32(len(m.prog))
		uncond := false
		for j := c.Start; j < c.End && int(j) < len(t.Rules) && !uncond; j++ {
			r := &t.Rules[j]
			if r.Profiles&m.pbit != m.pbit {
				continue
			}
			next := op(len(m.prog)+len(r.Conds)+1) << opShift
			for _, cd := range r.Conds {
				o := opIf | next | op(cd.Guard)
				if cd.Negate {
					o |= opNegate
				}
				m.prog = append(m.prog, o)
			}
			m.prog = append(m.prog, opFire|op(j)<<opShift)
			uncond = len(r.Conds) == 0
		}
		if !uncond {
			m.prog = append(m.prog, opNone)
		}
	}
}

// Count makes the machine count into hits (indexed by rule ID: every row
// that fires) and drops (indexed by reason: every drop, as Hooks.Drop sees
// them); either may be nil. They are usually arrays of the caller's counters.
func (m *Machine[S, E, G, A, R, P, X]) Count(hits, drops []uint64) {
	m.hits, m.drops = hits, drops
}

// CountInternal makes the machine count every impossible row that fires
// (OutImpossible: an internal error, a cell the spec says cannot happen)
// into *n, usually the caller's Internal counter; nil stops counting. The
// row is also counted in the rule hits and seen by Hooks.Row like any other.
func (m *Machine[S, E, G, A, R, P, X]) CountInternal(n *uint64) { m.intern = n }

// Profile returns the profile the machine runs.
func (m *Machine[S, E, G, A, R, P, X]) Profile() P { return m.profile }

// Firing returns the row whose actions are running (during Step), or the
// row Step fired last: an action that depends on which row fired it (its
// drop reason) reads it here. Nil before the first row fires.
func (m *Machine[S, E, G, A, R, P, X]) Firing() *Rule[S, E, G, A, R, P] {
	if m.firing == 0 {
		return nil
	}
	return &m.rules[m.firing-1]
}

// Funcs returns the guards and actions the machine calls.
func (m *Machine[S, E, G, A, R, P, X]) Funcs() Funcs[G, A, X] {
	if m.guards == nil {
		return Funcs[G, A, X]{}
	}
	return Funcs[G, A, X]{Guards: m.guards[:m.nfuncs[0]], Actions: m.actions[:m.nfuncs[1]]}
}

// Table returns the table the machine runs.
func (m *Machine[S, E, G, A, R, P, X]) Table() *Table[S, E, G, A, R, P] { return m.table }

// Step fires event e in state s with context x: the first row of the cell
// (s, e) that applies in the machine's profile and whose conditions all hold
// (guards asked in row order, each row stopping at its first failing
// condition). It counts the row, calls Hooks.Row, performs the row's actions
// on x in order (Firing returns the row meanwhile), then counts a drop (Drop)
// or an impossible row (CountInternal) and returns the row; the caller moves its state to the row's Next. It
// returns nil and does nothing when s or e is out of range or no row holds
// (spec.Check rules that out for a generated table: every cell ends in an
// unconditional row in every profile). It does not allocate.
func (m *Machine[S, E, G, A, R, P, X]) Step(x X, s S, e E) *Rule[S, E, G, A, R, P] {
	i := uint(s)*m.events + uint(e)
	if uint(e) >= m.events || i >= uint(len(m.cells)) {
		return nil
	}
	// Find the row: run the cell's ops up to its opFire (or opNone).
	pc := m.cells[i]
	var o op
	for {
		if int(pc) >= len(m.prog) {
			return nil
		}
		if o = m.prog[pc]; o&opKind != opIf {
			break
		}
		if m.guards[uint8(o)](x) == (o&opNegate != 0) {
			pc = uint32(o >> opShift) // the row fails: its cell's next row
		} else {
			pc++
		}
	}
	ri := uint32(o >> opShift)
	if o&opKind != opFire || int(ri) >= len(m.rules) {
		return nil
	}
	// The row fires: count it, report it, perform its actions.
	r := &m.rules[ri]
	if m.hits != nil {
		m.hits[r.ID]++
	}
	if m.Hooks.Row != nil {
		m.Hooks.Row(r)
	}
	m.firing = ri + 1
	for _, a := range r.Actions {
		m.actions[a](x)
	}
	if r.Outcome == OutDrop {
		m.Drop(r.Reason)
	} else if r.Outcome == OutImpossible && m.intern != nil {
		*m.intern++
	}
	return r
}

// Match returns the row Step(x, s, e) would fire, without firing it: it
// runs the same program (the cell's rows in the machine's profile, each
// condition an op), asking the same guards in the same order, but counts
// nothing, calls no hook, performs no action and leaves Firing as it was.
// So when the guards change nothing (they are conditions), it changes
// nothing: a caller asks it to predict what an event would do before
// spending work on it (fsm/link's ARP.WouldDrop). Nil when Step would
// return nil. It does not allocate.
func (m *Machine[S, E, G, A, R, P, X]) Match(x X, s S, e E) *Rule[S, E, G, A, R, P] {
	i := uint(s)*m.events + uint(e)
	if uint(e) >= m.events || i >= uint(len(m.cells)) {
		return nil
	}
	for pc := m.cells[i]; int(pc) < len(m.prog); pc++ {
		o := m.prog[pc]
		if o&opKind != opIf {
			if ri := o >> opShift; o&opKind == opFire && int(ri) < len(m.rules) {
				return &m.rules[ri]
			}
			return nil
		}
		if m.guards[uint8(o)](x) == (o&opNegate != 0) {
			pc = uint32(o>>opShift) - 1 // the row fails: on at its cell's next row
		}
	}
	return nil
}

// Drop counts one drop for reason and calls Hooks.Drop. Step calls it for
// drop rows; the code around the table calls it for the drops it decides
// itself (a malformed header before any row runs, a bound), so that every
// drop of the machine passes here.
func (m *Machine[S, E, G, A, R, P, X]) Drop(reason R) {
	if m.drops != nil {
		m.drops[reason]++
	}
	if m.Hooks.Drop != nil {
		m.Hooks.Drop(reason)
	}
}

// Check reports why the machine cannot run its table, or nil: a guard or
// action without its function, a profile the table does not declare, a cell
// outside the rules or the enums, a row naming a guard, action, state or
// reason outside them, or counters too short. The model checker runs it on
// the (possibly mutated) tables it is given; a generated table and its
// PFuncs always pass.
func (m *Machine[S, E, G, A, R, P, X]) Check() error {
	t := m.table
	if t == nil {
		return fmt.Errorf("fsmrt: machine without a table")
	}
	switch {
	case m.nfuncs[0] != t.Guards:
		return fmt.Errorf("fsmrt: %d guard functions for %d guards", m.nfuncs[0], t.Guards)
	case m.nfuncs[1] != t.Actions:
		return fmt.Errorf("fsmrt: %d action functions for %d actions", m.nfuncs[1], t.Actions)
	case t.Profiles > 0 && m.pbit == 0:
		return fmt.Errorf("fsmrt: unknown profile %s", m.profile)
	case len(m.cells) != len(t.Cells):
		return fmt.Errorf("fsmrt: %d rules too many to compile", len(t.Rules))
	case len(t.Cells) != t.States*t.Events:
		return fmt.Errorf("fsmrt: %d cells for %d states and %d events", len(t.Cells), t.States, t.Events)
	case m.hits != nil && len(m.hits) < len(t.Rules):
		return fmt.Errorf("fsmrt: %d rule counters for %d rules", len(m.hits), len(t.Rules))
	case m.drops != nil && len(m.drops) < t.Reasons:
		return fmt.Errorf("fsmrt: %d drop counters for %d reasons", len(m.drops), t.Reasons)
	}
	f := m.Funcs()
	for g, f := range f.Guards {
		if f == nil {
			return fmt.Errorf("fsmrt: guard %s has no function", G(g))
		}
	}
	for a, f := range f.Actions {
		if f == nil {
			return fmt.Errorf("fsmrt: action %s has no function", A(a))
		}
	}
	for i, c := range t.Cells {
		if int(c.End) > len(t.Rules) || c.Start > c.End {
			return fmt.Errorf("fsmrt: cell (%s, %s) is out of range", S(i/t.Events), E(i%t.Events))
		}
	}
	for i := range t.Rules {
		if err := t.checkRule(&t.Rules[i]); err != nil {
			return err
		}
	}
	return nil
}

// checkRule reports a row that names a value outside the machine's enums.
func (t *Table[S, E, G, A, R, P]) checkRule(r *Rule[S, E, G, A, R, P]) error {
	if int(r.ID) >= len(t.Rules) {
		return fmt.Errorf("fsmrt: %s: rule ID %d beyond the %d rules", r.Src, r.ID, len(t.Rules))
	}
	for _, c := range r.Conds {
		if int(c.Guard) >= t.Guards {
			return fmt.Errorf("fsmrt: %s: unknown guard %d", r.Src, c.Guard)
		}
	}
	for _, a := range r.Actions {
		if int(a) >= t.Actions {
			return fmt.Errorf("fsmrt: %s: unknown action %d", r.Src, a)
		}
	}
	if int(r.Next) >= t.States {
		return fmt.Errorf("fsmrt: %s: unknown next state %d", r.Src, r.Next)
	}
	if int(r.Reason) >= t.Reasons {
		return fmt.Errorf("fsmrt: %s: unknown reason %d", r.Src, r.Reason)
	}
	return nil
}
