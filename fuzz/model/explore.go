package model

import (
	"fmt"
	"time"

	"github.com/netspec/netspec/fsm/tcp"
)

// Config configures one check.
type Config struct {
	Bounds Bounds
	Table  *Table // nil: DefaultTable()
	Start  *State // nil: both endpoints CLOSED, channel empty
	// EmbryoCalls lets user calls reach a passively opened connection in
	// SYN-RECEIVED (fsm/tcp hands out the descriptor only once ESTABLISHED).
	EmbryoCalls bool
	// Symmetric lets both endpoints open actively and passively (and so
	// covers simultaneous open); otherwise A is the client and B the server.
	Symmetric bool
	// Progress, if set, is called every ProgressEvery new states (default
	// 100000) and once at the end.
	Progress      func(Progress)
	ProgressEvery int
}

// Progress reports how far a search has come.
type Progress struct {
	States, Transitions, Queue int
	Depth                      int
	Elapsed                    time.Duration
}

// Violation is a property that fails, with a shortest trace to a state
// that shows it.
type Violation struct {
	Property string // one of the Prop* names
	Detail   string
	Steps    []Step  // from the start state
	States   []State // States[0] is the start, States[k+1] follows Steps[k]
	// LoopAt is -1, or the index in Steps where a cycle starts: the state
	// after Steps[:LoopAt] recurs after all of Steps (a livelock).
	LoopAt int
}

// Result is what a check found.
type Result struct {
	Bounds      Bounds
	States      int
	Transitions int // explored, self-loops included
	Truncated   int // transitions not explored because they ran past a bound
	Depth       int // length of the longest shortest path (BFS levels)
	Elapsed     time.Duration
	Complete    bool       // the whole bounded graph was explored
	Violation   *Violation // nil when every property holds
	Hits        []uint64   // per rule of the table: times it fired
	Table       *Table
}

// Property names.
const (
	PropTimer      = "no-stuck-state-without-timer"
	PropFinState   = "fin-sent-only-when-closing"
	PropHalfOpen   = "no-half-open-when-quiescent"
	PropEstab      = "established-iff-when-channel-empty"
	PropDeadlock   = "no-deadlock"
	PropLivelock   = "no-livelock"
	PropSynRcvd    = "syn-received-resolves"
	PropGraceful   = "graceful-termination-possible"
	PropCoverage   = "every-rule-fires"
	edgeGraceful   = 1
	progressPeriod = 100000
)

// graph is the explored state graph: states in BFS order, edges in CSR form.
type graph struct {
	states    []State
	parent    []uint32
	via       []Step
	succStart []uint32
	succ      []uint32
	succFlag  []uint8
	trunc     []bool
	r         *runner
}

