// Command fuzzlong runs every fuzz target of the module in rotation for a
// bounded time (make fuzz-long): each target fuzzes for -fuzztime in turn,
// with at most -parallel workers, until -total has passed. Go's fuzz cache
// ($GOCACHE/fuzz) is left alone, so every run resumes from the corpus the
// last one grew, and the rotation starts where the last run stopped (the
// position is kept in the user cache directory). The targets are found as
// make fuzz finds them: go test -list '^Fuzz' per package.
//
// When a target fails, go test keeps the failing input in the package's
// testdata/fuzz/<Target>/<hash>; fuzzlong prints it with the failure and the
// command that replays it, leaves that target out of the rest of the
// rotation, and exits 1 at the end. On a terminal, go test's periodic fuzz
// reports become one status line (driver/progress); in a log they are kept. Exit 0: every target ran without a
// failure; 2: bad flags.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netspec/netspec/driver/progress"
)

func main() {
	fuzztime := flag.Duration("fuzztime", time.Minute, "fuzzing time per target and turn")
	total := flag.Duration("total", 30*time.Minute, "bound on the whole run, building included")
	parallel := flag.Int("parallel", 2, "fuzz workers per target (go test -parallel)")
	pkgs := flag.String("pkgs", "./...", "packages to look for targets in")
	flag.Parse()
	if flag.NArg() > 0 || *fuzztime < time.Second || *total < *fuzztime || *parallel < 1 {
		fmt.Fprintln(os.Stderr, "usage: fuzzlong [-fuzztime 1m] [-total 30m] [-parallel 2] [-pkgs ./...] (total >= fuzztime >= 1s)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, *fuzztime, *total, *parallel, *pkgs))
}

// target is one fuzz target of one package.
type target struct {
	pkg  string // import path
	dir  string // package directory
	name string // FuzzX
}

func (t target) String() string { return t.pkg + " " + t.name }

// failure is a target run that failed.
type failure struct {
	t      target
	input  string // the kept failing input (module-relative), "" if none
	detail string // the first lines of the failure
}

func run(ctx context.Context, fuzztime, total time.Duration, parallel int, pkgs string) int {
	deadline := time.Now().Add(total)
	targets, err := listTargets(ctx, pkgs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fuzzlong:", err)
		return 1
	}
	if len(targets) == 0 {
		fmt.Fprintln(os.Stderr, "fuzzlong: no fuzz targets")
		return 1
	}
	root, _ := os.Getwd()
	state := statePath()
	next := readNext(state) % len(targets)
	fmt.Printf("fuzzlong: %d targets, %s each in turn, %s in all, -parallel %d, starting at %s\n",
		len(targets), fuzztime, total, parallel, targets[next])
	meter := progress.New(os.Stdout)
	var failures []failure
	failed := map[int]bool{}
	turns := map[string]time.Duration{}
	for ctx.Err() == nil && len(failed) < len(targets) {
		left := time.Until(deadline)
		if left < 5*time.Second {
			break
		}
		i := next
		next = (next + 1) % len(targets)
		if failed[i] {
			continue
		}
		t := targets[i]
		ft := min(fuzztime, left)
		fmt.Printf("== %s for %s (%s left)\n", t, ft.Round(time.Second), left.Round(time.Second))
		start := time.Now()
		st := &status{out: os.Stdout, meter: meter, ft: ft, turn: start, deadline: deadline,
			label: fmt.Sprintf("[%d/%d] %s", i+1, len(targets), t.name)}
		f, err := fuzz(ctx, t, ft, left, parallel, st)
		st.Close()
		turns[t.String()] += time.Since(start)
		writeNext(state, next)
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			failed[i] = true
			if f.input != "" {
				if rel, rerr := filepath.Rel(root, filepath.Join(t.dir, f.input)); rerr == nil {
					f.input = rel
				}
			}
			failures = append(failures, f)
		}
	}
	fmt.Printf("\nfuzzlong: ran %d targets for %s\n", len(turns), (total - time.Until(deadline)).Round(time.Second))
	if ctx.Err() != nil {
		fmt.Println("fuzzlong: interrupted")
	}
	for _, f := range failures {
		fmt.Printf("FAIL %s\n", f.t)
		if f.input != "" {
			fmt.Printf("  failing input: %s\n  replay: go test -run '%s/%s' %s\n", f.input, f.t.name, filepath.Base(f.input), f.t.pkg)
		} else {
			fmt.Println("  no new input: it fails on its committed corpus or does not build")
		}
		for _, l := range strings.Split(f.detail, "\n") {
			fmt.Println("  | " + l)
		}
	}
	if len(failures) > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}

// listTargets returns the fuzz targets of the packages matching pattern:
// go test -list '^Fuzz' for each package whose test files declare one.
func listTargets(ctx context.Context, pattern string) ([]target, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.ImportPath}} {{.Dir}}", pattern).Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w", pattern, err)
	}
	var targets []target
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, dir, ok := strings.Cut(line, " ")
		if !ok || !declaresFuzz(dir) {
			continue
		}
		list, err := exec.CommandContext(ctx, "go", "test", "-list", "^Fuzz", pkg).Output()
		if err != nil {
			return nil, fmt.Errorf("go test -list '^Fuzz' %s: %w", pkg, err)
		}
		for _, name := range strings.Fields(string(list)) {
			if strings.HasPrefix(name, "Fuzz") {
				targets = append(targets, target{pkg: pkg, dir: dir, name: name})
			}
		}
	}
	return targets, nil
}

