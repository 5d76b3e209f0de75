package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/netspec/netspec/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden regenerates the fixture specs (door has profiles, lamp has none)
// and compares them with the committed golden Go files and diagrams
// (go test ./cmd/fsmgen -update rewrites them).
func TestGolden(t *testing.T) {
	for _, name := range []string{"door", "lamp"} {
		m, err := spec.Load("testdata/" + name + ".fsm")
		if err != nil {
			t.Fatal(err)
		}
		src, err := Generate(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []struct {
			path string
			got  []byte
		}{{"testdata/" + name + ".go.golden", src}, {"testdata/" + name + ".dot.golden", m.Dot()}} {
			if *update {
				if err := os.WriteFile(g.path, g.got, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(g.path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(g.got, want) {
				t.Errorf("%s differs from the generator's output (run go test ./cmd/fsmgen -update and review):\n%s", g.path, firstDiff(want, g.got))
			}
		}
	}
}

// TestDeterministic generates twice and expects identical bytes.
func TestDeterministic(t *testing.T) {
	for range 2 {
		m1, err := spec.Load("testdata/door.fsm")
		if err != nil {
			t.Fatal(err)
		}
		a, _ := Generate(m1)
		b, _ := Generate(m1)
		if !bytes.Equal(a, b) || !bytes.Equal(m1.Dot(), m1.Dot()) {
			t.Fatal("two generations of the same spec differ")
		}
	}
}

// TestGeneratedCompilesAndRuns builds the generated fixtures in a scratch
// module, with the runtime package they import, together with small tests that
// walk each table through PMatch and String.
func TestGeneratedCompilesAndRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	m, err := spec.Load("testdata/door.fsm")
	if err != nil {
		t.Fatal(err)
	}
	src, err := Generate(m)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The scratch module takes this module's path so that the generated import
	// of the runtime (RuntimeImport) resolves to a copy of fsm/fsmrt, offline.
	write("go.mod", "module github.com/netspec/netspec\n\ngo 1.26\n")
	rt, err := filepath.Glob(filepath.Join("..", "..", "fsm", "fsmrt", "*.go"))
	if err != nil || len(rt) == 0 {
		t.Fatalf("runtime sources: %v (%d files)", err, len(rt))
	}
	for _, f := range rt {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		write(filepath.Join("fsm", "fsmrt", filepath.Base(f)), string(b))
	}
	write("door/zdoor_gen.go", string(src))
	lm, err := spec.Load("testdata/lamp.fsm")
	if err != nil {
		t.Fatal(err)
	}
	lsrc, err := Generate(lm)
	if err != nil {
		t.Fatal(err)
	}
	write("lamp/zlamp_gen.go", string(lsrc))
	write("lamp/lamp_test.go", `package lamp

import "testing"

func TestWalk(t *testing.T) {
	held := map[LampGuard]bool{LampGPowered: true}
	eval := func(g LampGuard) bool { return held[g] }
	r := LampMatch(LampStateOff, LampEvPress, eval)
	if r == nil || r.Next != LampStateOn || r.ID != 0 || r.In(0) || r.Profiles != 0 {
		t.Fatalf("Off/Press powered: got %v", r)
	}
	if got, want := r.String(), "cmd/fsmgen/testdata/lamp.fsm:13 Off/Press [Powered,!Stuck] -> On do Light done @ LAMP:1 MUST-1"; got != want {
		t.Fatalf("String:\n got %q\nwant %q", got, want)
	}
	held[LampGStuck] = true
	if r := LampMatch(LampStateOff, LampEvPress, eval); r.Outcome != LampOutDrop || r.Reason != LampDropNoPower || !r.Holds(eval) {
		t.Fatalf("Off/Press stuck: got %v", r)
	}
	if r := LampMatch(LampStateOn, LampEvFail, eval); r.Outcome != LampOutContinue || r.Next != LampStateOff {
		t.Fatalf("On/Fail: got %v", r)
	}
	if LampMatch(LampStateOn, NumLampEvents, eval) != nil || LampMatch(NumLampStates, LampEvFail, eval) != nil {
		t.Fatal("out-of-range input matched")
	}
	if LampState(7).String() != "LampState(7)" || LampOutcome(LampOutDrop).String() != "drop" {
		t.Fatal("String of enums")
	}
}
`)
	write("door/door_test.go", `package door

import "testing"

func TestWalk(t *testing.T) {
	held := map[DoorGuard]bool{DoorGHasKey: true}
	eval := func(g DoorGuard) bool { return held[g] }
	r := DoorMatch(DoorStateClosed, DoorEvTurn, eval)
	if r == nil || r.Next != DoorStateLocked || r.ID != 3 {
		t.Fatalf("Closed/Turn with key: got %v", r)
	}
	if got, want := r.String(), "cmd/fsmgen/testdata/door.fsm:21 Closed/Turn [HasKey,!Jammed] -> Locked do Click done @ DOOR:2.1 MUST-2 SHOULD-3"; got != want {
		t.Fatalf("String:\n got %q\nwant %q", got, want)
	}
	held[DoorGJammed] = true
	if r := DoorMatch(DoorStateClosed, DoorEvTurn, eval); r.Reason != DoorDropNoKey || r.Outcome != DoorOutDrop {
		t.Fatalf("Closed/Turn jammed: got %v", r)
	}
	if DoorMatch(NumDoorStates, DoorEvTurn, eval) != nil {
		t.Fatal("out-of-range state matched")
	}
	for i := range DoorRules {
		if int(DoorRules[i].ID) != i {
			t.Fatalf("rule %d has ID %d", i, DoorRules[i].ID)
		}
	}
	if DoorReason(9).String() != "DoorReason(9)" || DoorDropStuck.String() != "Stuck" {
		t.Fatal("String of reasons")
	}
	// Profiles: the default is the first declared; tagged rows apply only in theirs.
	if DefaultDoorProfile != DoorProfileHome || NumDoorProfiles != 2 || DoorProfileStrict.String() != "strict" {
		t.Fatal("profile constants")
	}
	if p, ok := ParseDoorProfile("strict"); !ok || p != DoorProfileStrict {
		t.Fatal("ParseDoorProfile(strict)")
	}
	if _, ok := ParseDoorProfile("nope"); ok {
		t.Fatal("ParseDoorProfile accepted an unknown name")
	}
	home := DoorMatch(DoorStateLocked, DoorEvPush, eval)
	strict := DoorMatchProfile(DoorProfileStrict, DoorStateLocked, DoorEvPush, eval)
	if home == nil || len(home.Actions) != 0 || !home.In(DoorProfileHome) || home.In(DoorProfileStrict) {
		t.Fatalf("Locked/Push home: got %v", home)
	}
	if strict == nil || len(strict.Actions) != 1 || strict.In(DoorProfileHome) {
		t.Fatalf("Locked/Push strict: got %v", strict)
	}
	if r := DoorMatch(DoorStateOpen, DoorEvPush, eval); r.Next != DoorStateClosed {
		t.Fatalf("Open/Push jammed, home: got %v", r)
	}
	if r := DoorMatchProfile(DoorProfileStrict, DoorStateOpen, DoorEvPush, eval); r.Reason != DoorDropUseless {
		t.Fatalf("Open/Push jammed, strict: got %v", r)
	}
	if DoorMatchProfile(NumDoorProfiles, DoorStateOpen, DoorEvPush, eval) != nil {
		t.Fatal("out-of-range profile matched")
	}
}

// door is a DoorImpl: guards from a map, actions logged.
type door struct {
	held map[DoorGuard]bool
	log  *[]string
}

func (d door) GuardHasKey() bool { return d.held[DoorGHasKey] }
func (d door) GuardJammed() bool { return d.held[DoorGJammed] }
func (d door) ActCreak()         { *d.log = append(*d.log, "Creak") }
func (d door) ActClick()         { *d.log = append(*d.log, "Click") }

// TestMachine runs the table through fsmrt in each profile: the row of the
// profile fires, its actions run in order, the hooks and counters see it.
func TestMachine(t *testing.T) {
	for _, p := range []DoorProfile{DoorProfileHome, DoorProfileStrict} {
		m := NewDoorMachine[door](p)
		if err := m.Check(); err != nil {
			t.Fatal(err)
		}
		hits, drops := make([]uint64, len(DoorRules)), make([]uint64, NumDoorReasons)
		m.Count(hits, drops)
		var log, seen []string
		m.Hooks.Row = func(r *DoorRule) { seen = append(seen, r.Src) }
		r := m.Step(door{map[DoorGuard]bool{}, &log}, DoorStateLocked, DoorEvPush)
		want := DoorMatchProfile(p, DoorStateLocked, DoorEvPush, func(DoorGuard) bool { return false })
		if r != want || len(seen) != 1 || seen[0] != r.Src || hits[r.ID] != 1 || drops[DoorDropStuck] != 1 {
			t.Fatalf("%v: Locked/Push fired %v (want %v), rows %v, hits %d", p, r, want, seen, hits[r.ID])
		}
		if len(log) != len(r.Actions) {
			t.Fatalf("%v: actions %v for %v", p, log, r)
		}
	}
}
`)
	cmd := exec.Command(gobin, "test", "-count=1", "./door", "./lamp")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generated code does not pass its own test: %v\n%s", err, out)
	}
	// A hand-written side without the code of one action does not compile.
	write("lampbad/bad.go", `package lampbad

import "github.com/netspec/netspec/lamp"

type bulb struct{}

func (bulb) GuardPowered() bool { return true }
func (bulb) GuardStuck() bool   { return false }
func (bulb) ActLight()          {}

var _ = lamp.NewLampMachine[bulb]
`)
	cmd = exec.Command(gobin, "build", "./lampbad")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "missing method ActDim") {
		t.Fatalf("an implementation without ActDim: err %v, want a compile error naming it:\n%s", err, out)
	}
}

// TestRejectsBadSpec: the generator refuses a spec that fails Check.
func TestRejectsBadSpec(t *testing.T) {
	m, err := spec.Parse("bad.fsm", strings.NewReader("machine x\npackage x\nstates A B\nevents E\non A E if G -> B done @ X\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(m); err == nil {
		t.Fatal("Generate accepted a spec with problems")
	}
}

func firstDiff(a, b []byte) string {
	al := strings.Split(string(a), "\n")
	bl := strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n- " + x + "\n+ " + y
		}
	}
	return "(no line differs)"
}
