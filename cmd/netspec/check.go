package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fuzz/model"
	"github.com/netspec/netspec/spec"
)

// checkConfig is the parsed `netspec check` command line.
type checkConfig struct {
	specDir string
	out     string
	deep    bool
	exact   bool
	bounds  string
}

// modelRuns returns the model-check configurations: the quick pair that
// `make test` also runs, or the deep pair of `make check`.
func modelRuns(c checkConfig) ([]model.Config, error) {
	base := model.DefaultBounds()
	if c.deep {
		base = model.DeepBounds()
	}
	b, err := model.ParseBounds(base, c.bounds)
	if err != nil {
		return nil, usagef("check: --bounds: %v", err)
	}
	sym := b
	if !c.deep {
		sym.Aborts = 0
	} else if c.bounds == "" {
		sym.Cap = 2 // symmetric roles at cap 3 exceed 12M states
	}
	runs := []model.Config{{Bounds: b}, {Bounds: sym, Symmetric: true}}
	// Every other profile of spec/tcp.fsm is checked too; in the quick form
	// with smaller bounds (no reordering, no aborts) so `make test` takes about
	// as long as before, in the deep form with the same bounds.
	for p := tcp.Profile(0); p < tcp.NumProfiles; p++ {
		if p == tcp.DefaultProfile {
			continue
		}
		pb, psym := b, sym
		if !c.deep {
			pb.Reorder, pb.Aborts = 0, 0
			psym.Reorder = 0
		}
		runs = append(runs, model.Config{Bounds: pb, Table: model.ProfileTable(p)},
			model.Config{Bounds: psym, Symmetric: true, Table: model.ProfileTable(p)})
	}
	for i := range runs {
		runs[i].Exact = c.exact
	}
	return runs, nil
}

// runCheck is `netspec check`: the spec lints of every machine under
// --spec, then the model check of the generated TCP table. Exit 0 when all
// hold, 1 on a spec problem or a property violation, 2 on bad arguments.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c checkConfig
	fs.StringVar(&c.specDir, "spec", "spec", "directory of the *.fsm machines to lint")
	fs.StringVar(&c.out, "out", "testdata/counterexamples", "directory for the counterexample trace of a violation")
	fs.BoolVar(&c.deep, "deep", false, "run the larger bounds of `make check`")
	fs.BoolVar(&c.exact, "exact", false, "store every visited state in full (no hash compaction; about 2-5x the memory)")
	fs.StringVar(&c.bounds, "bounds", "", `override bounds, e.g. "cap=3 loss=2 eager=1"`)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		return fail(stderr, usagef("check: unexpected argument %q", fs.Arg(0)))
	}
	runs, err := modelRuns(c)
	if err != nil {
		return fail(stderr, err)
	}
	if os.Getenv("GOGC") == "" {
		// The search's arrays hold no pointers: collecting more often costs
		// little and keeps the heap near what the search really holds.
		debug.SetGCPercent(40)
	}
	ok := checkSpecs(c.specDir, stdout)
	v, incomplete, err := checkModel(runs, c.out, stdout, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	if !ok || v {
		return exitFailure
	}
	if incomplete {
		fmt.Fprintln(stdout, "check: ok, but a search stopped at maxstates: only the safety properties were checked there")
		return exitOK
	}
	fmt.Fprintln(stdout, "check: ok")
	return exitOK
}

// checkSpecs lints every machine in dir and prints one line per machine
// (and one per problem); it reports whether all are clean.
func checkSpecs(dir string, w io.Writer) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.fsm"))
	if len(files) == 0 {
		fmt.Fprintf(w, "spec: no *.fsm under %s (spec lints skipped)\n", dir)
		return true
	}
	ok := true
	for _, f := range files {
		m, err := spec.Load(f)
		if err != nil {
			fmt.Fprintf(w, "spec %s: %v\n", f, err)
			ok = false
			continue
		}
		errs := m.Check()
		if m.Name == "tcp" {
			errs = append(errs, reqLint(m, dir)...)
		}
		for _, e := range errs {
			fmt.Fprintf(w, "spec %s: %v\n", m.File, e)
		}
		if len(errs) > 0 {
			ok = false
			continue
		}
		fmt.Fprintf(w, "spec %s: ok (%d states, %d events, %d rules)\n", m.File, len(m.States), len(m.Events), len(m.Rules))
	}
	return ok
}

