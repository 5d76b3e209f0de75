// Command specmut is spec mutation testing (issue 12): it changes one row of
// a state machine in spec/*.fsm at a time (next state, one action dropped,
// one condition negated, the outcome), regenerates the tables in a
// throw-away copy of the tree, runs the fast suites (mutate.Suites) and
// reports which mutants the tests kill, which survive, and which are argued
// equivalent in spec/mutants.equivalent. make mutate and make check run it.
//
//	go run ./fuzz/mutate/specmut -sample tcp=40,ipv4=15 -seed 1 -jobs 1
//
// Exit status: 0 when the run finished; 1 when an equivalence entry is stale,
// a machine scores below -fail-under, or the run failed (a failing baseline,
// Ctrl-C); 2 for bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netspec/netspec/fuzz/mutate"
	"github.com/netspec/netspec/spec"
)

func main() {
	os.Exit(run())
}

type options struct {
	specDir, machines, sample, cacheDir, equiv, match string
	seed                                              uint64
	jobs                                              int
	timeout, budget                                   time.Duration
	noCache, recheck, list, verbose                   bool
	failUnder                                         float64
}

func run() int {
	var o options
	flag.StringVar(&o.specDir, "spec", "spec", "directory of the *.fsm specs, relative to the module root")
	flag.StringVar(&o.machines, "machine", "", "machines to mutate, comma-separated (default: every spec)")
	flag.StringVar(&o.sample, "sample", "20", "mutants per machine: N, or machine=N,... (0: every mutant)")
	flag.StringVar(&o.match, "match", "", "only mutants whose key (machine | row head | mutation) matches this regexp, before sampling")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the sample")
	flag.IntVar(&o.jobs, "jobs", 1, "mutants run in parallel, each in its own copy of the tree")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "per mutant: a run longer than this counts as a timeout (killed)")
	flag.DurationVar(&o.budget, "budget", 0, "start no mutant this long after the first (0: no bound); the rest are not-run")
	flag.StringVar(&o.cacheDir, "cache", "", "result cache directory (default: the user cache dir + netspec/mutate)")
	flag.BoolVar(&o.noCache, "nocache", false, "neither read nor write the result cache")
	flag.BoolVar(&o.recheck, "recheck", false, "rerun cached survivors and timeouts (after adding tests)")
	flag.StringVar(&o.equiv, "equiv", "spec/mutants.equivalent", "equivalence file, relative to the module root")
	flag.BoolVar(&o.list, "list", false, "print the sampled mutants and exit without running them")
	flag.BoolVar(&o.verbose, "v", false, "list every mutant with its verdict")
	flag.Float64Var(&o.failUnder, "fail-under", 0, "exit 1 when a machine's score is below this percentage")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "specmut: unexpected arguments:", flag.Args())
		return 2
	}
	if err := mutateAll(o); err != nil {
		fmt.Fprintln(os.Stderr, "specmut:", err)
		var ex exitError
		if errors.As(err, &ex) {
			return int(ex)
		}
		return 1
	}
	return 0
}

