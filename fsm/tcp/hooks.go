package tcp

import "github.com/netspec/netspec/fsm/fsmrt"

// Hooks observe the layer's machine (spec/tcp.fsm): every row that fires
// and every drop, of segments, user calls and timers alike (fsmrt.Hooks).
type Hooks = fsmrt.Hooks[State, Event, Guard, Action, Reason, Profile]

// SetHooks installs h on the layer's machine (the zero value removes
// them): what a per-frame journey trace (fsm/stack.Trace) is fed by. Unset,
// each costs one comparison per row.
func (l *Layer) SetHooks(h Hooks) { l.m.Hooks = h }
