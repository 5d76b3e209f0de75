package mutate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/netspec/netspec/driver/progress"
)

// Suite is one package's tests as a mutant run runs them.
type Suite struct {
	Pkg  string   // "./fuzz/scenario"
	Args []string // extra go test flags ("-short")
}

// Suites are the fast suites a mutant must pass to survive, in the order
// they run (cheapest and most often killing first; Suites moves the
// mutated machine's own package to the front). Each package here depends on
// a generated table; those that do not (fsmrt, wire, udp, seqnum, linz,
// fsmgen's golden files) cannot tell a mutant apart and are left out, and so
// are the suites that need root, namespaces or Linux clients (e2e, the lab
// tests of driver/netconn: -short skips them) or minutes (make check's deep
// model runs: fuzz/model runs its quick suite here).
var Suites = []Suite{
	{Pkg: "./spec"},
	{Pkg: "./fsm/tcp"},
	{Pkg: "./fsm/ip"},
	{Pkg: "./fsm/link"},
	{Pkg: "./fuzz/cover"},
	{Pkg: "./fuzz/scenario"},
	{Pkg: "./fsm/stack"},
	{Pkg: "./fuzz/sim"},
	{Pkg: "./fuzz/props"},
	{Pkg: "./fuzz/stackfuzz"},
	{Pkg: "./fuzz/model"},
	{Pkg: "./driver/netconn", Args: []string{"-short"}},
	{Pkg: "./cmd/netspec", Args: []string{"-short"}},
}

// SuitesFor returns Suites with the package that holds machine file's table
// ("./fsm/<package>" for a spec whose package directive is <package>) right
// after ./spec.
func SuitesFor(tablePkg string) []Suite {
	out := []Suite{Suites[0]}
	for _, s := range Suites[1:] {
		if s.Pkg == tablePkg {
			out = append(out, s)
		}
	}
	for _, s := range Suites[1:] {
		if s.Pkg != tablePkg {
			out = append(out, s)
		}
	}
	return out
}

// Config says how Run runs mutants.
type Config struct {
	Root    string        // the module to mutate (only read)
	Jobs    int           // workspaces run in parallel (1 when < 1)
	Timeout time.Duration // per mutant: generating and every suite
	Budget  time.Duration // no mutant starts this long after the first (0: no bound)
	Cache   *Cache        // nil: none
	Recheck bool          // rerun cached survivors and timeouts
	Log     io.Writer     // progress, one line a mutant
	// TablePkg maps a machine name to the package its table is generated
	// into ("./fsm/tcp"); its tests run first.
	TablePkg map[string]string
}

// Job is a mutant to run and the hash of the spec file it mutates.
type Job struct {
	Mutant   Mutant
	SpecHash string
}

