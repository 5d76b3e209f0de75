package cover

import (
	"testing"

	"github.com/netspec/netspec/fsm/tcp"
)

// rowOf returns the first row of (st, ev) whose conditions are conds.
func rowOf(t *testing.T, st tcp.State, ev tcp.Event, conds string) *tcp.Rule {
	t.Helper()
	c := tcp.Cells[st][ev]
	for i := c.Start; i < c.End; i++ {
		if r := &tcp.Rules[i]; r.CondString() == conds {
			return r
		}
	}
	t.Fatalf("no %v/%v row with conditions %q", st, ev, conds)
	return nil
}

// TestAllowanceMatch: an Allowance names its states and event, all rows of
// the cell without Conds, the unconditional row with "-", and one row with
// an exact condition list.
func TestAllowanceMatch(t *testing.T) {
	fw2Timer := rowOf(t, tcp.StateFinWait2, tcp.EvTimeoutFinWait2, "UserClosed")
	fw2Total := rowOf(t, tcp.StateFinWait2, tcp.EvTimeoutFinWait2, "")
	synZW := rowOf(t, tcp.StateSynReceived, tcp.EvSegSeq, "ZeroWindowAck")
	for _, c := range []struct {
		a    Allowance
		r    *tcp.Rule
		want bool
	}{
		{Allowance{Cell: "FinWait2/TimeoutFinWait2"}, fw2Timer, true},
		{Allowance{Cell: "FinWait2/TimeoutFinWait2", Conds: "-"}, fw2Timer, false},
		{Allowance{Cell: "FinWait2/TimeoutFinWait2", Conds: "-"}, fw2Total, true},
		{Allowance{Cell: "Closing, FinWait2/TimeoutFinWait2"}, fw2Total, true},
		{Allowance{Cell: "FinWait1/TimeoutFinWait2"}, fw2Total, false},
		{Allowance{Cell: "FinWait2/TimeoutUser"}, fw2Total, false},
		{Allowance{Cell: "SynReceived/SegSeq", Conds: "ZeroWindowAck"}, synZW, true},
		{Allowance{Cell: "SynReceived/SegSeq", Conds: "HasRST"}, synZW, false},
	} {
		if got := c.a.Match(c.r); got != c.want {
			t.Errorf("%+v matches %s = %v, want %v", c.a, c.r, got, c.want)
		}
	}
}

// TestUnfireable: an impossible row, a row in a cell the pipeline never
// runs, an allow-listed row and an ordinary row.
func TestUnfireable(t *testing.T) {
	if why := Unfireable(rowOf(t, tcp.StateClosed, tcp.EvSegSeq, "")); why != Impossible {
		t.Errorf("Closed/SegSeq: %q", why)
	}
	if why := Unfireable(rowOf(t, tcp.StateSynReceived, tcp.EvSegText, "")); why != UnreachableCell {
		t.Errorf("SynReceived/SegText: %q", why)
	}
	if why := Unfireable(rowOf(t, tcp.StateSynReceived, tcp.EvSegSeq, "ZeroWindowAck")); why == "" || why == UnreachableCell {
		t.Errorf("SynReceived/SegSeq ZeroWindowAck: %q", why)
	}
	if why := Unfireable(rowOf(t, tcp.StateEstablished, tcp.EvSegRst, "!RstExact")); why != "" {
		t.Errorf("Established/SegRst !RstExact: %q", why)
	}
}

// TestRowWhy: the impossible rows (ipv4's out-of-order stages, frag's
// cells Poll, evict and release never step, tcp's timers in states without
// them) are explained as impossible, ordinary ipv4 and frag rows are not.
func TestRowWhy(t *testing.T) {
	var c Coverage
	seen := map[string]bool{}
	for _, r := range c.Rows() {
		switch {
		case r.Machine == "ipv4" && r.Anchor == "NETSPEC:pipeline":
			seen["pipeline"] = true
			if r.Why() != Impossible {
				t.Errorf("%s %s: %q", r.Src, r.Cell, r.Why())
			}
		case r.Machine == "ipv4" && r.Cell == "Idle Header":
			seen["header"] = true
			if r.Why() != "" {
				t.Errorf("%s %s explained: %q", r.Src, r.Cell, r.Why())
			}
		case r.Machine == "frag" && r.Cell == "Expired FragArrive":
			seen["expired"] = true
			if r.Why() != Impossible {
				t.Errorf("%s %s: %q", r.Src, r.Cell, r.Why())
			}
		case r.Machine == "frag" && r.Cell == "Partial FragArrive":
			seen["partial"] = true
			if r.Why() != "" {
				t.Errorf("%s %s explained: %q", r.Src, r.Cell, r.Why())
			}
		}
	}
	if len(seen) != 4 {
		t.Fatalf("rows checked: %v", seen)
	}
}

// TestAllowListsCurrent: every TCPAllow and FragAllow entry names some row
// the spec does not mark impossible (an impossible row needs no entry:
// Row.Why says "impossible"), so turning a row impossible makes its entry
// stale here as a row that fires does in fuzz/scenario's TestEveryRowFires.
func TestAllowListsCurrent(t *testing.T) {
	for _, a := range TCPAllow {
		live := false
		for i := range tcp.Rules {
			live = live || (a.Match(&tcp.Rules[i]) && tcp.Rules[i].Outcome != tcp.OutImpossible)
		}
		if !live {
			t.Errorf("TCPAllow entry %s [%s] names only impossible rows: remove it", a.Cell, a.Conds)
		}
	}
	var c Coverage
	for _, a := range FragAllow {
		live := false
		for _, r := range c.Rows() {
			if r.Machine == "frag" && !r.Impossible && (Row{Machine: "frag", Cell: r.Cell}).Why() == a.Why {
				live = true
			}
		}
		if !live {
			t.Errorf("FragAllow entry %s names only impossible rows: remove it", a.Cell)
		}
	}
	if Unfireable(rowOf(t, tcp.StateTimeWait, tcp.EvTimeoutRtx, "")) != Impossible {
		t.Error("TimeWait/TimeoutRtx is not explained as impossible")
	}
}
