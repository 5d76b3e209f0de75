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

// TestUnfireable: a row in a cell the pipeline never runs, an allow-listed
// row and an ordinary row.
func TestUnfireable(t *testing.T) {
	if why := Unfireable(rowOf(t, tcp.StateClosed, tcp.EvSegSeq, "")); why != UnreachableCell {
		t.Errorf("Closed/SegSeq: %q", why)
	}
	if why := Unfireable(rowOf(t, tcp.StateSynReceived, tcp.EvSegSeq, "ZeroWindowAck")); why == "" || why == UnreachableCell {
		t.Errorf("SynReceived/SegSeq ZeroWindowAck: %q", why)
	}
	if why := Unfireable(rowOf(t, tcp.StateEstablished, tcp.EvSegRst, "!RstExact")); why != "" {
		t.Errorf("Established/SegRst !RstExact: %q", why)
	}
}

// TestRowWhy: the ipv4 out-of-order rows and the FragAllow cells are
// explained, ordinary ipv4 and frag rows are not.
func TestRowWhy(t *testing.T) {
	var c Coverage
	seen := map[string]bool{}
	for _, r := range c.Rows() {
		switch {
		case r.Machine == "ipv4" && r.Anchor == "NETSPEC:pipeline":
			seen["pipeline"] = true
			if r.Why() != PipelineOrder {
				t.Errorf("%s %s: %q", r.Src, r.Cell, r.Why())
			}
		case r.Machine == "ipv4" && r.Cell == "Idle Header":
			seen["header"] = true
			if r.Why() != "" {
				t.Errorf("%s %s explained: %q", r.Src, r.Cell, r.Why())
			}
		case r.Machine == "frag" && r.Cell == "Expired FragArrive":
			seen["expired"] = true
			if r.Why() == "" {
				t.Errorf("%s %s not explained", r.Src, r.Cell)
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
