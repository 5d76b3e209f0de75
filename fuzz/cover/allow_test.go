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
		if r := &tcp.Rules[i]; condString(r) == conds {
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
