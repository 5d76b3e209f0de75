package model

import (
	"fmt"
	"math"
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
	// Exact keeps every visited state in full instead of its 64-bit
	// fingerprint (hash compaction): no omission is possible, at about five
	// times the memory per state.
	Exact bool
}

// Progress reports how far a search has come.
type Progress struct {
	States, Transitions, Queue int
	Depth                      int
	Elapsed                    time.Duration
	Bytes                      int64 // memory held by the search (estimate)
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
	Edges       int   // distinct successor links stored
	Bytes       int64 // memory the search held at its peak (estimate; see graph.bytes)
	Exact       bool  // full states were stored (no hash compaction)
	// OmissionBound is, under hash compaction, an upper bound on the
	// probability that a fingerprint collision hid a state (SPIN's
	// n²/2^65 for n states and 64-bit fingerprints); 0 in exact mode.
	OmissionBound float64
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
	PropReleased   = "released-tcb-holds-no-timer"
	PropEnds       = "every-orphan-ends"
	PropImpossible = "impossible-row-fired"
	progressPeriod = 100000
)

// Bits recorded per state for the graph properties (which run after the
// search, when only fingerprints and edges are left).
const (
	bTrunc    uint8 = 1 << iota // a transition ran past a bound
	bGoal                       // both CLOSED, channel empty
	bSynRcvd0                   // A in SYN-RECEIVED
	bSynRcvd1                   // B in SYN-RECEIVED
	bWaits                      // a side waits for the network (deadlock if no successor)
)

// edgeMask takes the graceful flag off an edge.
const edgeMask = 1<<31 - 1

// graph is the explored state graph. A state is its id (BFS order); what is
// kept per state is its fingerprint (or, in exact mode, its packed bytes in
// a map), its BFS parent and the step from it, a few property bits, and its
// distinct successors in CSR form (the top bit of an edge marks a graceful
// step). Full states exist only for the BFS frontier; any other is rebuilt
// by replaying the steps from the start (stateOf).
type graph struct {
	start     State
	set       fpSet             // hash compaction (default)
	exact     map[packed]uint32 // exact mode: the packed states themselves
	parent    chunked[uint32]
	via       chunked[uint16]
	bits      chunked[uint8]
	succStart chunked[uint32]
	succ      chunked[uint32]
	peakFront int // largest frontier (two BFS levels), in bytes
	r         *runner
}

func (g *graph) n() int { return g.parent.len() }

// add returns the id of state s (packed as p), adding it if new.
func (g *graph) add(s *State, p *packed, parent uint32, via Step) (uint32, bool) {
	var id uint32
	var fresh bool
	if g.exact != nil {
		id, fresh = g.exact[*p]
		fresh = !fresh
		if fresh {
			id = uint32(g.parent.len())
			g.exact[*p] = id
		}
	} else {
		id, fresh = g.set.lookupOrAdd(p.fingerprint())
	}
	if !fresh {
		return id, false
	}
	g.parent.add(parent)
	g.via.add(encodeStep(via))
	var b uint8
	if goal(s) {
		b |= bGoal
	}
	for e := range 2 {
		switch s.E[e].Conn.St {
		case tcp.StateSynReceived:
			b |= bSynRcvd0 << e
			b |= bWaits
		case tcp.StateClosed, tcp.StateEstablished, tcp.StateCloseWait, tcp.StateFinWait2:
		default:
			b |= bWaits
		}
	}
	g.bits.add(b)
	return id, true
}