// Run runs every job and returns one result each, in the jobs' order. Cached
// verdicts are reused. The rest run in cfg.Jobs workspaces under a temporary
// directory that Run removes before returning, also when ctx is cancelled
// (Ctrl-C): the mutants not finished by then are NotRun. Before the first
// mutant the unmutated tree must regenerate to itself and pass the suites,
// or Run returns an error: a failing baseline would count every mutant as
// killed.
func Run(ctx context.Context, cfg Config, jobs []Job) ([]Result, error) {
	results := make([]Result, len(jobs))
	var todo []int
	for i, j := range jobs {
		r, ok := cfg.Cache.Get(j.SpecHash, j.Mutant)
		if ok && !(cfg.Recheck && (r.Status == Survived || r.Status == Timeout)) {
			results[i] = r
			continue
		}
		results[i] = Result{Mutant: j.Mutant, Status: NotRun}
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return results, nil
	}
	tmp, err := os.MkdirTemp("", "netspec-mutate-")
	if err != nil {
		return nil, fmt.Errorf("mutate: %w", err)
	}
	defer os.RemoveAll(tmp)
	n := max(1, min(cfg.Jobs, len(todo)))
	spaces := make([]*Workspace, n)
	for i := range spaces {
		if spaces[i], err = NewWorkspace(ctx, cfg.Root, filepath.Join(tmp, fmt.Sprint(i))); err != nil {
			return nil, err
		}
	}
	if err := baseline(ctx, cfg, spaces[0]); err != nil {
		return nil, err
	}
	start := time.Now() // the budget counts from the first mutant
	queue := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for _, w := range spaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				j := jobs[i]
				r := runMutant(ctx, cfg, w, j.Mutant)
				if err := cfg.Cache.Put(j.SpecHash, w.Tree, r); err != nil && cfg.Log != nil {
					fmt.Fprintln(cfg.Log, err)
				}
				mu.Lock()
				results[i] = r
				done++
				if cfg.Log != nil {
					left := progress.Remaining(float64(done), float64(len(todo)), time.Since(start))
					fmt.Fprintf(cfg.Log, "[%d/%d] %-11s %s  %s  (%s; about %s left)\n", done, len(todo), r.Status,
						r.Mutant.Where(), r.Mutant.Mutation, strings.TrimSpace(r.Elapsed.Round(time.Second).String()+" "+r.Package),
						left.Round(time.Second))
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, i := range todo {
		if cfg.Budget > 0 && time.Since(start) > cfg.Budget {
			break
		}
		select {
		case queue <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	return results, nil
}

// baseline checks that the unmutated workspace regenerates to itself and
// passes every suite (remembered in the cache by the workspace's tree hash).
func baseline(ctx context.Context, cfg Config, w *Workspace) error {
	if cfg.Cache.BaselinePassed(w.Tree) {
		return nil
	}
	if cfg.Log != nil {
		fmt.Fprintln(cfg.Log, "baseline: the unmutated tree must pass the suites")
	}
	defer w.Reset(context.WithoutCancel(ctx))
	if out, err := command(ctx, w.Dir, "go", "generate", "./...").CombinedOutput(); err != nil {
		return fmt.Errorf("mutate: baseline: go generate: %w\n%s", err, out)
	}
	if changed, err := w.Changed(ctx, "."); err != nil || changed {
		return fmt.Errorf("mutate: baseline: the generated files are stale (run make generate) %v", err)
	}
	for _, s := range Suites {
		if pkg, detail, err := runSuite(ctx, w, s, cfg.Timeout); err != nil {
			return fmt.Errorf("mutate: baseline: %s fails on the unmutated tree: %s: %w", pkg, detail, err)
		}
	}
	return cfg.Cache.MarkBaseline(w.Tree)
}

// runMutant writes, validates, generates and tests one mutant in w, and
// resets w afterwards. A suite that fails is run once more: the mutant is
// killed only when it fails again (a failure that does not repeat is noted
// in the survivor's detail and the next suite runs).
func runMutant(parent context.Context, cfg Config, w *Workspace, x Mutant) (r Result) {
	start := time.Now()
	r = Result{Mutant: x, Status: NotRun}
	defer func() {
		r.Elapsed = time.Since(start)
		if err := w.Reset(context.WithoutCancel(parent)); err != nil && cfg.Log != nil {
			fmt.Fprintln(cfg.Log, err)
		}
	}()
	ctx, cancel := context.WithTimeout(parent, cfg.Timeout)
	defer cancel()
	// interrupted tells a mutant's own timeout from Ctrl-C.
	interrupted := func() bool { return parent.Err() != nil }
	path := filepath.Join(w.Dir, filepath.FromSlash(x.File))
	src, err := os.ReadFile(path)
	if err != nil {
		r.Detail = err.Error()
		return r
	}
	mutated, err := Apply(src, x)
	if err == nil {
		err = Validate(x.File, mutated)
	}
	if err != nil {
		r.Status, r.Detail = Invalid, err.Error()
		return r
	}
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		r.Detail = err.Error()
		return r
	}
	if out, err := command(ctx, w.Dir, "go", "generate", "./...").CombinedOutput(); err != nil {
		if !interrupted() {
			r.Status, r.Detail = Invalid, "go generate: "+lastLine(out)
		}
		return r
	}
	if changed, err := w.Changed(ctx, "*_gen.go"); err != nil || !changed {
		if err == nil {
			r.Status, r.Detail = SameTables, "the generated tables do not change"
		}
		return r
	}
	var flaky []string
	for _, s := range SuitesFor(cfg.TablePkg[x.Machine]) {
		pkg, detail, err := runSuite(ctx, w, s, cfg.Timeout)
		if err != nil && !errors.Is(err, errBuild) && ctx.Err() == nil {
			// A failure must repeat to kill: some suites (driver/netconn)
			// run in real time and can fail on a loaded machine.
			if _, _, again := runSuite(ctx, w, s, cfg.Timeout); again == nil && ctx.Err() == nil {
				flaky = append(flaky, pkg+": "+detail)
				continue
			}
		}
		switch {
		case interrupted():
			return r
		case ctx.Err() != nil:
			r.Status, r.Package, r.Detail = Timeout, pkg, "timed out after "+cfg.Timeout.String()
			return r
		case errors.Is(err, errBuild):
			r.Status, r.Package, r.Detail = Invalid, pkg, detail
			return r
		case err != nil:
			r.Status, r.Package, r.Detail = Killed, pkg, detail
			return r
		}
	}
	r.Status = Survived
	if len(flaky) > 0 {
		r.Detail = "failed once, passed when rerun: " + strings.Join(flaky, "; ")
	}
	return r
}

var errBuild = errors.New("build failed")

// runSuite runs one suite's tests, stopping at the first failing test, and
// returns the package and the first failure line.
func runSuite(ctx context.Context, w *Workspace, s Suite, timeout time.Duration) (pkg, detail string, err error) {
	pkg = strings.TrimPrefix(s.Pkg, "./")
	args := append([]string{"test", "-failfast", "-count=1", "-timeout", timeout.String()}, s.Args...)
	out, err := command(ctx, w.Dir, "go", append(args, s.Pkg)...).CombinedOutput()
	if err == nil {
		return pkg, "", nil
	}
	if bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")) {
		return pkg, "build failed: " + firstMatch(out, func(l string) bool { return strings.Contains(l, ".go:") }), errBuild
	}
	return pkg, firstFailure(out), err
}

// firstFailure returns the innermost "--- FAIL" line of the first failing
// test and the message under it, or the first panic line, or the last line.
func firstFailure(out []byte) string {
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic:") {
			return strings.TrimSpace(l)
		}
		if !strings.HasPrefix(l, "--- FAIL") {
			continue
		}
		fail, msg := strings.TrimSpace(l), ""
		for _, m := range lines[i+1:] {
			if !strings.HasPrefix(m, "    ") {
				break
			}
			if t := strings.TrimSpace(m); strings.HasPrefix(t, "--- FAIL") {
				fail, msg = t, ""
			} else if msg == "" {
				msg = t
			}
		}
		if len(msg) > 160 {
			msg = msg[:160] + "..."
		}
		return strings.TrimSpace(fail + " " + msg)
	}
	return lastLine(out)
}

// firstMatch returns the first line of out that keep accepts, or the last
// non-empty line.
func firstMatch(out []byte, keep func(string) bool) string {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if keep(sc.Text()) {
			return strings.TrimSpace(sc.Text())
		}
	}
	return lastLine(out)
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
