// Package fsmrt is the interpreter of the state-machine tables that
// cmd/fsmgen generates from spec/*.fsm: fsm/tcp, fsm/ip (receive pipeline
// and reassembly), fsm/link (ARP) and the model checker (fuzz/model) all run
// their tables through Machine.Step.
//
// A generated file (fsm/<package>/z<machine>_gen.go) declares what is its
// machine's own: the enums and their names, the rows (PRules) and cells
// (PCells), and the binding to the hand-written side, typed with the
// machine's own enums:
//
//	type PImpl interface { GuardX() bool; ...; ActY(); ... } // one method per guard and action
//	func PFuncs[X PImpl]() fsmrt.Funcs[PGuard, PAction, X]  // those methods, indexed by the enums
//	func PTableOf(rules, cells) *fsmrt.Table[...]           // the rows as the runtime reads them
//	type PMachine[X any] = fsmrt.Machine[PState, ..., X]
//	func NewPMachine[X PImpl](p PProfile) PMachine[X]
//
// X is the context of one event (for fsm/tcp the connection and the segment),
// passed by value; a guard or action without its method on X is a compile
// error. The runtime's types appear in the generated file through aliases
// (type PRule = fsmrt.Rule[PState, PEvent, PGuard, PAction, PReason, PProfile]),
// so the methods here (Holds, In, String) are the generated types' methods.
//
// A Machine compiles the rows of its profile into a program of small ops
// (New) and, stepping, asks the guards of a cell's rows
// in order, fires the first row whose conditions hold, performs its actions,
// and counts and reports it: Hooks.Row sees every fired row (its ID, spec
// line and outcome), Hooks.Drop every drop reason, and Count points it at the
// caller's per-rule and per-reason counters. With no hook set, a hook costs
// one comparison. Machine.Match is Step's dry run: the row Step would fire,
// the same guards asked, nothing fired, counted or reported (fsm/link
// predicts a frame's drop with it). Match and MatchIn pick a row with guard
// values from a function instead (tests, tools). The package is pure in the sense of
// package fsm: it reads no clock and allocates nothing on the stepping path.
package fsmrt