type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func mutateAll(o options) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	machines, err := loadMachines(root, o.specDir, o.machines)
	if err != nil {
		return err
	}
	counts, err := parseSample(o.sample, machines)
	if err != nil {
		fmt.Fprintln(os.Stderr, "specmut:", err)
		return exitError(2)
	}
	match, err := regexp.Compile(o.match)
	if err != nil {
		fmt.Fprintln(os.Stderr, "specmut: -match:", err)
		return exitError(2)
	}
	var jobs []mutate.Job
	var all []mutate.Mutant
	tablePkg := map[string]string{}
	for _, lm := range machines {
		n, ok := counts[lm.m.Name]
		if !ok {
			continue
		}
		muts := mutate.Generate(lm.m)
		all = append(all, muts...)
		if fi, err := os.Stat(filepath.Join(root, "fsm", lm.m.Package)); err == nil && fi.IsDir() {
			tablePkg[lm.m.Name] = "./fsm/" + lm.m.Package
		}
		var picked []mutate.Mutant
		for _, x := range muts {
			if match.MatchString(x.Key()) {
				picked = append(picked, x)
			}
		}
		for _, x := range mutate.Sample(picked, o.seed, n) {
			jobs = append(jobs, mutate.Job{Mutant: x, SpecHash: lm.hash})
		}
	}
	entries, err := readEquivalences(filepath.Join(root, o.equiv))
	if err != nil {
		return err
	}
	if o.list {
		for _, j := range jobs {
			fmt.Printf("%s  %s\n    %s\n", j.Mutant.Where(), j.Mutant.Mutation, j.Mutant.Diff())
		}
		return nil
	}
	var cache *mutate.Cache
	if !o.noCache {
		dir := o.cacheDir
		if dir == "" {
			if dir, err = mutate.DefaultCacheDir(); err != nil {
				return err
			}
		}
		cache = &mutate.Cache{Dir: dir}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start, commit := time.Now(), commitOf(root)
	results, err := mutate.Run(ctx, mutate.Config{Root: root, Jobs: o.jobs, Timeout: o.timeout, Budget: o.budget,
		Cache: cache, Recheck: o.recheck, Log: os.Stderr, TablePkg: tablePkg}, jobs)
	if err != nil {
		return err
	}
	stale := mutate.ApplyEquivalences(results, all, entries)
	rep := mutate.Report{Results: results, Stale: stale, Verbose: o.verbose, Header: header(commit, o, time.Since(start))}
	if err := rep.Write(os.Stdout); err != nil {
		return err
	}
	var failed []string
	if ctx.Err() != nil {
		failed = append(failed, "interrupted")
	}
	if len(stale) > 0 {
		failed = append(failed, fmt.Sprintf("%d stale equivalence entries", len(stale)))
	}
	for _, t := range mutate.Tallies(results) {
		if 100*t.Score() < o.failUnder {
			failed = append(failed, fmt.Sprintf("%s scores %.1f%% < %.1f%%", t.Machine, 100*t.Score(), o.failUnder))
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

type loaded struct {
	m    *spec.Machine
	hash string
}

// loadMachines parses the specs to mutate, in file name order.
func loadMachines(root, dir, only string) ([]loaded, error) {
	files, err := filepath.Glob(filepath.Join(root, dir, "*.fsm"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no specs in %s", filepath.Join(root, dir))
	}
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	var out []loaded
	found := map[string]bool{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m, err := spec.Load(f)
		if err != nil {
			return nil, err
		}
		if errs := m.Check(); len(errs) > 0 {
			return nil, fmt.Errorf("the unmutated spec is invalid: %v", errs[0])
		}
		if len(want) > 0 && !want[m.Name] {
			continue
		}
		found[m.Name] = true
		out = append(out, loaded{m, mutate.HashSpec(src)})
	}
	for n := range want {
		if !found[n] {
			return nil, fmt.Errorf("no machine %q in %s", n, dir)
		}
	}
	return out, nil
}

// parseSample reads "-sample": one count for every machine, or machine=N
// pairs (machines not named are not mutated). A count of 0 is every mutant.
func parseSample(s string, machines []loaded) (map[string]int, error) {
	counts := map[string]int{}
	if n, err := strconv.Atoi(s); err == nil {
		for _, lm := range machines {
			counts[lm.m.Name] = n
		}
		return counts, nil
	}
	var names []string
	for _, lm := range machines {
		names = append(names, lm.m.Name)
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("-sample %q: want N or machine=N,...", s)
		}
		if !slices.Contains(names, k) {
			return nil, fmt.Errorf("-sample: no machine %q among %v", k, names)
		}
		counts[k] = n
	}
	return counts, nil
}

func readEquivalences(path string) ([]mutate.Equivalence, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return mutate.ParseEquivalences(spec.ModulePath(path), f)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("run inside the netspec module")
	}
	return filepath.Dir(gomod), nil
}

// commitOf names the commit the tree is at, and says when it has
// uncommitted changes (the workspaces copy them).
func commitOf(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		commit += " (with uncommitted changes)"
	}
	return commit
}

func header(commit string, o options, took time.Duration) []string {
	h := fmt.Sprintf("spec mutation testing: %s, commit %s, seed %d, sample %s, jobs %d, took %s",
		time.Now().UTC().Format("2006-01-02"), commit, o.seed, o.sample, o.jobs, took.Round(time.Second))
	if o.match != "" {
		h += fmt.Sprintf(", match %q", o.match)
	}
	return []string{h}
}
