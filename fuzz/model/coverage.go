package model

import (
	"github.com/netspec/netspec/fsm/tcp"
)

// Unfired is a rule that fired in no explored transition.
type Unfired struct {
	Rule   *tcp.Rule
	Reason string // why it cannot fire in the model; "" for a real gap
}

// byConstruction lists the rules the model cannot fire, each with the
// reason. A rule that never fires and matches none of these is a gap: either
// the bounds are too small to reach it or the rule is dead.
var byConstruction = []struct {
	match  func(r *tcp.Rule) bool
	reason string
}{
	{func(r *tcp.Rule) bool {
		return isTimeout(r.Event) && (r.State == tcp.StateClosed || r.State == tcp.StateListen)
	},
		"no timer runs in CLOSED or LISTEN (Release stops them)"},
	{func(r *tcp.Rule) bool {
		return r.Event == tcp.EvTimeoutRtx && (r.State == tcp.StateFinWait2 || r.State == tcp.StateTimeWait)
	}, "the retransmission timer is stopped in FIN-WAIT-2 (all acknowledged) and TIME-WAIT (StartTimeWait)"},
	{func(r *tcp.Rule) bool { return r.Event == tcp.EvTimeoutTimeWait && r.State != tcp.StateTimeWait },
		"fsm/tcp delivers the 2*MSL timeout only in TIME-WAIT (in FIN-WAIT-2 the same timer is TimeoutFinWait2)"},
	{func(r *tcp.Rule) bool { return r.Event == tcp.EvTimeoutFinWait2 && r.State != tcp.StateFinWait2 },
		"fsm/tcp delivers TimeoutFinWait2 only in FIN-WAIT-2"},
	{func(r *tcp.Rule) bool {
		return r.Event == tcp.EvTimeoutFinWait2 && len(r.Conds) == 0 && r.State == tcp.StateFinWait2
	},
		"the FIN-WAIT-2 timer runs only for an orphan (UserClosed), so the fallback row cannot fire"},
	{func(r *tcp.Rule) bool {
		return isSeg(r.Event) && r.Event != tcp.EvSegPre && (r.State == tcp.StateClosed || r.State == tcp.StateListen)
	}, "CLOSED and LISTEN run only SegPre, whose rules all end processing (RFC 9293 §3.10.7.1-2)"},
	{func(r *tcp.Rule) bool {
		return isSeg(r.Event) && r.Event != tcp.EvSegPre && r.State == tcp.StateSynSent
	},
		"SYN-SENT runs only SegPre; its one continue rule leaves SYN-SENT first (§3.10.7.3 step 4)"},
	{func(r *tcp.Rule) bool { return r.Event == tcp.EvSegPre && !unsynchronized(r.State) },
		"synchronized states start SEGMENT ARRIVES at SegSeq"},
	{func(r *tcp.Rule) bool { return hasCond(r, "PawsReject") },
		"no abstract segment carries a timestamp (RFC 7323 PAWS needs one)"},
	{func(r *tcp.Rule) bool { return hasCond(r, "HasURG") },
		"no abstract peer sends urgent data"},
	{func(r *tcp.Rule) bool {
		return hasCond(r, "BacklogFull") || hasCond(r, "SynQueueFull") || hasCond(r, "AcceptQueueFull")
	},
		"one connection per endpoint: the accept queue never fills"},
	{func(r *tcp.Rule) bool { return hasCond(r, "AckTooNew") || hasCond(r, "AckTooOld") },
		"the abstract peers acknowledge only what they received, and stale ACKs of an old incarnation fail the sequence check first: needs a forged ACK"},
	{func(r *tcp.Rule) bool {
		return (r.Event == tcp.EvSegSeq || r.Event == tcp.EvSegAck) && negated(r, "HasACK") && r.State != tcp.StateSynReceived
	}, "fsm/tcp (and the model) sets ACK on every segment but SYN and the R1 RST, which earlier rows consume"},
}

func isTimeout(ev tcp.Event) bool {
	return ev == tcp.EvTimeoutRtx || ev == tcp.EvTimeoutTimeWait || ev == tcp.EvTimeoutUser || ev == tcp.EvTimeoutFinWait2
}

func isSeg(ev tcp.Event) bool { return ev >= tcp.EvSegPre && ev <= tcp.EvSegFin }

// hasCond reports whether r requires the guard named name (positively).
func hasCond(r *tcp.Rule, name string) bool {
	for _, c := range r.Conds {
		if !c.Negate && c.Guard.String() == name {
			return true
		}
	}
	return false
}

func negated(r *tcp.Rule, name string) bool {
	for _, c := range r.Conds {
		if c.Negate && c.Guard.String() == name {
			return true
		}
	}
	return false
}

// Coverage splits the rules that never fired (hits may be the sum of several
// runs) into those unreachable by construction, with the reason, and gaps.
func Coverage(t *Table, hits []uint64) (fired int, unreachable, gaps []Unfired) {
	for i := range t.Rules {
		r := &t.Rules[i]
		if hits[i] > 0 {
			fired++
			continue
		}
		u := Unfired{Rule: r}
		if !r.In(t.Profile) {
			// A row of another profile fires only in that profile's runs
			// (sum their hits in to count it).
			u.Reason = "not in profile " + t.Profile.String()
		}
		for _, b := range byConstruction {
			if u.Reason != "" {
				break
			}
			if b.match(r) {
				u.Reason = b.reason
				break
			}
		}
		if u.Reason != "" {
			unreachable = append(unreachable, u)
		} else {
			gaps = append(gaps, u)
		}
	}
	return fired, unreachable, gaps
}
