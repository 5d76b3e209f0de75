package link

import "github.com/netspec/netspec/fsm/wire"

// What the cache reads from the rows of spec/arp.fsm themselves, beyond
// running them: which row a frame to send would fire (WouldDrop's dry run)
// and which rows leave a shortcut (Resolve's fast path).

// WouldDrop reports whether a frame handed to Resolve for ip now would be
// dropped by a row of spec/arp.fsm that does nothing else (dropsOnly). It
// asks the table: the ARP machine's dry run (fsmrt's Machine.Match) picks
// the row the Send event of ip's entry would fire, asking the same guards
// (no entry: the state None, with the room entry would find, without
// evicting), and WouldDrop reports whether that row only drops the frame.
// With today's spec those are None Send at the bound of unanswered entries
// (NoRoom), Incomplete Send with the queue full (QueueFull) and Failed Send
// (Unresolved); a row that starts a resolution (None Send with QueueFull:
// Create, Probe) is not one, so skipping the frame changes nothing the
// frame would have changed. A change to those rows changes the answer with
// them. It is O(1), allocates nothing and changes nothing: an upper layer
// asks before it spends work on a reply that could not leave (fsm/stack
// drops a bare SYN then).
func (a *ARP) WouldDrop(ip wire.Addr) bool {
	n := a.get(ip)
	if n == nil {
		n, a.room = &noEntry, a.roomFor(roomResolve)
	}
	if !sendMayDrop[n.state] {
		return false
	}
	a.n = n
	r := a.m.Match(arpRun{a}, n.state, ARPEvSend)
	a.n = nil
	return r != nil && dropsOnly[r.ID]
}

// noEntry is the entry of an address that has none, as WouldDrop's dry run
// reads it (the state None, nothing queued, no request sent); nothing
// writes it.
var noEntry neighbor

// dropsOnly[i]: row i of spec/arp.fsm, fired for a frame to send, drops
// the frame and does nothing else (DropFrame is its only action and it
// stays in its state): no entry made or changed, no request sent.
// sendMayDrop[s]: the Send cell of state s has such a row. sendsOnly[s]:
// the first row of that cell has no condition, stays in s and only
// transmits (Transmit its only action), so it is the row that fires and it
// changes nothing but sending the frame (Resolve's fast path). All derived
// from the generated rows, so WouldDrop and Resolve follow the spec.
var dropsOnly, sendMayDrop, sendsOnly = func() (d [len(ARPRules)]bool, may, sends [NumARPStates]bool) {
	for i, r := range ARPRules {
		d[i] = r.Next == r.State && len(r.Actions) == 1 && r.Actions[0] == ARPADropFrame
		may[r.State] = may[r.State] || d[i] && r.Event == ARPEvSend
	}
	for s, cells := range ARPCells {
		if c := cells[ARPEvSend]; c.Start < c.End {
			r := &ARPRules[c.Start]
			sends[s] = len(r.Conds) == 0 && r.Next == r.State && len(r.Actions) == 1 && r.Actions[0] == ARPATransmit
		}
	}
	return d, may, sends
}()
