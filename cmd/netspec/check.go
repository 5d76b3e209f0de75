package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/netspec/netspec/driver/progress"
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
	runs    string
}

// modelRuns returns the model-check suite: the quick one that `make test`
// also runs, or the deep one of `make check`, with --bounds applied over
// every run's bounds.
func modelRuns(c checkConfig) ([]model.Run, error) {
	runs := model.QuickRuns()
	if c.deep {
		runs = model.DeepRuns()
	}
	if c.runs != "" {
		want := map[string]bool{}
		for _, n := range strings.Split(c.runs, ",") {
			want[strings.TrimSpace(n)] = true
		}
		var sel []model.Run
		for _, r := range runs {
			if want[r.Name] {
				sel = append(sel, r)
				delete(want, r.Name)
			}
		}
		for n := range want {
			return nil, usagef("check: --runs: no run named %q", n)
		}
		runs = sel
	}
	for i := range runs {
		b, err := model.ParseBounds(runs[i].Bounds, c.bounds)
		if err != nil {
			return nil, usagef("check: --bounds: %v", err)
		}
		runs[i].Bounds = b
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
	fs.StringVar(&c.runs, "runs", "", "check only these runs of the suite (comma-separated names, e.g. client-server); the every-rule-fires property is then not judged")
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
	v, incomplete, err := checkModel(runs, c.runs == "", c.out, stdout, stderr)
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

// checkModel runs the model-check suite, prints its figures and coverage,
// and on a violation prints the counterexample and writes it under out. A
// row of the table that fires in no run and is not allow-listed (or an
// allow-list entry that excuses a row that fires) is a violation too.
func checkModel(runs []model.Run, judgeCoverage bool, out string, stdout, stderr io.Writer) (violated, incomplete bool, err error) {
	// On a terminal, a status line shows the search going (states, states/s,
	// depth, frontier, memory, elapsed); elsewhere nothing but the results.
	meter := progress.New(stderr)
	current := ""
	before := func(run model.Run) {
		meter.Clear()
		fmt.Fprintf(stdout, "model: %s\n", run.Label())
		current = run.Name
	}
	after := func(run model.Run, res *model.Result) {
		meter.Clear()
		fmt.Fprintf(stdout, "model: %d states, %d transitions (%d cut at a bound), depth %d, %v, complete=%v\n",
			res.States, res.Transitions, res.Truncated, res.Depth, res.Elapsed.Round(time.Millisecond), res.Complete)
		mode := fmt.Sprintf("hash compaction, P(omission) <= %.1g", res.OmissionBound)
		if res.Exact {
			mode = "exact"
		}
		fmt.Fprintf(stdout, "model: %.0f states/s, %.1f MB (%.0f bytes/state, %d edges), %s\n",
			float64(res.States)/res.Elapsed.Seconds(), float64(res.Bytes)/1e6, float64(res.Bytes)/float64(max(1, res.States)), res.Edges, mode)
		if !res.Complete && res.Violation == nil {
			fmt.Fprintln(stdout, "model: INCOMPLETE: search stopped at maxstates; graph properties not checked for this run")
		}
	}
	show := func(p model.Progress) {
		meter.Update("model: %s: %s states, %s states/s, depth %d, %s queued, %.0f MB, %v",
			current, progress.Count(float64(p.States)), progress.Count(progress.Rate(float64(p.States), p.Elapsed)),
			p.Depth, progress.Count(float64(p.Queue)), float64(p.Bytes)/1e6, p.Elapsed.Round(100*time.Millisecond))
	}
	if meter.On() {
		for i := range runs {
			runs[i].Progress, runs[i].ProgressEvery = show, 10000
		}
	}
	suite, err := model.RunSuite(runs, before, after)
	if err != nil {
		return false, false, fmt.Errorf("check: %w", err)
	}
	if v := suite.Violation; v != nil {
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
		werr := model.WriteTrace(f, suite.ViolRun.Config, v, "found by netspec check (run "+suite.ViolRun.Name+")")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return true, false, fmt.Errorf("check: write %s: %w", path, werr)
		}
		fmt.Fprintf(stdout, "model: counterexample written to %s\n", path)
		return true, false, nil
	}
	incomplete = !suite.Complete()
	for _, f := range suite.Foreign {
		fmt.Fprintf(stdout, "model: VIOLATION row fired outside its profile: %s\n", f)
		violated = true
	}
	table, hits := suite.Table, suite.Hits
	fmt.Fprintf(stdout, "model: properties hold in the explored states: %s, %s, %s, %s, %s, %s, %s, %s, %s\n",
		model.PropTimer, model.PropFinState, model.PropHalfOpen, model.PropEstab, model.PropDeadlock, model.PropLivelock, model.PropSynRcvd, model.PropGraceful, model.PropImpossible)
	fired, unreachable, gaps := model.Coverage(table, hits, suite.Ran)
	fmt.Fprintf(stdout, "model: rules fired %d of %d; %d allow-listed (cannot fire in the model); %d gaps\n",
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
		fmt.Fprintf(stdout, "  allowed (%d rules): %s\n", reasons[r], r)
	}
	if !judgeCoverage {
		fmt.Fprintln(stdout, "model: every-rule-fires not judged (--runs selects part of the suite)")
	} else if err := suite.Coverage(); err != nil {
		fmt.Fprintf(stdout, "model: VIOLATION %v\n", err)
		violated = true
	}
	return violated, incomplete, nil
}
