package mutate

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Status is what became of a mutant.
type Status string

// Statuses. Killed and Timeout count as killed; Survived, as not; Equivalent
// (argued in the equivalence file), SameTables (the generator produced the
// same tables: nothing to kill) and Invalid (the mutated spec fails
// spec.Check or the generator) are left out of the score; NotRun (the budget
// ran out or the run was interrupted) too.
const (
	Killed     Status = "killed"
	Timeout    Status = "timeout"
	Survived   Status = "survived"
	Equivalent Status = "equivalent"
	SameTables Status = "same-tables"
	Invalid    Status = "invalid"
	NotRun     Status = "not-run"
)

// Result is the outcome of one mutant.
type Result struct {
	Mutant  Mutant
	Status  Status
	Package string        // for Killed: the first package whose tests failed
	Detail  string        // Killed: the first failing test; Invalid: the problem; Equivalent: the reason
	Elapsed time.Duration // time spent on the mutant (0 when cached)
	Cached  bool          // read from the result cache
}

// Tally is one machine's figures.
type Tally struct {
	Machine                                                                   string
	Total, Killed, Timeout, Survived, Equivalent, SameTables, Invalid, NotRun int
}

// Scored is the number of mutants the score is taken over: those run to a
// verdict that are neither equivalent nor invalid.
func (t Tally) Scored() int { return t.Killed + t.Timeout + t.Survived }

// Score is the fraction of scored mutants killed (a timeout counts as
// killed); 1 when nothing was scored.
func (t Tally) Score() float64 {
	if t.Scored() == 0 {
		return 1
	}
	return float64(t.Killed+t.Timeout) / float64(t.Scored())
}

// Tallies counts the results per machine, in the order machines first appear.
func Tallies(results []Result) []Tally {
	var out []Tally
	idx := map[string]int{}
	for _, r := range results {
		i, ok := idx[r.Mutant.Machine]
		if !ok {
			i = len(out)
			idx[r.Mutant.Machine] = i
			out = append(out, Tally{Machine: r.Mutant.Machine})
		}
		t := &out[i]
		t.Total++
		switch r.Status {
		case Killed:
			t.Killed++
		case Timeout:
			t.Timeout++
		case Survived:
			t.Survived++
		case Equivalent:
			t.Equivalent++
		case SameTables:
			t.SameTables++
		case Invalid:
			t.Invalid++
		default:
			t.NotRun++
		}
	}
	return out
}

// Report is what a run prints.
type Report struct {
	Header  []string // free lines printed first (seed, commit, date)
	Results []Result
	Stale   []Stale
	Verbose bool // list every mutant, not only the survivors
}

// Write prints the report: the header, a table of figures per machine, the
// packages that killed mutants, the surviving mutants (spec line, mutation,
// word diff), the stale equivalence entries and, when Verbose, every mutant.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	for _, h := range r.Header {
		fmt.Fprintln(&b, h)
	}
	fmt.Fprintf(&b, "\n%-8s %6s %6s %7s %8s %10s %11s %7s %7s %7s\n",
		"machine", "total", "killed", "timeout", "survived", "equivalent", "same-tables", "invalid", "not-run", "score")
	for _, t := range Tallies(r.Results) {
		fmt.Fprintf(&b, "%-8s %6d %6d %7d %8d %10d %11d %7d %7d %6.1f%%\n",
			t.Machine, t.Total, t.Killed, t.Timeout, t.Survived, t.Equivalent, t.SameTables, t.Invalid, t.NotRun, 100*t.Score())
	}
	b.WriteString("score = (killed + timeout) / (killed + timeout + survived)\n")

	killers := map[string]int{}
	for _, x := range r.Results {
		if x.Status == Killed {
			killers[x.Package]++
		}
	}
	if len(killers) > 0 {
		pkgs := make([]string, 0, len(killers))
		for p := range killers {
			pkgs = append(pkgs, p)
		}
		sort.Slice(pkgs, func(i, j int) bool {
			if killers[pkgs[i]] != killers[pkgs[j]] {
				return killers[pkgs[i]] > killers[pkgs[j]]
			}
			return pkgs[i] < pkgs[j]
		})
		b.WriteString("\nfirst failing package of the killed mutants:\n")
		for _, p := range pkgs {
			fmt.Fprintf(&b, "  %4d  %s\n", killers[p], p)
		}
	}

	section := func(title string, keep func(Result) bool, line func(Result) string) {
		var lines []string
		for _, x := range r.Results {
			if keep(x) {
				lines = append(lines, line(x))
			}
		}
		if len(lines) > 0 {
			fmt.Fprintf(&b, "\n%s (%d):\n", title, len(lines))
			for _, l := range lines {
				b.WriteString(l)
			}
		}
	}
	section("survivors", func(x Result) bool { return x.Status == Survived }, func(x Result) string {
		return fmt.Sprintf("  %s  %s\n      %s\n", x.Mutant.Where(), x.Mutant.Mutation, x.Mutant.Diff())
	})
	if len(r.Stale) > 0 {
		fmt.Fprintf(&b, "\nstale equivalence entries (%d):\n", len(r.Stale))
		for _, s := range r.Stale {
			fmt.Fprintf(&b, "  line %d: %s: %s\n", s.Entry.Line, s.Entry.Key(), s.Why)
		}
	}
	if r.Verbose {
		section("all mutants", func(Result) bool { return true }, func(x Result) string {
			d := x.Detail
			if x.Package != "" {
				d = x.Package + ": " + d
			}
			c := ""
			if x.Cached {
				c = " (cached)"
			}
			return fmt.Sprintf("  %-11s %s  %s%s\n      %s\n      %s\n", x.Status, x.Mutant.Where(), x.Mutant.Mutation, c, x.Mutant.Diff(), d)
		})
	}
	_, err := io.WriteString(w, b.String())
	return err
}
