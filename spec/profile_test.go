package spec

import (
	"strings"
	"testing"
)

const profHeader = header + `
profiles lax strict
states A B
events E
guards G
actions X
reasons R
on A E -> B done @ RFC1:1
`

func wantProblems(t *testing.T, m *Machine, want ...string) {
	t.Helper()
	errs := m.Check()
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	joined := strings.Join(all, "\n")
	if len(want) == 0 && len(errs) > 0 {
		t.Fatalf("unexpected problems:\n%s", joined)
	}
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("want a problem containing %q; got:\n%s", w, joined)
		}
	}
}

func TestProfilesParse(t *testing.T) {
	m := parse(t, profHeader+`
on B E if G -> A do X done @ RFC1:2 MUST-1 profile=lax
on B E if G -> A drop R @ RFC1:3 profile=strict
on B E -> - done @ RFC1:4
`)
	wantProblems(t, m)
	if strings.Join(m.Profiles, " ") != "lax strict" || m.DefaultProfile() != "lax" {
		t.Fatalf("profiles %q default %q", m.Profiles, m.DefaultProfile())
	}
	r := m.Rules[1]
	if strings.Join(r.Reqs, " ") != "MUST-1" || strings.Join(r.Profiles, ",") != "lax" || r.ProfileOnly {
		t.Fatalf("rule %+v", r)
	}
	if !r.In("lax") || r.In("strict") || !m.Rules[0].In("strict") {
		t.Fatal("In")
	}
	for p, want := range map[string]int{"": 3, "lax": 2, "strict": 2} {
		if got := len(m.ProfileCells(p)[1][0].Rules); got != want {
			t.Errorf("profile %q: cell (B,E) has %d rules, want %d", p, got, want)
		}
	}
}

// TestProfileNotTotal: a cell total in one profile but not in the other is
// reported, naming the profile.
func TestProfileNotTotal(t *testing.T) {
	m := parse(t, profHeader+`
on B E if G -> A done @ RFC1:2
on B E -> - done @ RFC1:3 only=lax
`)
	wantProblems(t, m, "spec/t.fsm:13: cell (B, E) does not end in an unconditional rule (profile strict)")
}

// TestProfileShadowing: shadowing is judged per profile; a strict-only row after
// a lax-only unconditional row is not shadowed.
func TestProfileShadowing(t *testing.T) {
	m := parse(t, profHeader+`
on B E -> A done @ RFC1:2 profile=lax
on B E -> A drop R @ RFC1:3 profile=strict
`)
	wantProblems(t, m)
	m = parse(t, profHeader+`
on B E -> A done @ RFC1:2
on B E if G -> A drop R @ RFC1:3 only=strict
`)
	wantProblems(t, m, "spec/t.fsm:14: rule is shadowed in cell (B, E) by the unconditional rule at line 13 (profile strict)")
}

// TestProfileTwin: a profile-specific row needs a twin or only=.
func TestProfileTwin(t *testing.T) {
	m := parse(t, profHeader+`
on B E if G -> A done @ RFC1:2 profile=lax
on B E -> A done @ RFC1:3
`)
	wantProblems(t, m, "spec/t.fsm:13: profile-specific rule has no twin for profile strict in cell (B, E)")
	m = parse(t, profHeader+`
on B E if G -> A done @ RFC1:2 only=lax
on B E -> A done @ RFC1:3
`)
	wantProblems(t, m)
}

// TestProfileReachability: a state reachable only through one profile's rows
// is unreachable in the other.
func TestProfileReachability(t *testing.T) {
	m := parse(t, header+`
profiles lax strict
states A B C
events E
on A E -> B done @ RFC1:1
on B E -> C done @ RFC1:2 only=lax
on B E -> A done @ RFC1:3
on C E -> A done @ RFC1:4
`)
	wantProblems(t, m, "state C is unreachable from the initial state A (profile strict)", "spec/t.fsm:10: rule is shadowed in cell (B, E) by the unconditional rule at line 9 (profile lax)")
}

func TestProfileErrors(t *testing.T) {
	for _, src := range []string{
		header + "profiles\n",
		header + "profiles a a\n",
		header + "profiles a\nprofiles b\n",
		header + "profiles a\nstates A\nevents E\non A E -> - done @ X:1 color=a\n",
		header + "profiles a\nstates A\nevents E\non A E -> - done @ X:1 profile=a profile=a\n",
		header + "profiles a\nstates A\nevents E\non A E -> - done @ X:1 profile=a,\n",
	} {
		if _, err := Parse("spec/t.fsm", strings.NewReader(src)); err == nil {
			t.Errorf("no syntax error for:\n%s", src)
		}
	}
	m := parse(t, header+"states A\nevents E\non A E -> - done @ X:1 profile=b\n")
	wantProblems(t, m, "undeclared profile b")
}
