package model

import (
	"fmt"

	"github.com/netspec/netspec/fsm/tcp"
)

// graphProperties checks the properties of the whole explored graph, in
// order: deadlock, livelock, SYN-RECEIVED resolution, graceful termination.
// States with a truncated transition count as good for the liveness
// properties (what lies past the bound is unknown).
func (g *graph) graphProperties() *Violation {
	n := g.n()
	// Deadlock: a state with no successor (self-loops aside) where a
	// connection waits for the network (every state but CLOSED and the three
	// that wait for their user: ESTABLISHED, CLOSE-WAIT, FIN-WAIT-2; a dead
	// end is quiescent, and PropHalfOpen already constrains those pairs).
	for i := range n {
		if g.succStart.at(int(i)) == g.succStart.at(int(i+1)) && g.bits.at(int(i))&(bTrunc|bWaits) == bWaits {
			s := g.stateOf(uint32(i))
			for e := range 2 {
				switch s.E[e].Conn.St {
				case tcp.StateClosed, tcp.StateEstablished, tcp.StateCloseWait, tcp.StateFinWait2:
				default:
					return g.trace(uint32(i), PropDeadlock, "no transition is enabled and "+epName(e)+" waits in "+s.E[e].Conn.St.String()+": "+s.Summary())
				}
			}
		}
	}
	// Livelock: every counter in the state only grows within a run, so any
	// cycle is a cycle without progress. Kahn's algorithm peels the acyclic
	// part; what remains holds a cycle.
	order, indeg := g.topo()
	if order == nil {
		return g.loop(indeg)
	}
	// SYN-RECEIVED always resolves: on every maximal path from a state where
	// endpoint e is in SYN-RECEIVED, e eventually leaves it (AF, computed in
	// reverse topological order on the acyclic graph).
	for e := range 2 {
		in := bSynRcvd0 << e
		af := g.allPaths(order, func(v uint32) bool { return g.bits.at(int(v))&in == 0 })
		for i := range n {
			if !af[i] {
				v := g.trace(uint32(i), PropSynRcvd, fmt.Sprintf("%s can stay in SynReceived forever; the trace ends where no transition is left", epName(e)))
				g.extend(v, uint32(i), func(from uint32, k int) bool { return !af[g.succ.at(k)&edgeMask] }, 64)
				return v
			}
		}
	}
	// Graceful termination: from every reachable state some cooperative,
	// fault-free continuation (in-order delivery, timers other than the R2
	// user timeout, calls other than ABORT) ends with both connections
	// CLOSED and the channel empty (EF).
	ef := g.someGracefulPath(order)
	for i := range n {
		if !ef[i] {
			s := g.stateOf(uint32(i))
			return g.trace(uint32(i), PropGraceful, "no cooperative fault-free continuation (in-order delivery, timers but not R2 (R2 too in eager runs), calls but not ABORT) reaches CLOSED/CLOSED with an empty channel from "+s.Summary())
		}
	}
	return nil
}

// goal reports the end of a graceful run: no connection, nothing in flight.
func goal(s *State) bool {
	return s.E[0].Conn.St == tcp.StateClosed && s.E[1].Conn.St == tcp.StateClosed && s.C[0].N == 0 && s.C[1].N == 0
}

// topo returns the states in topological order, or nil and the in-degrees
// left after peeling (positive on and below cycles).
func (g *graph) topo() ([]uint32, []uint32) {
	n := g.n()
	indeg := make([]uint32, n)
	for k := range g.succ.len() {
		indeg[g.succ.at(k)&edgeMask]++
	}
	order := make([]uint32, 0, n)
	for i := range n {
		if indeg[i] == 0 {
			order = append(order, uint32(i))
		}
	}
	for k := 0; k < len(order); k++ {
		v := order[k]
		for j := g.succStart.at(int(v)); j < g.succStart.at(int(v+1)); j++ {
			t := g.succ.at(int(j)) & edgeMask
			if indeg[t]--; indeg[t] == 0 {
				order = append(order, t)
			}
		}
	}
	if len(order) == n {
		return order, nil
	}
	return nil, indeg
}

// loop builds a livelock violation from the states topo could not peel (a
// positive remaining in-degree): a path to a cycle and the cycle itself.
func (g *graph) loop(indeg []uint32) *Violation {
	n := g.n()
	alive := make([]bool, n)
	for i := range n {
		alive[i] = indeg[i] > 0
	}
	// Peel from the other side too (states that reach no cycle), so that
	// every remaining state has a remaining successor.
	for changed := true; changed; {
		changed = false
		for i := range n {
			if !alive[i] {
				continue
			}
			has := false
			for j := g.succStart.at(int(i)); j < g.succStart.at(int(i+1)); j++ {
				if alive[g.succ.at(int(j))&edgeMask] {
					has = true
					break
				}
			}
			if !has {
				alive[i], changed = false, true
			}
		}
	}
	start := -1
	for i := range n {
		if alive[i] {
			start = i
			break
		}
	}
	if start < 0 {
		return g.trace(0, PropLivelock, "a cycle exists (not isolated)")
	}
	seen := map[uint32]int{}
	var path []uint32
	v := uint32(start)
	for {
		if at, ok := seen[v]; ok {
			// path[at:] is the cycle; reach path[at] first.
			head := path[at]
			viol := g.trace(head, PropLivelock, "a cycle of transitions returns to the same state: no progress")
			viol.LoopAt = len(viol.Steps)
			cyc := append(path[at+1:], head)
			prev := head
			for _, x := range cyc {
				st, s := g.stepBetween(prev, x)
				viol.Steps = append(viol.Steps, st)
				viol.States = append(viol.States, s)
				prev = x
			}
			return viol
		}
		seen[v] = len(path)
		path = append(path, v)
		for j := g.succStart.at(int(v)); j < g.succStart.at(int(v+1)); j++ {
			if alive[g.succ.at(int(j))&edgeMask] {
				v = g.succ.at(int(j)) & edgeMask
				break
			}
		}
	}
}

// allPaths computes AF p on the acyclic graph: every maximal path from the
// state reaches a state satisfying p (truncated states count as good).
func (g *graph) allPaths(order []uint32, p func(uint32) bool) []bool {
	af := make([]bool, g.n())
	for k := len(order) - 1; k >= 0; k-- {
		v := order[k]
		if p(v) || g.bits.at(int(v))&bTrunc != 0 {
			af[v] = true
			continue
		}
		lo, hi := g.succStart.at(int(v)), g.succStart.at(int(v+1))
		ok := lo < hi
		for j := lo; j < hi && ok; j++ {
			ok = af[g.succ.at(int(j))&edgeMask]
		}
		af[v] = ok
	}
	return af
}

// someGracefulPath computes EF goal along graceful edges on the acyclic graph.
func (g *graph) someGracefulPath(order []uint32) []bool {
	ef := make([]bool, g.n())
	for k := len(order) - 1; k >= 0; k-- {
		v := order[k]
		if g.bits.at(int(v))&(bGoal|bTrunc) != 0 {
			ef[v] = true
			continue
		}
		for j := g.succStart.at(int(v)); j < g.succStart.at(int(v+1)); j++ {
			if e := g.succ.at(int(j)); e>>31 != 0 && ef[e&edgeMask] {
				ef[v] = true
				break
			}
		}
	}
	return ef
}
