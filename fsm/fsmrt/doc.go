// Package fsmrt is the runtime shared by the state-machine tables that
// cmd/fsmgen generates from spec/*.fsm: the rule row and its conditions,
// matching the rows of a (state, event) cell against guard values, profile
// membership, and the one-line trace format of a row.
//
// A generated file (fsm/<package>/z<machine>_gen.go) declares only what is
// its machine's own (the enums and their names, the rows, the cells, the
// Match entry points, whose short loop over the package's own rule array
// is kept there because it is faster than Match over a slice) and names the
// types here through aliases:
//
//	type Rule = fsmrt.Rule[State, Event, Guard, Action, Reason, Profile]
//	type Cond = fsmrt.Cond[Guard]
//	type Outcome = fsmrt.Outcome
//
// so the methods below (Holds, In, String) are the generated types' methods.
// The package is pure in the sense of package fsm: it reads no clock and
// allocates nothing on the matching path.
package fsmrt