// Check explores the bounded state space and checks every property.
func Check(cfg Config) (*Result, error) {
	if err := cfg.Bounds.Validate(); err != nil {
		return nil, err
	}
	if cfg.Bounds.Data > cfg.Bounds.Window {
		return nil, fmt.Errorf("model: data (%d) must not exceed window (%d)", cfg.Bounds.Data, cfg.Bounds.Window)
	}
	t := cfg.Table
	if t == nil {
		t = DefaultTable()
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	every := cfg.ProgressEvery
	if every <= 0 {
		every = progressPeriod
	}
	start := time.Now()
	res := &Result{Bounds: cfg.Bounds, Table: t, Hits: make([]uint64, len(t.Rules))}
	r := &runner{t: t, b: cfg.Bounds, embryoCalls: cfg.EmbryoCalls, symmetric: cfg.Symmetric}
	g := &graph{r: r}
	index := map[State]uint32{}
	var s0 State
	if cfg.Start != nil {
		s0 = *cfg.Start
	}
	add := func(s State, parent uint32, via Step) (uint32, bool) {
		if id, ok := index[s]; ok {
			return id, false
		}
		id := uint32(len(g.states))
		index[s] = id
		g.states = append(g.states, s)
		g.parent = append(g.parent, parent)
		g.via = append(g.via, via)
		return id, true
	}
	add(s0, 0, Step{})
	if p, d := safety(&s0); p != "" {
		res.Violation = g.trace(0, p, d)
	}
	levelEnd, depth := 1, 0
	var steps []Step
	report := func() {
		if cfg.Progress != nil {
			cfg.Progress(Progress{States: len(g.states), Transitions: res.Transitions, Queue: len(g.states) - len(g.succStart), Depth: depth, Elapsed: time.Since(start)})
		}
	}
	for i := 0; i < len(g.states) && res.Violation == nil; i++ {
		if i == levelEnd {
			depth++
			levelEnd = len(g.states)
		}
		if cfg.Bounds.MaxStates > 0 && len(g.states) >= cfg.Bounds.MaxStates {
			break
		}
		g.succStart = append(g.succStart, uint32(len(g.succ)))
		g.trunc = append(g.trunc, false)
		cur := g.states[i]
		steps = r.enabled(&cur, steps[:0])
		for _, st := range steps {
			next := r.apply(&cur, st)
			if r.err != nil {
				return nil, fmt.Errorf("%w (after %s in %s)", r.err, st, cur.Summary())
			}
			if r.trunc != "" {
				g.trunc[i] = true
				res.Truncated++
				continue
			}
			res.Transitions++
			for _, k := range r.fired {
				res.Hits[k]++
			}
			if next == cur {
				continue
			}
			id, fresh := add(next, uint32(i), st)
			var fl uint8
			if st.graceful() {
				fl |= edgeGraceful
			}
			g.succ = append(g.succ, id)
			g.succFlag = append(g.succFlag, fl)
			if fresh {
				if p, d := safety(&next); p != "" {
					res.Violation = g.trace(id, p, d)
					break
				}
				if len(g.states)%every == 0 {
					report()
				}
			}
		}
	}
	res.States = len(g.states)
	res.Depth = depth
	res.Complete = res.Violation == nil && len(g.succStart) == len(g.states)
	if res.Complete {
		g.succStart = append(g.succStart, uint32(len(g.succ)))
		res.Violation = g.graphProperties()
	}
	res.Elapsed = time.Since(start)
	report()
	return res, nil
}

// trace builds the violation for state id from the BFS parent links.
func (g *graph) trace(id uint32, prop, detail string) *Violation {
	var steps []Step
	var states []State
	for x := id; x != 0; x = g.parent[x] {
		steps = append(steps, g.via[x])
		states = append(states, g.states[x])
	}
	states = append(states, g.states[0])
	for i, j := 0, len(steps)-1; i < j; i, j = i+1, j-1 {
		steps[i], steps[j] = steps[j], steps[i]
	}
	for i, j := 0, len(states)-1; i < j; i, j = i+1, j-1 {
		states[i], states[j] = states[j], states[i]
	}
	return &Violation{Property: prop, Detail: detail, Steps: steps, States: states, LoopAt: -1}
}

// extend appends to v the path through successors of the last state that
// pick chooses (until pick returns false or limit steps).
func (g *graph) extend(v *Violation, last uint32, pick func(from uint32, k int) bool, limit int) {
	for range limit {
		found := false
		for k := int(g.succStart[last]); k < int(g.succStart[last+1]); k++ {
			if pick(last, k) {
				n := g.succ[k]
				v.Steps = append(v.Steps, g.stepBetween(last, n))
				v.States = append(v.States, g.states[n])
				last, found = n, true
				break
			}
		}
		if !found {
			return
		}
	}
}

// stepBetween finds a step leading from state a to state b.
func (g *graph) stepBetween(a, b uint32) Step {
	if g.parent[b] == a {
		return g.via[b]
	}
	cur := g.states[a]
	for _, st := range g.r.enabled(&cur, nil) {
		if next := g.r.apply(&cur, st); g.r.trunc == "" && g.r.err == nil && next == g.states[b] {
			return st
		}
	}
	return g.via[b]
}

// safety checks the invariants that must hold in every reachable state and
// returns the first property violated (or "") with a description.
func safety(s *State) (string, string) {
	for i := range 2 {
		c := &s.E[i].Conn
		// A connection that has sent its FIN is closing (RFC 9293 §3.10.4:
		// CLOSE moves ESTABLISHED to FIN-WAIT-1 and CLOSE-WAIT to LAST-ACK;
		// a FIN queued in SYN-SENT or SYN-RECEIVED goes out from FIN-WAIT-1).
		if c.has(tFinSent) {
			switch c.St {
			case tcp.StateFinWait1, tcp.StateFinWait2, tcp.StateClosing, tcp.StateLastAck, tcp.StateTimeWait:
			default:
				return PropFinState, fmt.Sprintf("%s sent its FIN but is in %s", epName(i), c.St)
			}
		}
		// No stuck state without a running timer: a state that waits for
		// the peer keeps a timer that will resend or give up.
		switch c.St {
		case tcp.StateSynSent, tcp.StateSynReceived, tcp.StateFinWait1, tcp.StateClosing, tcp.StateLastAck:
			if !c.has(tRtx) {
				return PropTimer, fmt.Sprintf("%s is in %s with no retransmission timer running", epName(i), c.St)
			}
		case tcp.StateTimeWait:
			if !c.has(tTW) {
				return PropTimer, fmt.Sprintf("%s is in TimeWait with no 2*MSL timer running", epName(i))
			}
		case tcp.StateFinWait2:
			if c.has(tUserClosed) && !c.has(tTW) {
				return PropTimer, fmt.Sprintf("%s is an orphaned FinWait2 with no FIN-WAIT-2 timer", epName(i))
			}
		case tcp.StateEstablished, tcp.StateCloseWait:
			if c.SndUna != c.SndNxt && !c.has(tRtx) {
				return PropTimer, fmt.Sprintf("%s has unacknowledged data and no retransmission timer", epName(i))
			}
		}
	}
	if s.C[0].N == 0 && s.C[1].N == 0 {
		for i := range 2 {
			a, b := &s.E[i], &s.E[1-i]
			if a.Conn.St != tcp.StateEstablished {
				continue
			}
			switch {
			case b.Conn.St == tcp.StateEstablished:
				if !a.Conn.has(tRtx) && !b.Conn.has(tRtx) && (a.Conn.SndNxt != b.Conn.RcvNxt || a.Conn.SndUna != a.Conn.SndNxt) {
					return PropEstab, fmt.Sprintf("both Established and idle but %s SND.UNA=%d SND.NXT=%d and %s RCV.NXT=%d disagree",
						epName(i), a.Conn.SndUna, a.Conn.SndNxt, epName(1-i), b.Conn.RcvNxt)
				}
			case b.Conn.has(tRtx):
			case b.Conn.St == tcp.StateClosed && explains(b, a):
			default:
				return PropEstab, fmt.Sprintf("channel empty, %s Established but %s is %s with no retransmission pending", epName(i), epName(1-i), b.Conn.St)
			}
		}
	}
	if s.quiescent() {
		stable := func(x tcp.State) bool {
			return x == tcp.StateClosed || x == tcp.StateEstablished || x == tcp.StateFinWait2 || x == tcp.StateCloseWait
		}
		for i := range 2 {
			a, b := &s.E[i], &s.E[1-i]
			if !stable(a.Conn.St) {
				return PropHalfOpen, fmt.Sprintf("nothing in flight, no timer, and %s is in %s", epName(i), a.Conn.St)
			}
			if a.Conn.St != tcp.StateClosed && b.Conn.St == tcp.StateClosed && !explains(b, a) {
				return PropHalfOpen, fmt.Sprintf("nothing in flight, no timer: %s is %s but %s closed gracefully", epName(i), a.Conn.St, epName(1-i))
			}
		}
		x, y := s.E[0].Conn.St, s.E[1].Conn.St
		if x != tcp.StateClosed && y != tcp.StateClosed {
			ok := (x == tcp.StateEstablished && y == tcp.StateEstablished) ||
				(x == tcp.StateFinWait2 && y == tcp.StateCloseWait) || (x == tcp.StateCloseWait && y == tcp.StateFinWait2)
			if !ok {
				return PropHalfOpen, fmt.Sprintf("nothing in flight, no timer, and the pair (%s, %s) is not a stable pair", x, y)
			}
		}
	}
	return "", ""
}
