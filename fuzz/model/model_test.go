package model

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netspec/netspec/fsm/tcp"
)

// TestQuickSuite runs the suite `make test` and `netspec check` run: every
// property holds in every run, no row fires outside its profile, and every
// row of the table fires in some run or is allow-listed with its reason
// (and no allow-list entry excuses a row that fires).
func TestQuickSuite(t *testing.T) {
	suite, err := RunSuite(QuickRuns(), nil, func(run Run, res *Result) {
		t.Logf("%s: %d states, %d transitions (%d cut at a bound), depth %d, %v",
			run.Label(), res.States, res.Transitions, res.Truncated, res.Depth, res.Elapsed)
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := suite.Violation; v != nil {
		var b bytes.Buffer
		WriteTrace(&b, suite.ViolRun.Config, v, "")
		t.Fatalf("%s: %s: %s\n%s", suite.ViolRun.Name, v.Property, v.Detail, b.String())
	}
	if !suite.Complete() {
		t.Errorf("a search is incomplete")
	}
	for _, f := range suite.Foreign {
		t.Errorf("row fired outside its profile: %s", f)
	}
	if err := suite.Coverage(); err != nil {
		t.Error(err)
	}
	hits, table := suite.Hits, suite.Table
	fired, unreachable, gaps := Coverage(table, hits, suite.Ran)
	t.Logf("rules fired: %d of %d; allow-listed: %d; gaps: %d", fired, len(table.Rules), len(unreachable), len(gaps))
	// The rows that carry the connection's life must fire.
	for _, want := range []struct {
		st tcp.State
		ev tcp.Event
		g  []tcp.Guard
	}{
		{tcp.StateLastAck, tcp.EvSegAck, []tcp.Guard{tcp.GOurFinAcked}},
		{tcp.StateClosing, tcp.EvSegAck, []tcp.Guard{tcp.GOurFinAcked}},
		{tcp.StateFinWait1, tcp.EvSegAck, []tcp.Guard{tcp.GOurFinAcked}},
		{tcp.StateSynReceived, tcp.EvSegAck, []tcp.Guard{tcp.GAckAcceptable, tcp.GPassiveOpen}},
		{tcp.StateSynSent, tcp.EvSegPre, []tcp.Guard{tcp.GHasSYN}},
		{tcp.StateSynReceived, tcp.EvSegSeq, []tcp.Guard{tcp.GHasSYN, tcp.GSeqIsIrs}},
		{tcp.StateSynReceived, tcp.EvSegSeq, []tcp.Guard{tcp.GHasSYN, tcp.GSeqIsIrs, tcp.GHasACK}},
	} {
		r := table.Find(want.st, want.ev, want.g...)
		if r == nil {
			t.Errorf("no rule (%s, %s, %v)", want.st, want.ev, want.g)
			continue
		}
		if hits[r.ID] == 0 {
			t.Errorf("rule never fired: %s", r)
		}
	}
}

// brokenLastAck returns the table with LAST-ACK ignoring the ACK of its FIN:
// the OurFinAcked row stays in LAST-ACK instead of closing.
func brokenLastAck(t *testing.T) *Table {
	tb := DefaultTable().Clone()
	r := tb.Lookup(tcp.StateLastAck, tcp.EvSegAck, tcp.GOurFinAcked)
	if r == nil {
		t.Fatal("no LastAck/SegAck OurFinAcked rule")
	}
	r.Next = tcp.StateLastAck
	r.Actions = []tcp.Action{tcp.AAckAdvance}
	r.Outcome = tcp.OutContinue
	return tb
}

func TestBrokenTableIsCaught(t *testing.T) {
	tb := brokenLastAck(t)
	cfg := Config{Bounds: DefaultBounds(), Table: tb, Exact: true}
	res, err := Check(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := res.Violation
	if v == nil {
		t.Fatal("a LAST-ACK that ignores the ACK of its FIN passed the check")
	}
	t.Logf("%s after %d steps: %s", v.Property, len(v.Steps), v.Detail)
	last := v.States[len(v.States)-1]
	if last.E[0].Conn.St != tcp.StateLastAck && last.E[1].Conn.St != tcp.StateLastAck {
		t.Errorf("counterexample does not end in LastAck: %s", last.Summary())
	}
	// Shortest: BFS finds no shorter trace, so a second search bounded to
	// one fewer level finds nothing.
	if len(v.Steps) > 20 {
		t.Errorf("counterexample has %d steps; want a short one", len(v.Steps))
	}

	// The trace round-trips through the file format and replays: it shows
	// the violation on the broken table and not on the generated one.
	var b bytes.Buffer
	if err := WriteTrace(&b, cfg, v, "LastAck/SegAck [OurFinAcked] mutated to stay in LastAck"); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("MODEL_REWRITE") != "" {
		if err := os.WriteFile("../../testdata/counterexamples/lastack-ignores-fin-ack.trace", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := ParseTrace(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Property != v.Property || len(tr.Steps) != len(v.Steps) || tr.Bounds != cfg.Bounds {
		t.Fatalf("round trip: %+v", tr)
	}
	if _, bad, err := Replay(tb, tr); err != nil || !bad {
		t.Fatalf("replay on the broken table: violated=%v err=%v", bad, err)
	}
	if _, bad, err := Replay(nil, tr); err == nil && bad {
		t.Fatal("replay on the generated table shows the violation too")
	}
}

func TestCommittedCounterexamplesReplay(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/counterexamples/*.trace")
	if len(files) == 0 {
		t.Skip("no counterexamples committed")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := ParseTrace(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// Each committed trace records a bug in a mutated table: on the
		// generated table it must no longer show its property.
		if _, bad, err := Replay(nil, tr); err == nil && bad {
			t.Errorf("%s: the generated table still violates %s", f, tr.Property)
		}
		if strings.Contains(string(data), "LastAck/SegAck") {
			if _, bad, err := Replay(brokenLastAck(t), tr); err != nil || !bad {
				t.Errorf("%s: does not replay on the broken table: %v %v", f, bad, err)
			}
		}
	}
}

func TestMissingModelFailsLoudly(t *testing.T) {
	saved := absFuncs.Actions[tcp.AHoldFin]
	absFuncs.Actions[tcp.AHoldFin] = nil
	defer func() { absFuncs.Actions[tcp.AHoldFin] = saved }()
	if _, err := Check(Config{Bounds: DefaultBounds()}); err == nil || !strings.Contains(err.Error(), "HoldFin") {
		t.Fatalf("err = %v, want an error naming HoldFin", err)
	}
}

func TestMatchAgreesWithGenerated(t *testing.T) {
	tb := DefaultTable()
	for seed := range 64 {
		eval := func(g tcp.Guard) bool { return (seed>>(int(g)%6))&1 == 1 || int(g)%(seed%5+2) == 0 }
		for st := range tcp.NumStates {
			for ev := range tcp.NumEvents {
				i, ok := tb.match(tcp.State(st), tcp.Event(ev), eval)
				want := tcp.Match(tcp.State(st), tcp.Event(ev), eval)
				if !ok || want == nil || int(want.ID) != i {
					t.Fatalf("(%s, %s): model picks %d, tcp.Match %v", tcp.State(st), tcp.Event(ev), i, want)
				}
			}
		}
	}
}

func TestStepAndBoundsRoundTrip(t *testing.T) {
	for _, s := range []string{"A call conn Close", "A call conn CloseWrite", "B call listener OpenPassive", "B timeout Rtx", "A timeout FinWait2", "A->B deliver 1", "B->A lose 0", "A->B dup 2"} {
		st, err := ParseStep(s)
		if err != nil || st.String() != s {
			t.Errorf("%q -> %v %v", s, st, err)
		}
	}
	for _, s := range []string{"C call conn Close", "A->A deliver 0", "A call conn Frob", "A timeout Soon", "A->B deliver x"} {
		if _, err := ParseStep(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
	b := DeepBounds()
	got, err := ParseBounds(DefaultBounds(), b.String())
	if err != nil || got != b {
		t.Fatalf("bounds round trip: %v %v", got, err)
	}
	if err := (Bounds{Cap: 2, Loss: 2, Rtx: 2, Window: 4}).Validate(); err == nil {
		t.Error("rtx <= loss accepted")
	}
	if err := (Bounds{Cap: 2, Loss: 1, Inject: 1, Rtx: 2, Window: 4}).Validate(); err == nil {
		t.Error("rtx <= loss + inject accepted")
	}
}

// oldSynReceivedClose returns the table as it was before the fix: the final
// ACK of a passive handshake goes to ESTABLISHED even with a FIN queued.
func oldSynReceivedClose(t *testing.T) *Table {
	tb := DefaultTable().Clone()
	var fixed *tcp.Rule
	cell := tb.Cells[tcp.StateSynReceived][tcp.EvSegAck]
	for i := cell.Start; i < cell.End; i++ {
		if r := &tb.Rules[i]; hasCond(r, "PassiveOpen") && hasCond(r, "FinQueued") {
			fixed = r
		}
	}
	if fixed == nil {
		t.Fatal("no SynReceived/SegAck [AckAcceptable,PassiveOpen,FinQueued] rule")
	}
	fixed.Next = tcp.StateEstablished
	return tb
}

// TestSynReceivedClose: CLOSE of a passively opened connection in
// SYN-RECEIVED (reachable when user calls reach the embryo) queues the FIN,
// and the final ACK takes it to FIN-WAIT-1 (RFC 9293 §3.10.4). The table as
// it was before the fix (to ESTABLISHED, FIN sent anyway) is caught by
// fin-sent-only-when-closing.
func TestSynReceivedClose(t *testing.T) {
	b := DefaultBounds()
	b.Reorder, b.Loss = 0, 0
	res, err := Check(Config{Bounds: b, EmbryoCalls: true})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Violation; v != nil {
		t.Fatalf("fixed table: %s: %s", v.Property, v.Detail)
	}
	if r := DefaultTable().Find(tcp.StateSynReceived, tcp.EvSegAck, tcp.GAckAcceptable, tcp.GPassiveOpen, tcp.GFinQueued); r == nil || res.Hits[r.ID] == 0 {
		t.Errorf("the FinQueued row of SynReceived/SegAck never fired: %v", r)
	}
	res, err = Check(Config{Bounds: b, EmbryoCalls: true, Table: oldSynReceivedClose(t)})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Violation
	if v == nil || v.Property != PropFinState {
		t.Fatalf("old table: violation %+v, want %s", v, PropFinState)
	}
	t.Logf("old table: %s after %d steps: %s", v.Property, len(v.Steps), v.Detail)
}

// TestPackRoundTrip: every state the quick search meets packs and unpacks
// to itself, and every step survives its 16-bit encoding.
func TestPackRoundTrip(t *testing.T) {
	r := &runner{t: DefaultTable(), b: DefaultBounds(), symmetric: true}
	seen := 0
	var walk func(s State, depth int)
	walk = func(s State, depth int) {
		var p packed
		s.pack(&p)
		if got := p.unpack(); got != s {
			t.Fatalf("pack round trip:\n got %+v\nwant %+v", got, s)
		}
		buf := appendVar([]byte{7}, &p)
		if got, n := readVar(buf[1:]); got != s || n != len(buf)-1 {
			t.Fatalf("frontier round trip (%d of %d bytes):\n got %+v\nwant %+v", n, len(buf)-1, got, s)
		}
		seen++
		if depth == 0 {
			return
		}
		for _, st := range r.enabled(&s, nil) {
			if d := decodeStep(encodeStep(st)); d != st {
				t.Fatalf("step %v encodes to %v", st, d)
			}
			next := r.apply(&s, st)
			if r.trunc == "" && r.err == nil && next != s {
				walk(next, depth-1)
			}
		}
	}
	walk(State{}, 6)
	t.Logf("%d states round-tripped", seen)
}

// TestExactAndHashedAgree: hash compaction explores the same graph as the
// exact visited set at the quick bounds (no fingerprint collided).
func TestExactAndHashedAgree(t *testing.T) {
	b := DefaultBounds()
	b.Reorder = 0
	var got [2]*Result
	for i, exact := range []bool{false, true} {
		res, err := Check(Config{Bounds: b, Exact: exact})
		if err != nil {
			t.Fatal(err)
		}
		got[i] = res
		t.Logf("exact=%v: %d states, %d edges, %d bytes (%.1f per state), omission bound %.2g",
			exact, res.States, res.Edges, res.Bytes, float64(res.Bytes)/float64(res.States), res.OmissionBound)
	}
	if got[0].States != got[1].States || got[0].Transitions != got[1].Transitions || got[0].Edges != got[1].Edges {
		t.Errorf("hashed %d/%d/%d, exact %d/%d/%d states/transitions/edges", got[0].States, got[0].Transitions, got[0].Edges, got[1].States, got[1].Transitions, got[1].Edges)
	}
	if got[1].OmissionBound != 0 || got[0].OmissionBound <= 0 || got[0].OmissionBound > 1e-6 {
		t.Errorf("omission bounds %g (hashed), %g (exact)", got[0].OmissionBound, got[1].OmissionBound)
	}
}

// TestTimeWaitSynReceivedAckLoop pins an ACK loop the injection runs found
// (with a SYN newer than RCV.NXT injected into TIME-WAIT, a kind later
// dropped from the suite): B's TIME-WAIT connection re-opened by a spoofed
// SYN (MAY-2) into SYN-RECEIVED, A still in TIME-WAIT of the old connection.
// A answers B's SYN,ACK as unacceptable (step 1: an ACK <SEQ=2>); B, in
// SYN-RECEIVED, finds that ACK's sequence number unacceptable too and ACKs
// (<SEQ=17>); and so on: two ends answering each other's ACKs, no counter
// moving, until a timer ends one side. fsm/tcp does the same unless
// Config.OOWAckInterval rate-limits these ACKs (Linux's
// tcp_oow_rate_limited; Linux's SYN-RECV also checks the ACK number first and
// resets). The test fails when the loop disappears from the table, or when
// the rate limit (Bounds.OowLimit) no longer ends it.
func TestTimeWaitSynReceivedAckLoop(t *testing.T) {
	var s State
	s.E[0] = Endpoint{NextISS: 16, Opens: 1, Conn: TCB{St: tcp.StateTimeWait, Flags: tFinSent | tFinRcvd | tTW,
		SndUna: 2, SndNxt: 2, RtxNxt: 2, DataEnd: 1, RcvNxt: 2, RcvEdge: 6}}
	s.E[1] = Endpoint{NextISS: 32, Opens: 1, Lsn: tcp.StateListen, Conn: TCB{St: tcp.StateSynReceived, Flags: tPassive | tRtx,
		Iss: 16, SndUna: 16, SndNxt: 17, RtxNxt: 16, DataEnd: 17, Irs: 3, RcvNxt: 4, RcvEdge: 8}}
	s.C[1].N = 1
	s.C[1].S[0] = Seg{Flags: fSYN | fACK, Seq: 16, Ack: 4}
	b := DefaultBounds()
	b.Loss, b.Reorder, b.Aborts, b.Data = 0, 0, 0, 0
	res, err := Check(Config{Bounds: b, Start: &s})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Violation
	if v == nil || v.Property != PropLivelock {
		t.Fatalf("violation %+v, want %s", v, PropLivelock)
	}
	for _, st := range v.Steps[v.LoopAt:] {
		if st.Kind != KDeliver {
			t.Errorf("loop step %s is not a delivery", st)
		}
	}
	var b2 bytes.Buffer
	WriteTrace(&b2, Config{Bounds: b}, v, "")
	t.Logf("%s", b2.String())

	// With the rate limit (tcp.Config.OOWAckInterval) the loop ends: the
	// graph has no cycle, no deadlock, and SYN-RECEIVED resolves (checked in
	// that order, before graceful termination, which fails here because the
	// embryo of the spoofed SYN ends only by its R2 timeout).
	b.OowLimit = OowLimitFor(tcp.ProfileLinux) // the linux profile's default
	if b.OowLimit == 0 {
		t.Fatal("the linux profile's default does not model the rate limit")
	}
	res, err = Check(Config{Bounds: b, Start: &s})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Violation; !res.Complete || (v != nil && v.Property != PropGraceful) {
		t.Fatalf("with oowlimit=1: complete=%v, violation %v", res.Complete, v)
	}
}

// TestQuickRunsModelOowDefault: the quick suite models each profile's default
// tcp.Config, so the ACK loop above is checked absent under the linux
// profile (OOWAckInterval 500 ms by default, OowLimit 1) and the strict
// profile runs without the limit (its default: every ACK sent).
func TestQuickRunsModelOowDefault(t *testing.T) {
	for _, r := range QuickRuns() {
		p := tcp.DefaultProfile
		if r.Table != nil {
			p = r.Table.Profile
		}
		want := 0
		if p == tcp.ProfileLinux {
			want = 1
		}
		if r.Bounds.OowLimit != want {
			t.Errorf("%s: oowlimit=%d, want %d for profile %s", r.Name, r.Bounds.OowLimit, want, p)
		}
	}
}

// TestReachableImpossibleRowIsCaught: a row marked impossible that a run
// can reach (LAST-ACK's ACK of our FIN, in a mutated copy of the table) is
// the impossible-row-fired violation, with a trace that ends with the step
// that fired it and replays on the mutated table only.
func TestReachableImpossibleRowIsCaught(t *testing.T) {
	tb := DefaultTable().Clone()
	r := tb.Lookup(tcp.StateLastAck, tcp.EvSegAck, tcp.GOurFinAcked)
	if r == nil {
		t.Fatal("no LastAck/SegAck OurFinAcked rule")
	}
	r.Next, r.Actions, r.Outcome = tcp.StateLastAck, nil, tcp.OutImpossible
	cfg := Config{Bounds: DefaultBounds(), Table: tb, Exact: true}
	res, err := Check(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := res.Violation
	if v == nil || v.Property != PropImpossible || !strings.Contains(v.Detail, "LastAck/SegAck [OurFinAcked]") {
		t.Fatalf("violation %+v, want %s naming the row", v, PropImpossible)
	}
	if len(v.States) != len(v.Steps)+1 {
		t.Fatalf("%d states for %d steps", len(v.States), len(v.Steps))
	}
	var b bytes.Buffer
	if err := WriteTrace(&b, cfg, v, "LastAck/SegAck [OurFinAcked] marked impossible"); err != nil {
		t.Fatal(err)
	}
	tr, err := ParseTrace(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if _, bad, err := Replay(tb, tr); err != nil || !bad {
		t.Fatalf("replay on the mutated table: violated=%v err=%v", bad, err)
	}
	if _, bad, err := Replay(nil, tr); err == nil && bad {
		t.Fatal("replay on the generated table shows the violation too")
	}
}
