package mutate

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Equivalence is one argued equivalent mutant: a line of the equivalence
// file (spec/mutants.equivalent),
//
//	machine | row head | mutation | reason
//
// for example
//
//	tcp | on Closed,Listen TimeoutUser | outcome drop ClosedRst | a user timer is never armed without a connection
//
// The row head is the row's text before "->" (and its profile tag, if any), as
// Row.Head prints it: it names the row without its line number, which moves
// with every edit above it.
type Equivalence struct {
	Line     int // line in the equivalence file
	Machine  string
	Head     string
	Mutation string
	Reason   string
}

// Key is the mutant key (Mutant.Key) the entry argues for.
func (e Equivalence) Key() string {
	return e.Machine + " | " + e.Head + " | " + e.Mutation
}

var (
	spaces     = regexp.MustCompile(`\s+`)
	commaSpace = regexp.MustCompile(`\s*,\s*`)
)

// normalize collapses white space and removes it around commas, as the spec
// parser does.
func normalize(s string) string {
	return commaSpace.ReplaceAllString(spaces.ReplaceAllString(strings.TrimSpace(s), " "), ",")
}

// ParseEquivalences reads an equivalence file; name is used in errors. Blank
// lines and lines starting with '#' are skipped. Every entry needs the four
// fields, a known mutation kind and a reason, and no mutant may be argued
// twice.
func ParseEquivalences(name string, r io.Reader) ([]Equivalence, error) {
	var out []Equivalence
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.SplitN(text, "|", 4)
		if len(f) != 4 {
			return nil, fmt.Errorf("%s:%d: want: machine | row head | mutation | reason", name, line)
		}
		e := Equivalence{Line: line, Machine: strings.TrimSpace(f[0]), Head: normalize(f[1]),
			Mutation: spaces.ReplaceAllString(strings.TrimSpace(f[2]), " "), Reason: strings.TrimSpace(f[3])}
		switch {
		case e.Machine == "" || strings.ContainsAny(e.Machine, " \t"):
			return nil, fmt.Errorf("%s:%d: machine %q is not a name", name, line, e.Machine)
		case !strings.HasPrefix(e.Head, "on "):
			return nil, fmt.Errorf("%s:%d: row head %q does not start with \"on \"", name, line, e.Head)
		case strings.Contains(e.Head, "->"):
			return nil, fmt.Errorf("%s:%d: row head %q: give the row only up to \"->\"", name, line, e.Head)
		case e.Reason == "":
			return nil, fmt.Errorf("%s:%d: no reason given", name, line)
		}
		switch kind, arg, _ := strings.Cut(e.Mutation, " "); kind {
		case KindNext, KindDropAction, KindNegate, KindOutcome:
			if arg == "" {
				return nil, fmt.Errorf("%s:%d: mutation %q has no argument", name, line, e.Mutation)
			}
		default:
			return nil, fmt.Errorf("%s:%d: unknown mutation kind %q (want %s, %s, %s or %s)",
				name, line, kind, KindNext, KindDropAction, KindNegate, KindOutcome)
		}
		if prev, dup := seen[e.Key()]; dup {
			return nil, fmt.Errorf("%s:%d: mutant already argued at line %d", name, line, prev)
		}
		seen[e.Key()] = line
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// Stale is an equivalence entry that no longer argues for a surviving
// mutant: its row or mutation no longer exists, or the mutant was run and did
// not survive.
type Stale struct {
	Entry Equivalence
	Why   string
}

// ApplyEquivalences marks every survivor an entry argues for as Equivalent
// (with the entry's reason as detail) and returns the stale entries: those of
// a machine in all (the mutants of the machines under test) that match no
// mutant there, and those whose mutant was run here and was not a survivor.
// Entries of other machines, and entries whose mutant was not sampled, are
// not judged.
func ApplyEquivalences(results []Result, all []Mutant, entries []Equivalence) []Stale {
	exists := map[string]bool{}
	machines := map[string]bool{}
	for _, x := range all {
		exists[x.Key()] = true
		machines[x.Machine] = true
	}
	byKey := map[string]*Result{}
	for i := range results {
		byKey[results[i].Mutant.Key()] = &results[i]
	}
	var stale []Stale
	for _, e := range entries {
		if !machines[e.Machine] {
			continue
		}
		if !exists[e.Key()] {
			stale = append(stale, Stale{e, "no such row or mutation in the spec"})
			continue
		}
		r := byKey[e.Key()]
		switch {
		case r == nil || r.Status == NotRun:
		case r.Status == Survived || r.Status == Equivalent:
			r.Status, r.Detail = Equivalent, e.Reason
		default:
			stale = append(stale, Stale{e, fmt.Sprintf("the mutant is %s (%s)", r.Status, r.Detail)})
		}
	}
	return stale
}