// reqLint runs the RFC 9293 requirement lint against dir/waivers.txt.
func reqLint(m *spec.Machine, dir string) []error {
	f, err := os.Open(filepath.Join(dir, "waivers.txt"))
	if err != nil {
		return []error{fmt.Errorf("requirements: %w", err)}
	}
	defer f.Close()
	w, err := spec.ParseWaivers(f)
	if err != nil {
		return []error{err}
	}
	return spec.CheckRequirements(m, w)
}

// checkModel runs the model checks, prints their figures and coverage, and
// on a violation prints the counterexample and writes it under out.
func checkModel(runs []model.Config, out string, stdout, stderr io.Writer) (violated, incomplete bool, err error) {
	var hits []uint64
	var table *model.Table
	for _, cfg := range runs {
		cfg.Progress = func(p model.Progress) {
			fmt.Fprintf(stderr, "model: ... %d states, %d transitions, depth %d, %d queued, %.0f MB, %v\n",
				p.States, p.Transitions, p.Depth, p.Queue, float64(p.Bytes)/1e6, p.Elapsed.Round(time.Millisecond))
		}
		roles := "client A, server B"
		if cfg.Symmetric {
			roles = "symmetric roles"
		}
		prof := tcp.DefaultProfile
		if cfg.Table != nil {
			prof = cfg.Table.Profile
		}
		fmt.Fprintf(stdout, "model: profile %s, %s, %s\n", prof, roles, cfg.Bounds)
		res, err := model.Check(cfg)
		if err != nil {
			return false, false, fmt.Errorf("check: %w", err)
		}
		fmt.Fprintf(stdout, "model: %d states, %d transitions (%d cut at a bound), depth %d, %v, complete=%v\n",
			res.States, res.Transitions, res.Truncated, res.Depth, res.Elapsed.Round(time.Millisecond), res.Complete)
		mode := fmt.Sprintf("hash compaction, P(omission) <= %.1g", res.OmissionBound)
		if res.Exact {
			mode = "exact"
		}
		fmt.Fprintf(stdout, "model: %.0f states/s, %.1f MB (%.0f bytes/state, %d edges), %s\n",
			float64(res.States)/res.Elapsed.Seconds(), float64(res.Bytes)/1e6, float64(res.Bytes)/float64(max(1, res.States)), res.Edges, mode)
		if hits == nil {
			// Coverage is judged on the default profile's table, with the
			// hits of every profile's runs summed in.
			hits, table = make([]uint64, len(res.Hits)), res.Table
		}
		for i, h := range res.Hits {
			hits[i] += h
		}
		if v := res.Violation; v != nil {
			fmt.Fprintf(stdout, "model: VIOLATION %s: %s\n", v.Property, v.Detail)
			for i, st := range v.Steps {
				if i == v.LoopAt {
					fmt.Fprintln(stdout, "  loop:")
				}
				fmt.Fprintf(stdout, "  %3d  %-30s -> %s\n", i+1, st, v.States[i+1].Summary())
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return true, false, fmt.Errorf("check: %w", err)
			}
			path := filepath.Join(out, v.Property+".trace")
			f, err := os.Create(path)
			if err != nil {
				return true, false, fmt.Errorf("check: %w", err)
			}
			werr := model.WriteTrace(f, cfg, v, "found by netspec check")
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				return true, false, fmt.Errorf("check: write %s: %w", path, werr)
			}
			fmt.Fprintf(stdout, "model: counterexample written to %s\n", path)
			return true, false, nil
		}
		if !res.Complete {
			incomplete = true
			fmt.Fprintln(stdout, "model: INCOMPLETE: search stopped at maxstates; graph properties not checked for this run")
		}
	}
	fired, unreachable, gaps := model.Coverage(table, hits)
	fmt.Fprintf(stdout, "model: properties hold in the explored states: %s, %s, %s, %s, %s, %s, %s, %s\n",
		model.PropTimer, model.PropFinState, model.PropHalfOpen, model.PropEstab, model.PropDeadlock, model.PropLivelock, model.PropSynRcvd, model.PropGraceful)
	fmt.Fprintf(stdout, "model: rules fired %d of %d; %d unreachable by construction; %d gaps at these bounds\n",
		fired, len(table.Rules), len(unreachable), len(gaps))
	reasons := map[string]int{}
	var order []string
	for _, u := range unreachable {
		if reasons[u.Reason] == 0 {
			order = append(order, u.Reason)
		}
		reasons[u.Reason]++
	}
	for _, r := range order {
		fmt.Fprintf(stdout, "  unreachable (%d rules): %s\n", reasons[r], r)
	}
	for _, g := range gaps {
		fmt.Fprintf(stdout, "  gap: %s\n", g.Rule)
	}
	return false, incomplete, nil
}
