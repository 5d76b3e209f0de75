package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fuzz/cover"
)

const scenarioDir = "../../testdata/scenarios"

// peerISNs are the peer sequence spaces every script runs in: from zero, and
// just below 2^32 so that every script also crosses the wrap.
var peerISNs = []uint32{0, 0xffffff00}

var reqID = regexp.MustCompile(`^(MUST|SHLD|MAY|REC)-[0-9]+$|^RFC[0-9]+(:[0-9.]+)?$|^PI:[a-z0-9_]+$`)

func loadScripts(t *testing.T) []*Script {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(scenarioDir, "*.pkt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no scripts in %s", scenarioDir)
	}
	var out []*Script
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Parse(filepath.Base(f), src)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestScenarios runs every script under testdata/scenarios in both peer
// sequence spaces and with two seeds for our ISN.
func TestScenarios(t *testing.T) {
	hits := make([]uint64, len(tcp.Rules))
	for _, s := range loadScripts(t) {
		t.Run(strings.TrimSuffix(s.Name, ".pkt"), func(t *testing.T) {
			if len(s.Covers) == 0 {
				t.Errorf("%s: no \"// covers:\" header", s.Name)
			}
			for _, id := range s.Covers {
				if !reqID.MatchString(id) {
					t.Errorf("%s: covers: %q is not a requirement ID", s.Name, id)
				}
			}
			if s.KnownBug != "" {
				// A script pinning an open bug must still fail; once the
				// bug is fixed it fails here until the header goes.
				if _, err := Run(s, Options{Seed: 1}); err == nil {
					t.Fatalf("%s passes: remove its known-bug header (%s)", s.Name, s.KnownBug)
				} else {
					t.Logf("known bug (%s) still present:\n%v", s.KnownBug, err)
				}
				return
			}
			for _, isn := range peerISNs {
				for _, seed := range []uint64{1, 0xdeadbeef} {
					res, err := Run(s, Options{PeerISN: isn, Seed: seed})
					if err != nil {
						t.Fatalf("peer ISN %#x, seed %#x:\n%v", isn, seed, err)
					}
					for i, h := range res.RuleHits {
						hits[i] += h
					}
				}
			}
		})
	}
	reportCoverage(t, hits)
}

// TestReachableCells pins the walk: the synchronized states start at step 1,
// a SYN,ACK in SYN-SENT continues at step 6 in ESTABLISHED, and no stage after
// step 5 runs in SYN-RECEIVED.
func TestReachableCells(t *testing.T) {
	r := cover.ReachableCells()
	for _, c := range []struct {
		st   tcp.State
		ev   tcp.Event
		want bool
	}{
		{tcp.StateEstablished, tcp.EvSegSeq, true},
		{tcp.StateEstablished, tcp.EvSegPre, false},
		{tcp.StateEstablished, tcp.EvSegUrg, true},
		{tcp.StateSynSent, tcp.EvSegPre, true},
		{tcp.StateSynSent, tcp.EvSegSeq, false},
		{tcp.StateSynReceived, tcp.EvSegAck, true},
		{tcp.StateSynReceived, tcp.EvSegText, false},
		{tcp.StateSynReceived, tcp.EvSegFin, false},
		{tcp.StateTimeWait, tcp.EvSegFin, true},
	} {
		if got := r[[2]int{int(c.st), int(c.ev)}]; got != c.want {
			t.Errorf("%v/%v reachable = %v, want %v", c.st, c.ev, got, c.want)
		}
	}
}

// reportCoverage logs, per SEGMENT ARRIVES (stage, state) cell, how many of its
// rows the scripts fired, and lists the rows no script fired.
func reportCoverage(t *testing.T, hits []uint64) {
	var missed, cold []string
	rows, fired := 0, 0
	cells, cellsHit := 0, 0
	reach := cover.ReachableCells()
	var unreachable []string
	for st := tcp.State(0); st < tcp.NumStates; st++ {
		for _, ev := range cover.SegEvents {
			c := tcp.Cells[st][ev]
			if !reach[[2]int{int(st), int(ev)}] {
				if c.End > c.Start && ev != tcp.EvSegPre && st != tcp.StateClosed && st != tcp.StateListen && st != tcp.StateSynSent {
					unreachable = append(unreachable, fmt.Sprintf("%v/%v", st, ev))
				}
				continue
			}
			any := false
			for i := c.Start; i < c.End; i++ {
				rows++
				if hits[i] > 0 {
					fired++
					any = true
				} else {
					r := &tcp.Rules[i]
					missed = append(missed, fmt.Sprintf("%v/%v row %d (%s)", st, ev, r.ID, r.Src))
				}
			}
			if c.End > c.Start {
				cells++
				if any {
					cellsHit++
				} else {
					cold = append(cold, fmt.Sprintf("%v/%v", st, ev))
				}
			}
		}
	}
	sort.Strings(missed)
	t.Logf("SEGMENT ARRIVES coverage: %d/%d (stage,state) cells, %d/%d rows", cellsHit, cells, fired, rows)
	if len(unreachable) > 0 {
		t.Logf("  synchronized-state cells no rule path reaches (not counted): %s", strings.Join(unreachable, " "))
	}
	if len(cold) > 0 {
		t.Logf("  cells no script reaches: %s", strings.Join(cold, " "))
	}
	for _, m := range missed {
		t.Logf("  not fired: %s", m)
	}
}

