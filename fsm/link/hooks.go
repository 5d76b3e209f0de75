package link

import "github.com/netspec/netspec/fsm/fsmrt"

// ARPMachineHooks observe the neighbour cache's machine (spec/arp.fsm): every
// row that fires and every drop (fsmrt.Hooks).
type ARPMachineHooks = fsmrt.Hooks[ARPState, ARPEvent, ARPGuard, ARPAction, ARPReason, fsmrt.NoProfile]

// SetHooks installs h on the cache's machine (the zero value removes them).
// SetTrace, when used, replaces the Row hook.
func (a *ARP) SetHooks(h ARPMachineHooks) { a.m.Hooks = h }

// SetClassify installs fn, called by Input with every received frame's
// classification (its EtherType, or why it is dropped) before the frame is
// handled; nil removes it. A journey trace (fsm/stack.Trace) reads it.
func (p *Port) SetClassify(fn func(f Frame)) { p.classify = fn }