var fuzzDecl = regexp.MustCompile(`(?m)^func Fuzz`)

// declaresFuzz reports whether a test file in dir declares a fuzz target (a
// cheap filter before go test -list, which builds the test binary).
func declaresFuzz(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && fuzzDecl.Match(b) {
			return true
		}
	}
	return false
}

// fuzz runs one target for ft, its output shown through st; the run is
// stopped (SIGINT, so go test keeps the corpus) when ctx ends or left plus
// two minutes for building and minimising has passed.
func fuzz(ctx context.Context, t target, ft, left time.Duration, parallel int, st io.Writer) (failure, error) {
	ctx, cancel := context.WithTimeout(ctx, left+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-fuzz", "^"+t.name+"$",
		"-fuzztime", ft.String(), "-parallel", strconv.Itoa(parallel), t.pkg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 30 * time.Second
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(st, &out)
	cmd.Stderr = cmd.Stdout
	err := cmd.Run()
	if ctx.Err() != nil {
		return failure{}, ctx.Err()
	}
	f := failure{t: t}
	if err != nil {
		f.input, f.detail = parseFailure(out.Bytes())
	}
	return f, err
}

var inputWritten = regexp.MustCompile(`Failing input written to (\S+)`)

// parseFailure finds the input go test kept ("Failing input written to
// testdata/fuzz/FuzzX/hash", relative to the package) and the first lines of
// the failure (from the first "--- FAIL" on, at most 12).
func parseFailure(out []byte) (input, detail string) {
	if m := inputWritten.FindSubmatch(out); m != nil {
		input = string(m[1])
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		l := sc.Text()
		if len(lines) == 0 && !strings.HasPrefix(l, "--- FAIL") {
			continue
		}
		if lines = append(lines, l); len(lines) == 12 {
			break
		}
	}
	if len(lines) == 0 {
		lines = lastLines(string(out), 6)
	}
	return input, strings.Join(lines, "\n")
}

func lastLines(s string, n int) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[max(0, len(lines)-n):]
}

// statePath is where the rotation position is kept between runs.
func statePath() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "netspec", "fuzz-long", "next")
}

func readNext(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func writeNext(path string, n int) {
	if path == "" {
		return
	}
	if os.MkdirAll(filepath.Dir(path), 0o755) == nil {
		os.WriteFile(path, []byte(strconv.Itoa(n)+"\n"), 0o644)
	}
}
