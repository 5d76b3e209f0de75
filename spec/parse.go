package spec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// ErrSyntax is wrapped by every error Parse returns for malformed input.
var ErrSyntax = errors.New("syntax error")

// Load reads and parses the spec file at path. The file name recorded in the
// Machine (and in every rule's Src) is relative to the enclosing Go module's
// root (the nearest directory above path holding go.mod), so generated tables
// say "spec/tcp.fsm:41" wherever the generator runs.
func Load(path string) (*Machine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("spec: load: %w", err)
	}
	defer f.Close()
	return Parse(ModulePath(path), f)
}

// ModulePath returns path relative to the root of the Go module containing it,
// with forward slashes; if no go.mod is found it returns path cleaned.
func ModulePath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.ToSlash(filepath.Clean(path))
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if rel, err := filepath.Rel(dir, abs); err == nil {
				return filepath.ToSlash(rel)
			}
			break
		}
		if parent := filepath.Dir(dir); parent == dir {
			break
		}
	}
	return filepath.ToSlash(filepath.Clean(path))
}

var commaSpace = regexp.MustCompile(`\s*,\s*`)

// Parse reads a spec from r; name is the file name used in errors and in each
// rule's Src. Syntax errors stop parsing and carry "name:line". Problems of
// meaning (undeclared names, incomplete cells, unreachable states) are left to
// Check.
func Parse(name string, r io.Reader) (*Machine, error) {
	m := &Machine{File: name, declLine: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	line := 0
	seen := map[string]int{}
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(commaSpace.ReplaceAllString(text, ","))
		if text == "" {
			continue
		}
		f := strings.Fields(text)
		errf := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %w: %s", name, line, ErrSyntax, fmt.Sprintf(format, args...))
		}
		switch f[0] {
		case "machine", "package", "prefix":
			if prev, ok := seen[f[0]]; ok {
				return nil, errf("%s already given at line %d", f[0], prev)
			}
			seen[f[0]] = line
			if len(f) > 2 || (len(f) == 1 && f[0] != "prefix") {
				return nil, errf("%s takes one name", f[0])
			}
			v := ""
			if len(f) == 2 {
				v = f[1]
				if !isIdent(v) {
					return nil, errf("%s %q is not an identifier", f[0], v)
				}
			}
			switch f[0] {
			case "machine":
				m.Name = v
			case "package":
				m.Package = v
			default:
				m.Prefix = v
			}
		case "profiles":
			if prev, ok := seen[f[0]]; ok {
				return nil, errf("profiles already given at line %d", prev)
			}
			seen[f[0]] = line
			for _, n := range strings.Split(strings.Join(f[1:], ","), ",") {
				if n == "" {
					continue
				}
				if !isIdent(n) {
					return nil, errf("profiles: %q is not an identifier", n)
				}
				if slices.Contains(m.Profiles, n) {
					return nil, errf("profile %s declared twice", n)
				}
				m.Profiles = append(m.Profiles, n)
			}
			if len(m.Profiles) == 0 {
				return nil, errf("profiles needs at least one name")
			}
		case "states", "events", "guards", "actions", "reasons":
			for _, n := range f[1:] {
				for _, n := range strings.Split(n, ",") {
					if n == "" {
						continue
					}
					if !isIdent(n) {
						return nil, errf("%s: %q is not an identifier", f[0], n)
					}
					key := f[0] + " " + n
					if prev, ok := m.declLine[key]; ok {
						m.problems = append(m.problems, fmt.Errorf("%s:%d: %s %s already declared at line %d", name, line, strings.TrimSuffix(f[0], "s"), n, prev))
						continue
					}
					m.declLine[key] = line
					switch f[0] {
					case "states":
						m.States = append(m.States, n)
					case "events":
						m.Events = append(m.Events, n)
					case "guards":
						m.Guards = append(m.Guards, n)
					case "actions":
						m.Actions = append(m.Actions, n)
					default:
						m.Reasons = append(m.Reasons, n)
					}
				}
			}
		case "group":
			// group Name = A,B,C
			if len(f) != 4 || f[2] != "=" || !isIdent(f[1]) {
				return nil, errf("want: group <Name> = <State>[,<State>...]")
			}
			g := Group{Name: f[1], Line: line}
			for _, s := range strings.Split(f[3], ",") {
				if s == "" {
					return nil, errf("group %s: empty state name", g.Name)
				}
				g.States = append(g.States, s)
			}
			if prev, ok := m.declLine["group "+g.Name]; ok {
				m.problems = append(m.problems, fmt.Errorf("%s:%d: group %s already declared at line %d", name, line, g.Name, prev))
				continue
			}
			m.declLine["group "+g.Name] = line
			m.Groups = append(m.Groups, g)
		case "on":
			rule, err := parseRule(f[1:])
			if err != nil {
				return nil, errf("%v", err)
			}
			rule.Line = line
			rule.Src = fmt.Sprintf("%s:%d", name, line)
			// An event list ("on S E1,E2 ...") is shorthand for one rule per event.
			for _, ev := range strings.Split(rule.Event, ",") {
				r := rule
				r.Event = ev
				m.Rules = append(m.Rules, r)
			}
		default:
			return nil, errf("unknown directive %q", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: read: %w", name, line, err)
	}
	for _, d := range []string{"machine", "package"} {
		if _, ok := seen[d]; !ok {
			return nil, fmt.Errorf("%s:%d: %w: missing %q directive", name, line, ErrSyntax, d)
		}
	}
	m.resolve()
	return m, nil
}

// parseRule parses the words after "on" (Event may still be a comma list):
// <States> <Event[,Event...]> [if <cond>,...] -> <Next|-> [do <act>,...] <outcome> @ <anchor> [REQ...] [profile=<p>,...|only=<p>,...]
// where <outcome> is continue, done, drop <Reason> or impossible.
func parseRule(f []string) (Rule, error) {
	var r Rule
	if len(f) < 2 {
		return r, errors.New("want: on <States> <Event> ...")
	}
	r.StateRefs = strings.Split(f[0], ",")
	for _, s := range r.StateRefs {
		if s == "" {
			return r, errors.New("empty state in state list")
		}
	}
	r.Event = f[1]
	for _, ev := range strings.Split(r.Event, ",") {
		if !isIdent(ev) {
			return r, fmt.Errorf("event %q is not an identifier", ev)
		}
	}
	f = f[2:]
	if len(f) > 0 && f[0] == "if" {
		if len(f) < 2 {
			return r, errors.New("if without conditions")
		}
		for _, c := range strings.Split(f[1], ",") {
			neg := strings.HasPrefix(c, "!")
			g := strings.TrimPrefix(c, "!")
			if !isIdent(g) {
				return r, fmt.Errorf("condition %q is not a guard name", c)
			}
			r.Conds = append(r.Conds, Cond{Guard: g, Negate: neg})
		}
		f = f[2:]
	}
	if len(f) < 2 || f[0] != "->" {
		return r, errors.New("want: -> <Next|->")
	}
	if f[1] != "-" {
		if !isIdent(f[1]) {
			return r, fmt.Errorf("next state %q is not an identifier", f[1])
		}
		r.Next = f[1]
	}
	f = f[2:]
	if len(f) > 0 && f[0] == "do" {
		if len(f) < 2 {
			return r, errors.New("do without actions")
		}
		for _, a := range strings.Split(f[1], ",") {
			if !isIdent(a) {
				return r, fmt.Errorf("action %q is not an identifier", a)
			}
			r.Actions = append(r.Actions, a)
		}
		f = f[2:]
	}
	if len(f) == 0 {
		return r, errors.New("missing outcome (continue, done, drop <Reason> or impossible)")
	}
	switch f[0] {
	case "continue":
		r.Outcome = Continue
		f = f[1:]
	case "done":
		r.Outcome = Done
		f = f[1:]
	case "drop":
		if len(f) < 2 || !isIdent(f[1]) {
			return r, errors.New("drop needs a reason")
		}
		r.Outcome, r.Reason = Drop, f[1]
		f = f[2:]
	case "impossible":
		r.Outcome = Impossible
		f = f[1:]
	default:
		return r, fmt.Errorf("unknown outcome %q (want continue, done, drop <Reason> or impossible)", f[0])
	}
	if len(f) < 2 || f[0] != "@" {
		return r, errors.New("missing anchor: @ <RFC clause>")
	}
	r.Anchor = f[1]
	for _, w := range f[2:] {
		tag, list, ok := strings.Cut(w, "=")
		if !ok {
			r.Reqs = append(r.Reqs, w)
			continue
		}
		switch tag {
		case "profile", "only":
		default:
			return r, fmt.Errorf("unknown tag %q (want profile=<p>[,<p>...] or only=<p>[,<p>...])", tag)
		}
		if r.Profiles != nil {
			return r, errors.New("profile tag given twice")
		}
		r.ProfileOnly = tag == "only"
		for _, p := range strings.Split(list, ",") {
			if !isIdent(p) {
				return r, fmt.Errorf("profile %q is not an identifier", p)
			}
			r.Profiles = append(r.Profiles, p)
		}
	}
	return r, nil
}

// resolve expands every rule's state references and records undeclared names
// as problems for Check.
func (m *Machine) resolve() {
	states := index(m.States)
	groups := map[string]*Group{}
	for i := range m.Groups {
		g := &m.Groups[i]
		groups[g.Name] = g
		if _, clash := states[g.Name]; clash {
			m.problem(g.Line, "group %s has the name of a state", g.Name)
		}
		for _, s := range g.States {
			if _, ok := states[s]; !ok {
				m.problem(g.Line, "group %s: undeclared state %s", g.Name, s)
			}
		}
	}
	for k := range m.Rules {
		r := &m.Rules[k]
		member := map[string]bool{}
		for _, ref := range r.StateRefs {
			switch {
			case ref == "*":
				for _, s := range m.States {
					member[s] = true
				}
			case groups[ref] != nil:
				for _, s := range groups[ref].States {
					member[s] = true
				}
			default:
				if _, ok := states[ref]; ok {
					member[ref] = true
				} else {
					m.problem(r.Line, "undeclared state or group %s", ref)
				}
			}
		}
		for _, s := range m.States {
			if member[s] {
				r.States = append(r.States, s)
				delete(member, s)
			}
		}
		if _, ok := index(m.Events)[r.Event]; !ok {
			m.problem(r.Line, "undeclared event %s", r.Event)
		}
		if r.Next != "" {
			if _, ok := states[r.Next]; !ok {
				m.problem(r.Line, "undeclared next state %s", r.Next)
			}
		}
		for _, c := range r.Conds {
			if _, ok := m.declLine["guards "+c.Guard]; !ok {
				m.problem(r.Line, "undeclared guard %s", c.Guard)
			}
		}
		for _, a := range r.Actions {
			if _, ok := m.declLine["actions "+a]; !ok {
				m.problem(r.Line, "undeclared action %s", a)
			}
		}
		for _, p := range r.Profiles {
			if !slices.Contains(m.Profiles, p) {
				m.problem(r.Line, "undeclared profile %s", p)
			}
		}
		if r.Outcome == Drop {
			if _, ok := m.declLine["reasons "+r.Reason]; !ok {
				m.problem(r.Line, "undeclared reason %s", r.Reason)
			}
		}
	}
}

func (m *Machine) problem(line int, format string, args ...any) {
	m.problems = append(m.problems, fmt.Errorf("%s:%d: %s", m.File, line, fmt.Sprintf(format, args...)))
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
