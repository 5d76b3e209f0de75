package model

import (
	"errors"
	"fmt"
	"strings"

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
	{func(r *tcp.Rule) bool { return r.Outcome == tcp.OutImpossible },
		"impossible: the spec says the cell cannot happen, and every run checks it (impossible-row-fired)"},
	{func(r *tcp.Rule) bool {
		return (r.Event == tcp.EvTimeoutRtx || r.Event == tcp.EvTimeoutUser) && (r.State == tcp.StateFinWait2 || r.State == tcp.StateTimeWait)
	}, "the retransmission timer, whose R2 limit is TimeoutUser, is stopped in FIN-WAIT-2 (all acknowledged) and TIME-WAIT (StartTimeWait); keep-alives run only in ESTABLISHED and CLOSE-WAIT"},
	{func(r *tcp.Rule) bool {
		return hasCond(r, "BacklogFull") || hasCond(r, "SynQueueFull") || hasCond(r, "AcceptQueueFull") ||
			hasCond(r, "CookieValid") || hasCond(r, "CookiesPending")
	},
		"one connection per endpoint: neither the SYN queue nor the accept queue fills, so no SYN cookie is sent or checked"},
	{func(r *tcp.Rule) bool { return hasCond(r, "PeerUnresolved") },
		"the model has no link layer: every peer is resolved, so no SYN gets a cookie for want of an ARP entry"},
	{func(r *tcp.Rule) bool {
		return r.State == tcp.StateSynReceived && (r.Event == tcp.EvSegUrg || r.Event == tcp.EvSegText || r.Event == tcp.EvSegFin)
	}, "dead in the table: every SynReceived/SegAck row leaves SYN-RECEIVED or ends processing, so steps 6-8 never run in SYN-RECEIVED"},
	{func(r *tcp.Rule) bool {
		return r.State == tcp.StateSynReceived && r.Event == tcp.EvSegSyn && hasCond(r, "PassiveOpen") && hasCond(r, "HasACK")
	}, "no SYN,ACK reaches a passive embryo: its peer is in SYN-SENT or synchronized (one connection per endpoint, a listener sends no SYN) and injected SYNs carry no ACK (scenario scripts profile-syn-in-window-syn-received-*.pkt pin these rows)"},
	{func(r *tcp.Rule) bool { return hasCond(r, "ZeroWindowAck") || hasCond(r, "ZeroWindowFin") },
		"the abstract receiver reads data as it arrives, so its window never closes (zero windows: fsm/tcp window_test.go and the scenario scripts)"},
	{func(r *tcp.Rule) bool {
		return (r.State == tcp.StateEstablished || r.State == tcp.StateCloseWait) && (hasCond(r, "FinQueued") || hasCond(r, "UserClosed"))
	}, "dead in the table: every row that queues our FIN or follows a full CLOSE leaves ESTABLISHED and CLOSE-WAIT (to FIN-WAIT-1 or LAST-ACK; SYN-SENT and SYN-RECEIVED with a FIN queued go to FIN-WAIT-1)"},
}

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

// Coverage splits the rules that never fired (hits may be the sum of
// several runs) into those unreachable by construction, with the reason, and
// gaps. ran has bit p set for each profile p that some run used: a row of a
// profile no run used is excused; one of a profile that ran must fire.
func Coverage(t *Table, hits []uint64, ran uint8) (fired int, unreachable, gaps []Unfired) {
	for i := range t.Rules {
		r := &t.Rules[i]
		if hits[i] > 0 {
			fired++
			continue
		}
		u := Unfired{Rule: r}
		if r.Profiles&ran == 0 {
			u.Reason = "only in profiles no run used"
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

// StaleAllowances returns, for each entry of the allow-list (the reasons a
// row cannot fire in the model) that matches a row that did fire, the
// reason and that row: the list must say only what is true.
func StaleAllowances(t *Table, hits []uint64) []string {
	var out []string
	for _, b := range byConstruction {
		for i := range t.Rules {
			if hits[i] > 0 && b.match(&t.Rules[i]) {
				out = append(out, fmt.Sprintf("%q matches %s, which fired", b.reason, &t.Rules[i]))
				break
			}
		}
	}
	return out
}

// CoverageError is nil when every row fired or is allow-listed and no
// allow-list entry matches a row that fired; otherwise it lists the gaps
// and the stale entries (the every-rule-fires property).
func CoverageError(t *Table, hits []uint64, ran uint8) error {
	_, _, gaps := Coverage(t, hits, ran)
	stale := StaleAllowances(t, hits)
	if len(gaps) == 0 && len(stale) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d rows fired in no run and are not allow-listed, %d allow-list entries are stale", PropCoverage, len(gaps), len(stale))
	for _, g := range gaps {
		fmt.Fprintf(&b, "\n  gap: %s", g.Rule)
	}
	for _, s := range stale {
		fmt.Fprintf(&b, "\n  stale: %s", s)
	}
	return errors.New(b.String())
}
