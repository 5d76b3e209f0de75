package fsmrt

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// A tiny machine for the tests: two states, one event, three guards, two
// actions, two reasons (0 = none), two profiles.
type (
	st  uint8
	ev  uint8
	gd  uint8
	act uint8
	rsn uint8
	pf  uint8
)

var (
	stNames  = []string{"Idle", "Busy"}
	evNames  = []string{"Go"}
	gdNames  = []string{"A", "B", "C"}
	actNames = []string{"Beep", "Blink"}
	rsnNames = []string{"None", "Jam"}
	pfNames  = []string{"lax", "strict"}
)

func (x st) String() string  { return Name(x, stNames, "st") }
func (x ev) String() string  { return Name(x, evNames, "ev") }
func (x gd) String() string  { return Name(x, gdNames, "gd") }
func (x act) String() string { return Name(x, actNames, "act") }
func (x rsn) String() string { return Name(x, rsnNames, "rsn") }
func (x pf) String() string  { return Name(x, pfNames, "pf") }

type rule = Rule[st, ev, gd, act, rsn, pf]

// cell is one (Idle, Go) cell: a drop row for A && !B, a lax-only row for C,
// its strict twin, and the unconditional last row.
var cell = []rule{
	{ID: 0, Conds: []Cond[gd]{{Guard: 0}, {Guard: 1, Negate: true}}, Next: 0, Actions: []act{1}, Outcome: OutDrop, Reason: 1, Src: "t.fsm:1", Anchor: "X:1", Reqs: []string{"MUST-1", "SHLD-2"}, Profiles: 0b11},
	{ID: 1, Conds: []Cond[gd]{{Guard: 2}}, Next: 1, Actions: []act{0, 1}, Outcome: OutDone, Src: "t.fsm:2", Anchor: "X:2", Profiles: 0b01},
	{ID: 2, Conds: []Cond[gd]{{Guard: 2}}, Next: 0, Outcome: OutDrop, Reason: 1, Src: "t.fsm:3", Anchor: "X:3", Profiles: 0b10},
	{ID: 3, Next: 1, Outcome: OutContinue, Src: "t.fsm:4", Anchor: "X:4", Profiles: 0b11},
}

// evalOf returns an eval that reads guard g as bit g of mask and records the
// order in which it was asked.
func evalOf(mask uint8, asked *[]gd) func(gd) bool {
	return func(g gd) bool {
		if asked != nil {
			*asked = append(*asked, g)
		}
		return mask>>g&1 != 0
	}
}

func TestMatchFirstHolding(t *testing.T) {
	for _, tc := range []struct {
		mask uint8
		want uint16
	}{
		{0b001, 0}, // A, !B: the drop row
		{0b011, 3}, // A and B: row 0 fails, no C: the last row
		{0b100, 1}, // C: the lax row (Match ignores profiles)
		{0b111, 1},
		{0b000, 3},
	} {
		r := Match(cell, evalOf(tc.mask, nil))
		if r == nil || r.ID != tc.want {
			t.Errorf("mask %03b: got %v, want row %d", tc.mask, r, tc.want)
		}
		if r != &cell[tc.want] {
			t.Errorf("mask %03b: Match returned a copy, not the table's row", tc.mask)
		}
	}
	if r := Match(cell[:0], evalOf(0, nil)); r != nil {
		t.Errorf("empty cell: got %v", r)
	}
	if r := Match(cell[:1], evalOf(0b010, nil)); r != nil {
		t.Errorf("no row holds: got %v", r)
	}
}

// TestMatchShortCircuits: guards are asked in row order and a row stops at
// its first failing condition (guards may have costs or side effects on
// scratch state, as tcp's do).
func TestMatchShortCircuits(t *testing.T) {
	var asked []gd
	Match(cell, evalOf(0b000, &asked))
	// Row 0 asks A (false, stop); rows 1 and 2 (Match ignores profiles) ask
	// C; row 3 has no conditions.
	if want := []gd{0, 2, 2}; !slices.Equal(asked, want) {
		t.Errorf("asked %v, want %v", asked, want)
	}
	asked = asked[:0]
	MatchIn(cell, 1, evalOf(0b011, &asked))
	// Row 0: A true, B true (fail); row 1 is not strict; row 2 asks C.
	if want := []gd{0, 1, 2}; !slices.Equal(asked, want) {
		t.Errorf("strict: asked %v, want %v", asked, want)
	}
}

func TestMatchInProfiles(t *testing.T) {
	eval := evalOf(0b100, nil)
	if r := MatchIn(cell, 0, eval); r == nil || r.ID != 1 {
		t.Errorf("lax: got %v, want row 1", r)
	}
	if r := MatchIn(cell, 1, eval); r == nil || r.ID != 2 {
		t.Errorf("strict: got %v, want row 2", r)
	}
	for _, p := range []pf{2, 7, 8, 200} {
		if r := MatchIn(cell, p, eval); r != nil {
			t.Errorf("profile %d no row is in: got %v", p, r)
		}
	}
	if !cell[1].In(0) || cell[1].In(1) || cell[2].In(0) || !cell[2].In(1) || cell[3].In(8) {
		t.Error("In disagrees with the Profiles mask")
	}
	var none Rule[st, ev, gd, act, rsn, NoProfile]
	if none.In(0) || NoProfile(0).String() != "none" {
		t.Error("a machine without profiles has rows in no profile")
	}
}

