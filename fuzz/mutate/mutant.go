package mutate

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"

	"github.com/netspec/netspec/spec"
)

// Mutation kinds: each changes one thing in one row of a spec.
const (
	KindNext       = "next"        // the next state changed ("next Closed", "next -")
	KindDropAction = "drop-action" // one action removed ("drop-action Release")
	KindNegate     = "negate"      // one condition negated ("negate HasACK", "negate !AckAcceptable")
	KindOutcome    = "outcome"     // the outcome changed ("outcome done", "outcome drop NoConn")
)

// Row is one "on" line of a spec: the rule parsed from it. A line naming
// several events parses to one spec.Rule per event; Row keeps them together
// (a mutant changes the line, so every event of it).
type Row struct {
	Rule   spec.Rule // the line's first rule (Event is its first event)
	Events []string  // every event of the line, as written
}

// Rows returns the rows of m in file order.
func Rows(m *spec.Machine) []Row {
	var rows []Row
	for _, r := range m.Rules {
		if n := len(rows); n > 0 && rows[n-1].Rule.Line == r.Line {
			rows[n-1].Events = append(rows[n-1].Events, r.Event)
			continue
		}
		rows = append(rows, Row{Rule: r, Events: []string{r.Event}})
	}
	return rows
}

// Head is the row's identity within its machine: the text before "->" as the
// parser normalises it ("on States Events [if conds]") and its profile tag if
// any. It does not move when lines are inserted above the row, so the
// equivalence file names rows by it.
func (w Row) Head() string {
	if tag := profileTag(w.Rule); tag != "" {
		return w.lhs() + " " + tag
	}
	return w.lhs()
}

// lhs is the row's text before "->".
func (w Row) lhs() string {
	r := w.Rule
	s := fmt.Sprintf("on %s %s", strings.Join(r.StateRefs, ","), strings.Join(w.Events, ","))
	if len(r.Conds) > 0 {
		s += " if " + condList(r.Conds)
	}
	return s
}

// Text renders the row as one DSL line (without its comment); spec.Parse
// reads it back to the same rule.
func (w Row) Text() string {
	r := w.Rule
	var b strings.Builder
	b.WriteString(w.lhs())
	next := r.Next
	if next == "" {
		next = "-"
	}
	b.WriteString(" -> ")
	b.WriteString(next)
	if len(r.Actions) > 0 {
		b.WriteString(" do ")
		b.WriteString(strings.Join(r.Actions, ","))
	}
	b.WriteString(" ")
	b.WriteString(r.Outcome.String())
	if r.Outcome == spec.Drop {
		b.WriteString(" ")
		b.WriteString(r.Reason)
	}
	b.WriteString(" @ ")
	b.WriteString(r.Anchor)
	for _, q := range r.Reqs {
		b.WriteString(" ")
		b.WriteString(q)
	}
	if tag := profileTag(r); tag != "" {
		b.WriteString(" ")
		b.WriteString(tag)
	}
	return b.String()
}

func condList(cs []spec.Cond) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, ",")
}

func profileTag(r spec.Rule) string {
	if len(r.Profiles) == 0 {
		return ""
	}
	tag := "profile="
	if r.ProfileOnly {
		tag = "only="
	}
	return tag + strings.Join(r.Profiles, ",")
}

// Mutant is one spec changed in one row.
type Mutant struct {
	Machine  string // machine name ("tcp")
	File     string // module-relative spec file ("spec/tcp.fsm")
	Line     int    // the row's line (1-based)
	Head     string // Row.Head of the original row
	Mutation string // kind and argument: "drop-action Release"
	Orig     string // the original row, rendered
	Text     string // the mutated row, rendered
}

// Kind returns the mutation kind (KindNext, ...).
func (x Mutant) Kind() string {
	k, _, _ := strings.Cut(x.Mutation, " ")
	return k
}

// Key identifies the mutant independently of line numbers: machine, row head
// and mutation, separated by " | " as in the equivalence file.
func (x Mutant) Key() string {
	return x.Machine + " | " + x.Head + " | " + x.Mutation
}

// Where is "spec/tcp.fsm:88".
func (x Mutant) Where() string { return fmt.Sprintf("%s:%d", x.File, x.Line) }

// Diff is a one-line word diff of the row: the words removed in [-...-] and
// the words added in {+...+}, as git diff --word-diff prints them.
func (x Mutant) Diff() string { return WordDiff(x.Orig, x.Text) }

