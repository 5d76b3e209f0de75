package model

import (
	"fmt"
	"strings"

	"github.com/netspec/netspec/fsm/tcp"
)

// Run is one configuration of a check suite, with a short name.
type Run struct {
	Name string
	Config
}

// Label renders the run's roles, profile and options in one line.
func (r Run) Label() string {
	prof := tcp.DefaultProfile
	if r.Table != nil {
		prof = r.Table.Profile
	}
	roles := "client A, server B"
	if r.Symmetric {
		roles = "symmetric roles"
	}
	opts := []string{"profile " + prof.String(), roles}
	if r.EmbryoCalls {
		opts = append(opts, "embryo calls")
	}
	return fmt.Sprintf("%s: %s, %s", r.Name, strings.Join(opts, ", "), r.Bounds)
}

// QuickRuns is the suite `make test` and `netspec check` run: the default
// profile with client/server and symmetric roles under loss and reordering,
// every other profile at smaller bounds, and the runs that reach the rows a
// cooperative fault-free pair cannot: injected segments (in every profile),
// premature retransmission timeouts up to R2 (eager), a second
// incarnation (reopen: a SYN re-opens TIME-WAIT), user calls on an
// embryonic connection.
// Their union must fire every row of the table that the allow-list does
// not excuse (CheckCoverage).
func QuickRuns() []Run {
	d := DefaultBounds()
	// The linux profile rate-limits ACKs for unacceptable segments by
	// default (tcp.Config.OOWAckInterval, 500 ms, Linux's
	// tcp_oow_rate_limited); rfc9293 does not (OowLimit 0 below).
	d.OowLimit = OowLimitFor(tcp.DefaultProfile)
	with := func(f func(b *Bounds)) Bounds {
		b := d
		f(&b)
		return b
	}
	runs := []Run{
		{"client-server", Config{Bounds: d}},
		{"symmetric", Config{Bounds: with(func(b *Bounds) { b.Aborts = 0 }), Symmetric: true}},
		{"eager", Config{Bounds: with(func(b *Bounds) { b.Loss, b.Reorder, b.Eager = 0, 0, 1 }), Symmetric: true}},
		{"reopen", Config{Bounds: with(func(b *Bounds) { b.Loss, b.Reorder, b.Aborts, b.Opens = 0, 0, 0, 2 })}},
		{"embryo", Config{Bounds: with(func(b *Bounds) { b.Loss, b.Reorder = 0, 0 }), EmbryoCalls: true}},
	}
	for p := tcp.Profile(0); p < tcp.NumProfiles; p++ {
		t := ProfileTable(p)
		oow := OowLimitFor(p)
		runs = append(runs, Run{"inject/" + p.String(), Config{Bounds: with(func(b *Bounds) { b.Loss, b.Reorder, b.Aborts, b.Inject, b.OowLimit = 0, 0, 0, 1, oow }), Symmetric: true, Table: t}})
		if p == tcp.DefaultProfile {
			continue
		}
		runs = append(runs,
			Run{"client-server/" + p.String(), Config{Bounds: with(func(b *Bounds) { b.Reorder, b.Aborts, b.OowLimit = 0, 0, oow }), Table: t}},
			Run{"symmetric/" + p.String(), Config{Bounds: with(func(b *Bounds) { b.Reorder, b.Aborts, b.OowLimit = 0, 0, oow }), Symmetric: true, Table: t}})
	}
	return runs
}

// OowLimitFor is the Bounds.OowLimit that models profile p's default
// tcp.Config: 1 for ProfileLinux (OOWAckInterval 500 ms), 0 for the others
// (every unacceptable segment ACKed).
func OowLimitFor(p tcp.Profile) int {
	if p == tcp.ProfileLinux {
		return 1
	}
	return 0
}

// DeepRuns is the suite of `make check` (`netspec check --deep`): the
// quick suite's runs at larger bounds.
func DeepRuns() []Run {
	runs := QuickRuns()
	for i := range runs {
		b := &runs[i].Bounds
		switch {
		case runs[i].Name == "client-server":
			*b = DeepBounds()
			continue
		case runs[i].Name == "symmetric":
			b.Cap, b.Dup, b.Aborts = 3, 1, 1
		case strings.HasPrefix(runs[i].Name, "inject/"):
			b.Cap, b.Inject, b.Rtx = 3, 2, 3
		default:
			b.Cap = 3
		}
		// At about 105 bytes of memory per state (hash compaction), a
		// run stops at 30M states (some 3 GB) and is then marked incomplete.
		b.MaxStates = 30000000
	}
	return runs
}

// SuiteResult is what a suite of runs found together.
type SuiteResult struct {
	Results []*Result
	Hits    []uint64 // per rule, summed over the runs
	Ran     uint8    // bit p: some run used profile p
	Table   *Table   // the default profile's table (coverage is judged on it)
	// Violation is the first property violation (the suite stops there),
	// with the run that found it.
	Violation *Violation
	ViolRun   *Run
	// Foreign lists rows that fired in a run of a profile they are not in.
	Foreign []string
}

// Complete reports whether every run explored its whole bounded graph.
func (s *SuiteResult) Complete() bool {
	for _, r := range s.Results {
		if !r.Complete {
			return false
		}
	}
	return true
}

// Coverage is CoverageError over the suite's summed hits: nil when the
// every-rule-fires property holds.
func (s *SuiteResult) Coverage() error { return CoverageError(s.Table, s.Hits, s.Ran) }

// RunSuite checks each run in turn (calling before and after around each,
// if set) and sums the rule hits; it stops at the first violation.
func RunSuite(runs []Run, before func(Run), after func(Run, *Result)) (*SuiteResult, error) {
	s := &SuiteResult{Table: DefaultTable(), Hits: make([]uint64, len(tcp.Rules))}
	for i := range runs {
		run := runs[i]
		if before != nil {
			before(run)
		}
		res, err := Check(run.Config)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", run.Name, err)
		}
		s.Results = append(s.Results, res)
		s.Ran |= 1 << res.Table.Profile
		for k, h := range res.Hits {
			s.Hits[k] += h
			if h > 0 && !res.Table.Rules[k].In(res.Table.Profile) {
				s.Foreign = append(s.Foreign, fmt.Sprintf("%s: %s", run.Name, &res.Table.Rules[k]))
			}
		}
		if after != nil {
			after(run, res)
		}
		if res.Violation != nil {
			s.Violation, s.ViolRun = res.Violation, &runs[i]
			break
		}
	}
	return s, nil
}
