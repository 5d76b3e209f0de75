package ip

import "github.com/netspec/netspec/fsm/fsmrt"

// RxHooks observe the receive pipeline (spec/ipv4.fsm): every row that
// fires and every drop (fsmrt.Hooks).
type RxHooks = fsmrt.Hooks[RxState, RxEvent, RxGuard, RxAction, RxReason, fsmrt.NoProfile]

// FragHooks observe the reassembly machine (spec/frag.fsm).
type FragHooks = fsmrt.Hooks[FragState, FragEvent, FragGuard, FragAction, FragReason, fsmrt.NoProfile]

// SetHooks installs the hooks of both machines (zero values remove them):
// what a per-frame journey trace (fsm/stack.Trace) is fed by. SetTrace,
// when used, replaces the Row hooks.
func (r *Receiver) SetHooks(rx RxHooks, frag FragHooks) {
	r.rx.Hooks, r.frag.Hooks = rx, frag
}