// Generate returns every single-row mutant of m, in file order: for each row,
// every other next state (and "-" for a row that moves), each action
// dropped, each condition negated, and each other outcome; rows marked
// impossible have no mutants. A mutant's
// "drop" outcome counts under the reason of the first drop row of the same
// event, or the machine's first reason when the event has none. Next-state
// mutants that keep the row's only state ("-" against that state) are left
// out: they are the same table.
func Generate(m *spec.Machine) []Mutant {
	dropReason := map[string]string{}
	for _, r := range m.Rules {
		if r.Outcome == spec.Drop && dropReason[r.Event] == "" {
			dropReason[r.Event] = r.Reason
		}
	}
	var out []Mutant
	for _, row := range Rows(m) {
		if row.Rule.Outcome == spec.Impossible {
			// Nothing to mutate but the outcome, and a row that cannot fire
			// does the same whatever its outcome says: the runtime counts
			// it as an internal error and the checks fail if it fires.
			continue
		}
		add := func(mutation string, change func(r *spec.Rule)) {
			mut := row
			mut.Rule.Conds = append([]spec.Cond(nil), row.Rule.Conds...)
			mut.Rule.Actions = append([]string(nil), row.Rule.Actions...)
			change(&mut.Rule)
			out = append(out, Mutant{
				Machine: m.Name, File: m.File, Line: row.Rule.Line, Head: row.Head(),
				Mutation: mutation, Orig: row.Text(), Text: mut.Text(),
			})
		}
		r := row.Rule
		only := ""
		if len(r.States) == 1 {
			only = r.States[0]
		}
		if r.Next != "" && r.Next != only {
			add(KindNext+" -", func(r *spec.Rule) { r.Next = "" })
		}
		for _, s := range m.States {
			if s != r.Next && !(r.Next == "" && s == only) {
				add(KindNext+" "+s, func(r *spec.Rule) { r.Next = s })
			}
		}
		for i, a := range r.Actions {
			add(KindDropAction+" "+a, func(r *spec.Rule) { r.Actions = append(r.Actions[:i:i], r.Actions[i+1:]...) })
		}
		for i, c := range r.Conds {
			add(KindNegate+" "+c.String(), func(r *spec.Rule) { r.Conds[i].Negate = !c.Negate })
		}
		for _, o := range []spec.Outcome{spec.Continue, spec.Done, spec.Drop} {
			if o == r.Outcome {
				continue
			}
			reason := ""
			if o == spec.Drop {
				reason = dropReason[r.Event]
				if reason == "" && len(m.Reasons) > 0 {
					reason = m.Reasons[0]
				}
				if reason == "" {
					continue
				}
			}
			mutation := KindOutcome + " " + strings.TrimSpace(o.String()+" "+reason)
			add(mutation, func(r *spec.Rule) { r.Outcome, r.Reason = o, reason })
		}
	}
	return out
}

// Sample picks n mutants reproducibly from seed. The mutants are grouped
// into classes (one row and one kind); the classes are shuffled and each
// gives one mutant chosen at random, so every kind of change is drawn about
// as often as rows carry it (a row has up to a dozen next-state mutants but
// one class of them). When n exceeds the number of classes, further rounds
// draw another mutant of each class. n <= 0 returns every mutant. The result
// is in file order.
func Sample(muts []Mutant, seed uint64, n int) []Mutant {
	if n <= 0 || n >= len(muts) {
		return muts
	}
	type class struct{ idx []int }
	var classes []*class
	byKey := map[string]*class{}
	for i, x := range muts {
		k := fmt.Sprintf("%s:%d:%s", x.File, x.Line, x.Kind())
		c := byKey[k]
		if c == nil {
			c = &class{}
			byKey[k] = c
			classes = append(classes, c)
		}
		c.idx = append(c.idx, i)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d75746174652d31))
	var picked []int
	for len(picked) < n {
		rng.Shuffle(len(classes), func(i, j int) { classes[i], classes[j] = classes[j], classes[i] })
		for _, c := range classes {
			if len(picked) == n {
				break
			}
			if len(c.idx) == 0 {
				continue
			}
			j := rng.IntN(len(c.idx))
			picked = append(picked, c.idx[j])
			c.idx = append(c.idx[:j], c.idx[j+1:]...)
		}
	}
	sort.Ints(picked)
	out := make([]Mutant, len(picked))
	for i, j := range picked {
		out[i] = muts[j]
	}
	return out
}

// Apply returns src with the mutant's line replaced by its text. The number
// of lines stays the same, so every other row keeps its line (and the
// generated tables their spec references).
func Apply(src []byte, x Mutant) ([]byte, error) {
	lines := bytes.SplitAfter(src, []byte("\n"))
	if x.Line < 1 || x.Line > len(lines) {
		return nil, fmt.Errorf("mutate: %s: no line %d", x.File, x.Line)
	}
	old := lines[x.Line-1]
	if !bytes.HasPrefix(bytes.TrimSpace(old), []byte("on ")) {
		return nil, fmt.Errorf("mutate: %s is not a rule: %q", x.Where(), old)
	}
	nl := ""
	if bytes.HasSuffix(old, []byte("\n")) {
		nl = "\n"
	}
	var b bytes.Buffer
	for i, l := range lines {
		if i == x.Line-1 {
			b.WriteString(x.Text + nl)
			continue
		}
		b.Write(l)
	}
	return b.Bytes(), nil
}

// Validate parses the mutated spec and runs spec.Check on it; a mutant that
// breaks totality, determinism or reachability is not a valid spec.
func Validate(file string, src []byte) error {
	m, err := spec.Parse(file, bytes.NewReader(src))
	if err != nil {
		return err
	}
	if errs := m.Check(); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

var token = regexp.MustCompile(`[^\s,]+|[\s,]+`)

// WordDiff compares a and b word by word (words are separated by spaces and
// commas) and returns b with the words of a that differ in [-...-] and the
// replacing words in {+...+}, as git diff --word-diff prints them.
func WordDiff(a, b string) string {
	at, bt := token.FindAllString(strings.TrimSpace(a), -1), token.FindAllString(strings.TrimSpace(b), -1)
	p := 0
	for p < len(at) && p < len(bt) && at[p] == bt[p] {
		p++
	}
	s := 0
	for s < len(at)-p && s < len(bt)-p && at[len(at)-1-s] == bt[len(bt)-1-s] {
		s++
	}
	var out strings.Builder
	out.WriteString(strings.Join(at[:p], ""))
	if del := at[p : len(at)-s]; len(del) > 0 {
		out.WriteString("[-" + strings.Join(del, "") + "-]")
	}
	if add := bt[p : len(bt)-s]; len(add) > 0 {
		out.WriteString("{+" + strings.Join(add, "") + "+}")
	}
	out.WriteString(strings.Join(at[len(at)-s:], ""))
	return out.String()
}
