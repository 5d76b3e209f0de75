package fsmrt

import "strconv"

// Enum is the constraint on a machine's generated enums (state, event, guard,
// action, reason, profile): a small unsigned integer whose String returns the
// name written in the spec.
type Enum interface {
	~uint8
	String() string
}

// Outcome is what happens to the input after a rule fires (the DSL's
// continue, done, drop and impossible).
type Outcome uint8

// Rule outcomes.
const (
	OutContinue Outcome = iota // run the next stage
	OutDone                    // processing finished
	OutDrop                    // finished; counted under the rule's Reason
	// OutImpossible: the cell cannot happen (the spec proves or argues it).
	// Such a row has no actions and stays in its state; if it fires anyway,
	// the machine counts an internal error (Machine.CountInternal) and the
	// caller ends processing as for done.
	OutImpossible
)

// String returns the DSL keyword for x.
func (x Outcome) String() string {
	switch x {
	case OutContinue:
		return "continue"
	case OutDone:
		return "done"
	case OutDrop:
		return "drop"
	case OutImpossible:
		return "impossible"
	}
	return "Outcome(" + strconv.Itoa(int(x)) + ")"
}

// NoProfile is the profile type of a machine that declares no profiles. Such
// a machine's rows have a zero Profiles mask, so In is false for them; match
// them with Match, not MatchIn.
type NoProfile uint8

// String returns "none".
func (NoProfile) String() string { return "none" }

// Cond is one condition of a rule: Guard must evaluate to !Negate.
type Cond[G Enum] struct {
	Guard  G
	Negate bool
}

// Rule is one row of a generated table. Rules of a (state, event) cell are
// tried in order; the first whose conditions all hold fires.
type Rule[S, E, G, A, R, P Enum] struct {
	ID       uint16 // index in the machine's Rules table
	State    S
	Event    E
	Conds    []Cond[G] // all must hold
	Next     S         // equals State when the rule says "-"
	Actions  []A       // performed in order
	Outcome  Outcome
	Reason   R        // for OutDrop; zero (the None reason) otherwise
	Src      string   // spec file and line
	Anchor   string   // RFC clause
	Reqs     []string // requirement IDs
	Profiles uint8    // bit p set: the rule applies in profile p (zero without profiles)
}

// Holds reports whether all of r's conditions hold, asking eval for each guard
// in order and stopping at the first that fails.
func (r *Rule[S, E, G, A, R, P]) Holds(eval func(G) bool) bool {
	for _, c := range r.Conds {
		if eval(c.Guard) == c.Negate {
			return false
		}
	}
	return true
}

// In reports whether r applies in profile p. A p beyond the eight a mask can
// hold is in no rule.
func (r *Rule[S, E, G, A, R, P]) In(p P) bool {
	return r.Profiles>>p&1 != 0
}

// Name returns names[x], or "typ(x)" for a value that has no name; it is the
// String method of every generated enum.
func Name[T ~uint8](x T, names []string, typ string) string {
	if int(x) < len(names) {
		return names[x]
	}
	return typ + "(" + strconv.Itoa(int(x)) + ")"
}

// Parse returns the value whose name in names is name (the inverse of Name).
func Parse[T ~uint8](names []string, name string) (T, bool) {
	for i, s := range names {
		if s == name {
			return T(i), true
		}
	}
	return 0, false
}
