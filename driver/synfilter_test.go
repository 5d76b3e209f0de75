package driver

import (
	"errors"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/stack"
)

// guardEngine is a fakeEngine that asks for a SYN filter (the stack's
// SynFilterUpdate, SynFilterInstalled) and records what it was told.
type guardEngine struct {
	fakeEngine
	want      *stack.SynFilter
	changed   bool
	installed []bool
}

func (e *guardEngine) SynFilterUpdate() (*stack.SynFilter, bool) {
	ch := e.changed
	e.changed = false
	return e.want, ch
}

func (e *guardEngine) SynFilterInstalled(f *stack.SynFilter, ok bool) {
	e.installed = append(e.installed, ok)
}

// filterLink is a fakeLink with a SYN filter mechanism that records the
// filters set, failing while fail is set.
type filterLink struct {
	*fakeLink
	set  []*stack.SynFilter
	fail bool
}

func (f *filterLink) SetSynFilter(fl *stack.SynFilter) error {
	if f.fail {
		return errors.New("no filter here")
	}
	f.set = append(f.set, fl)
	return nil
}

// wrapped is a Wrapper around a link, as a capture or fault injector is.
type wrapped struct{ Link }

func (w wrapped) Unwrap() Link { return w.Link }

// TestLoopInstallsSynFilter: after a call in which the stack's wanted SYN
// filter changed, the loop sets it on the first link of its chain that has
// the mechanism (here under a wrapper) and tells the stack the outcome;
// with no change it does nothing; a link that fails is reported as such.
func TestLoopInstallsSynFilter(t *testing.T) {
	fl := &filterLink{fakeLink: newFakeLink()}
	eng := &guardEngine{}
	l := newLoop(wrapped{fl}, nil, eng, LoopOptions{})
	do := func(fn func()) {
		t.Helper()
		if err := l.Do(func(time.Time, *stack.Stack) { fn() }); err != nil {
			t.Fatal(err)
		}
	}
	f := &stack.SynFilter{Ports: []uint16{80}, AdmitOnLink: stack.AdmitAll}
	do(func() { eng.want, eng.changed = f, true })
	do(func() {}) // nothing changed: nothing set
	do(func() { eng.want, eng.changed = nil, true })
	fl.fail = true
	do(func() { eng.want, eng.changed = f, true })
	if len(fl.set) != 2 || fl.set[0] != f || fl.set[1] != nil {
		t.Fatalf("filters set %v: want f then nil", fl.set)
	}
	if want := []bool{true, true, false}; len(eng.installed) != 3 || eng.installed[0] != want[0] || eng.installed[1] != want[1] || eng.installed[2] != want[2] {
		t.Fatalf("stack told %v, want %v", eng.installed, want)
	}
	// A link with no mechanism: the stack is told it failed.
	eng2 := &guardEngine{want: f, changed: true}
	l2 := newLoop(newFakeLink(), nil, eng2, LoopOptions{})
	if err := l2.Do(func(time.Time, *stack.Stack) {}); err != nil {
		t.Fatal(err)
	}
	if len(eng2.installed) != 1 || eng2.installed[0] {
		t.Fatalf("stack told %v with a link without a filter, want [false]", eng2.installed)
	}
	l.Close()
	l2.Close()
}