// bytes estimates the memory the search holds: the per-state arrays, the
// visited set, the edges and the largest frontier.
func (g *graph) bytes() int64 {
	b := g.parent.bytes(4) + g.via.bytes(2) + g.bits.bytes(1) + g.succStart.bytes(4) + g.succ.bytes(4)
	if g.exact != nil {
		// A Go map slot holds key and value; groups are at most 7/8 full.
		b += int64(len(g.exact)) * (int64(len(packed{})) + 4 + 1) * 8 / 7
	} else {
		b += g.set.fps.bytes(8) + int64(len(g.set.slots))*4
	}
	return b + int64(g.peakFront)
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
	m, err := t.machine()
	if err != nil {
		return nil, err
	}
	every := cfg.ProgressEvery
	if every <= 0 {
		every = progressPeriod
	}
	start := time.Now()
	res := &Result{Bounds: cfg.Bounds, Table: t, Hits: make([]uint64, len(t.Rules)), Exact: cfg.Exact}
	r := &runner{t: t, m: m, b: cfg.Bounds, embryoCalls: cfg.EmbryoCalls, symmetric: cfg.Symmetric}
	g := &graph{r: r}
	if cfg.Exact {
		g.exact = map[packed]uint32{}
	}
	if cfg.Start != nil {
		g.start = *cfg.Start
	}
	var p packed
	g.start.pack(&p)
	g.add(&g.start, &p, 0, Step{})
	// The frontier: the current level's states back to back (appendVar),
	// read in order at pos, and the next level's.
	front, upcoming := appendVar(nil, &p), []byte(nil)
	pos := 0
	if pr, d := safety(&g.start); pr != "" {
		res.Violation = g.trace(0, pr, d)
	}
	levelEnd, depth := 1, 0
	var steps []Step
	report := func() {
		if cfg.Progress != nil {
			cfg.Progress(Progress{States: g.n(), Transitions: res.Transitions, Queue: g.n() - g.succStart.len(), Depth: depth, Elapsed: time.Since(start), Bytes: g.bytes()})
		}
	}
	for i := 0; i < g.n() && res.Violation == nil; i++ {
		if i == levelEnd {
			depth++
			g.peakFront = max(g.peakFront, cap(front)+cap(upcoming))
			front, upcoming, pos = upcoming, front[:0], 0
			levelEnd = g.n()
		}
		if cfg.Bounds.MaxStates > 0 && g.n() >= cfg.Bounds.MaxStates {
			break
		}
		g.succStart.add(uint32(g.succ.len()))
		first := g.succ.len()
		cur, n := readVar(front[pos:])
		pos += n
		steps = r.enabled(&cur, steps[:0])
		for _, st := range steps {
			next := r.apply(&cur, st)
			if r.err != nil {
				return nil, fmt.Errorf("%w (after %s in %s)", r.err, st, cur.Summary())
			}
			if r.trunc != "" {
				*g.bits.ptr(i) |= bTrunc
				res.Truncated++
				continue
			}
			res.Transitions++
			for _, k := range r.fired {
				res.Hits[k]++
			}
			if r.impossible != nil {
				// A cell the spec says cannot happen did: the trace ends
				// with the step that fired the row.
				res.Violation = g.trace(uint32(i), PropImpossible, fmt.Sprintf("%s fired %s", st, r.impossible))
				res.Violation.Steps = append(res.Violation.Steps, st)
				res.Violation.States = append(res.Violation.States, next)
				break
			}
			if next == cur {
				continue
			}
			next.pack(&p)
			id, fresh := g.add(&next, &p, uint32(i), st)
			if fresh {
				upcoming = appendVar(upcoming, &p)
				if pr, d := safety(&next); pr != "" {
					res.Violation = g.trace(id, pr, d)
					break
				}
				if g.n()%every == 0 {
					report()
				}
			}
			e := id
			if st.graceful(cfg.Bounds.Eager > 0) {
				e |= 1 << 31
			}
			dup := false
			for k := first; k < g.succ.len(); k++ {
				if g.succ.at(k)&edgeMask == id {
					*g.succ.ptr(k) |= e
					dup = true
					break
				}
			}
			if !dup {
				g.succ.add(e)
			}
		}
	}
	g.peakFront = max(g.peakFront, cap(front)+cap(upcoming))
	front, upcoming = nil, nil
	res.States = g.n()
	res.Depth = depth
	res.Edges = g.succ.len()
	res.Bytes = g.bytes()
	if !cfg.Exact {
		// SPIN's bound for hash compaction: with n states and 64-bit
		// fingerprints, the probability that two states collide (and one is
		// never explored) is at most n(n-1)/2 / 2^64.
		n := float64(res.States)
		res.OmissionBound = n * (n - 1) / 2 / math.Exp2(64)
	}
	res.Complete = res.Violation == nil && g.succStart.len() == g.n()
	if res.Complete {
		g.succStart.add(uint32(g.succ.len()))
		res.Violation = g.graphProperties()
	}
	res.Elapsed = time.Since(start)
	report()
	return res, nil
}

// stateOf rebuilds state id by replaying the steps from the start.
func (g *graph) stateOf(id uint32) State {
	var path []uint32
	for x := id; x != 0; x = g.parent.at(int(x)) {
		path = append(path, x)
	}
	s := g.start
	for k := len(path) - 1; k >= 0; k-- {
		s = g.r.apply(&s, decodeStep(g.via.at(int(path[k]))))
	}
	return s
}

// trace builds the violation for state id from the BFS parent links,
// replaying the steps to recover the states along the way.
func (g *graph) trace(id uint32, prop, detail string) *Violation {
	var path []uint32
	for x := id; x != 0; x = g.parent.at(int(x)) {
		path = append(path, x)
	}
	v := &Violation{Property: prop, Detail: detail, States: []State{g.start}, LoopAt: -1}
	s := g.start
	for k := len(path) - 1; k >= 0; k-- {
		st := decodeStep(g.via.at(int(path[k])))
		s = g.r.apply(&s, st)
		v.Steps = append(v.Steps, st)
		v.States = append(v.States, s)
	}
	return v
}

// extend appends to v the path through successors of the last state that
// pick chooses (until pick returns false or limit steps).
func (g *graph) extend(v *Violation, last uint32, pick func(from uint32, k int) bool, limit int) {
	for range limit {
		found := false
		for k := int(g.succStart.at(int(last))); k < int(g.succStart.at(int(last+1))); k++ {
			if pick(last, k) {
				n := g.succ.at(k) & edgeMask
				st, s := g.stepBetween(last, n)
				v.Steps = append(v.Steps, st)
				v.States = append(v.States, s)
				last, found = n, true
				break
			}
		}
		if !found {
			return
		}
	}
}

// stepBetween finds a step leading from state a to state b, and b.
func (g *graph) stepBetween(a, b uint32) (Step, State) {
	cur, want := g.stateOf(a), g.stateOf(b)
	if g.parent.at(int(b)) == a && b != 0 {
		return decodeStep(g.via.at(int(b))), want
	}
	for _, st := range g.r.enabled(&cur, nil) {
		if next := g.r.apply(&cur, st); g.r.trunc == "" && g.r.err == nil && next == want {
			return st, want
		}
	}
	return decodeStep(g.via.at(int(b))), want
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
		// A released TCB (CLOSED) has no timer left: Release stops them all
		// (spec/tcp.fsm), so a row that reaches CLOSED without it is seen.
		if c.St == tcp.StateClosed && c.has(tRtx|tTW) {
			return PropReleased, fmt.Sprintf("%s is Closed with a timer still armed", epName(i))
		}
		// Every connection ends: once nothing is in flight and no timer
		// runs, a connection its application has closed (an orphan) must
		// be CLOSED; nothing else can ever move it.
		if s.quiescent() && c.has(tUserClosed) && c.St != tcp.StateClosed {
			return PropEnds, fmt.Sprintf("%s was closed by its application but stays in %s with nothing in flight and no timer", epName(i), c.St)
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