func TestParse(t *testing.T) {
	src := `// covers: MUST-7
--tolerance_usecs=1000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0.25 < S. 5:5(0) ack 1 win 1000 <mss 1460,sackOK,nop,wscale 7,TS val 1 ecr 0>
* > P. 1:11(10) ack 6 urg 3 <...>
1.5 read(4, ..., 10) = -1 EAGAIN (Resource temporarily unavailable)
+0 %{ assert tcpi_state == TCP_CLOSE }%
`
	s, err := Parse("p.pkt", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Covers) != 1 || s.Covers[0] != "MUST-7" || s.Tolerance.Microseconds() != 1000 || len(s.Events) != 5 {
		t.Fatalf("header: %+v", s)
	}
	in := s.Events[1]
	if in.Kind != KindInbound || in.Mode != TimeRelative || in.Time.Milliseconds() != 250 {
		t.Fatalf("inbound event: %+v", in)
	}
	if got := in.Seg.String(); got != "S. 5:5(0) ack 1 win 1000 <mss 1460,sackOK,TS val 1 ecr 0,wscale 7>" {
		t.Errorf("inbound segment: %s", got)
	}
	out := s.Events[2]
	if out.Kind != KindOutbound || out.Mode != TimeAny || !out.Seg.AnyOpts || out.Seg.Len != 10 || out.Seg.Urg != 3 {
		t.Errorf("outbound event: %+v", out)
	}
	rd := s.Events[3]
	if rd.Kind != KindCall || rd.Call.Name != "read" || rd.Call.Ret != -1 || rd.Call.Errno != "EAGAIN" || rd.Mode != TimeAbsolute {
		t.Errorf("call event: %+v", rd)
	}
	if s.Events[4].Kind != KindAssert || s.Events[4].Assert != "tcpi_state == TCP_CLOSE" {
		t.Errorf("assert event: %+v", s.Events[4])
	}
}

func TestParseErrors(t *testing.T) {
	for _, src := range []string{
		"0 < S 0:1(0)",              // end - seq != len
		"0 < X 0:0(0)",              // unknown flag
		"0 < S 0:0(0) bogus 1",      // unknown field
		"0 < S 0:0(0) <mss>",        // option without value
		"0 < S 0:0(0) <mss 1460",    // unterminated
		"0 close(3)",                // no result
		"0 read(3, ..., 1) = -1",    // -1 without errno
		"x < S 0:0(0)",              // bad time
		"0 %{ print(1) }%",          // not an assert
		"--tolerance_usecs=-5",      // bad tolerance
		"0 < S 0:0(0) win 70000",    // window too large
		"0 < S 0:0(0) <TS val 1>",   // TS needs ecr
		"0 < S 4294967296:0(0)",     // seq too large
		"0 read(3, ..., 1 = 0",      // unbalanced
		"0 < S 0:0(0) <wscale 300>", // wscale too large
	} {
		if _, err := Parse("e.pkt", []byte(src)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: err %v, want ErrSyntax", src, err)
		}
	}
}

const handshake = `0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1460,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,wscale 3>
+.1 < . 1:1(0) ack 1 win 257
+0 accept(3, ..., ...) = 4
`

// TestRunnerReportsMismatch checks that the runner fails, with the script line
// and a field diff, when the stack does not do what a script says.
func TestRunnerReportsMismatch(t *testing.T) {
	for _, c := range []struct {
		name, tail, want string
	}{
		{"wrong ack", "+0 < P. 1:11(10) ack 1 win 257\n+.04 > . 1:1(0) ack 12\n", "ack 11 != 12"},
		{"wrong flags", "+0 < F. 1:1(0) ack 1 win 257\n+0 > R 1:1(0)\n", "flags . != R"},
		{"missing", "+0 > . 1:1(0) ack 1\n", "none sent"},
		{"unexpected", "+0 < P. 1:11(10) ack 1 win 257\n+.1 read(4, ..., 10) = 10\n", "unexpected outbound segment"},
		{"late", "+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n+2 > P. 1:11(10) ack 1\n", "sent at"},
		{"result", "+0 read(4, ..., 10) = 10\n", "returned -1 EAGAIN"},
		{"state", "+0 %{ assert tcpi_state == TCP_CLOSE_WAIT }%\n", "state is Established"},
		{"drops", "+0 %{ assert drops.OutOfWindow == 1 }%\n", "drop counter OutOfWindow is 0"},
		{"options", "+0 < S 0:0(0) win 65535\n", "unexpected outbound"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse("bad.pkt", []byte(handshake+c.tail))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Run(s, Options{Seed: 1})
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("err %v, want a *Failure", err)
			}
			msg := f.Error()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, "bad.pkt:") || f.Line < 8 {
				t.Fatalf("failure does not say %q with the line:\n%s", c.want, msg)
			}
		})
	}
}

// TestRunnerOptionMismatch: an expected option list is compared exactly.
func TestRunnerOptionMismatch(t *testing.T) {
	src := strings.Replace(handshake, "<mss 1460,wscale 3>", "<mss 1400,wscale 3>", 1)
	s, err := Parse("opt.pkt", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(s, Options{Seed: 1})
	if err == nil || !strings.Contains(err.Error(), "options <mss 1460,wscale 3> != <mss 1400,wscale 3>") {
		t.Fatalf("err = %v", err)
	}
}