func TestHolds(t *testing.T) {
	for mask := range uint8(8) {
		want := mask&1 != 0 && mask&2 == 0
		if got := cell[0].Holds(evalOf(mask, nil)); got != want {
			t.Errorf("mask %03b: Holds = %v, want %v", mask, got, want)
		}
		if !cell[3].Holds(evalOf(mask, nil)) {
			t.Errorf("mask %03b: an unconditional row does not hold", mask)
		}
	}
}

// TestMatchAgainstReference compares Match and MatchIn with a direct reading
// of the rule "first row (in the profile) whose conditions all hold" on
// random cells and guard values.
func TestMatchAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		rows := make([]rule, 1+rng.IntN(6))
		for i := range rows {
			rows[i].ID = uint16(i)
			rows[i].Profiles = uint8(rng.IntN(4))
			for range rng.IntN(4) {
				rows[i].Conds = append(rows[i].Conds, Cond[gd]{Guard: gd(rng.IntN(3)), Negate: rng.IntN(2) == 0})
			}
		}
		mask := uint8(rng.IntN(8))
		p := pf(rng.IntN(3))
		ref := func(inProfile bool) int {
			for i, r := range rows {
				if inProfile && r.Profiles&(1<<p) == 0 {
					continue
				}
				all := true
				for _, c := range r.Conds {
					if (mask>>c.Guard&1 != 0) != !c.Negate {
						all = false
					}
				}
				if all {
					return i
				}
			}
			return -1
		}
		idx := func(r *rule) int {
			if r == nil {
				return -1
			}
			return int(r.ID)
		}
		if got, want := idx(Match(rows, evalOf(mask, nil))), ref(false); got != want {
			t.Fatalf("trial %d: Match = %d, want %d (rows %v, mask %03b)", trial, got, want, rows, mask)
		}
		if got, want := idx(MatchIn(rows, p, evalOf(mask, nil))), ref(true); got != want {
			t.Fatalf("trial %d: MatchIn(%d) = %d, want %d (rows %v, mask %03b)", trial, p, got, want, rows, mask)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	var mask uint8
	eval := func(g gd) bool { return mask>>g&1 != 0 }
	allocs := testing.AllocsPerRun(100, func() {
		mask++
		if Match(cell, eval) == nil || MatchIn(cell, pf(mask&1), eval) == nil {
			t.Fatal("no row")
		}
	})
	if allocs != 0 {
		t.Errorf("Match/MatchIn allocate %.1f times per call pair", allocs)
	}
}

func TestRuleString(t *testing.T) {
	for _, tc := range []struct {
		r    *rule
		want string
	}{
		{&cell[0], "t.fsm:1 Idle/Go [A,!B] -> Idle do Blink drop Jam @ X:1 MUST-1 SHLD-2"},
		{&cell[1], "t.fsm:2 Idle/Go [C] -> Busy do Beep,Blink done @ X:2"},
		{&cell[3], "t.fsm:4 Idle/Go -> Busy continue @ X:4"},
		{&rule{State: 9, Event: 1, Next: 1, Outcome: 7, Reason: 1, Src: "s", Anchor: "a"}, "s st(9)/ev(1) -> Busy Outcome(7) @ a"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("String:\n got %q\nwant %q", got, tc.want)
		}
	}
}

func TestCondString(t *testing.T) {
	for i, want := range []string{"A,!B", "C", "C", ""} {
		if got := cell[i].CondString(); got != want {
			t.Errorf("row %d: CondString = %q, want %q", i, got, want)
		}
	}
	if got := (Cond[gd]{Guard: 5, Negate: true}).String(); got != "!gd(5)" {
		t.Errorf("Cond.String = %q", got)
	}
}

func TestNameParseOutcome(t *testing.T) {
	if st(1).String() != "Busy" || st(2).String() != "st(2)" || pf(255).String() != "pf(255)" {
		t.Error("Name")
	}
	for i, name := range pfNames {
		if p, ok := Parse[pf](pfNames, name); !ok || p != pf(i) {
			t.Errorf("Parse(%q) = %v, %v", name, p, ok)
		}
	}
	if p, ok := Parse[pf](pfNames, "Strict"); ok || p != 0 {
		t.Errorf("Parse of an unknown name = %v, %v", p, ok)
	}
	for o, want := range map[Outcome]string{OutContinue: "continue", OutDone: "done", OutDrop: "drop", OutImpossible: "impossible", 4: "Outcome(4)"} {
		if o.String() != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", uint8(o), o.String(), want)
		}
	}
}
