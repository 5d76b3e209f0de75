package netspec

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netspec/netspec/fsm/stack"
)

// traceWatchers are the parts of the stacks' tracers: each loop's from
// Options (bases, set by traceTo before the loops start; empty when
// Options asks for none) and the functions WatchTrace added since.
//
// With several loops each stack numbers its frames from 1 (its FramesIn),
// so the loops' trace lines would interleave #1, #1, #2, #2: the tracers
// number them again from one counter shared by the loops (frames), in the
// order they were traced, so that a number names one frame.
type traceWatchers struct {
	mu      sync.Mutex // held by WatchTrace and stop while they install
	bases   []func(*stack.Trace)
	fns     map[uint64]func(*stack.Trace)
	next    uint64
	several bool          // more than one loop: renumber (set before the loops start)
	frames  atomic.Uint64 // the last number given, with several loops
}

// tracer returns loop i's tracer: its base followed by every watcher, or
// nil when there is neither, so that a stack nobody watches pays nothing
// for tracing (fsm/stack SetTracer). It runs under mu.
func (w *traceWatchers) tracer(i int) func(*stack.Trace) {
	fn := w.compose(i)
	if fn == nil || !w.several {
		return fn
	}
	return func(t *stack.Trace) {
		t.ID = w.frames.Add(1)
		fn(t)
	}
}

// compose returns loop i's base followed by every watcher, or nil.
func (w *traceWatchers) compose(i int) func(*stack.Trace) {
	var base func(*stack.Trace)
	if i < len(w.bases) {
		base = w.bases[i]
	}
	if len(w.fns) == 0 {
		return base
	}
	fns := make([]func(*stack.Trace), 0, len(w.fns))
	for _, fn := range w.fns {
		fns = append(fns, fn)
	}
	return func(t *stack.Trace) {
		if base != nil {
			base(t)
		}
		for _, fn := range fns {
			fn(t)
		}
	}
}

// installTracers gives every loop's stack its tracer; it runs under
// s.watch.mu.
func (s *Stack) installTracers() error {
	for i, sh := range s.shards {
		fn := s.watch.tracer(i)
		if err := sh.loop.Do(func(_ time.Time, st *stack.Stack) { st.SetTracer(fn) }); err != nil {
			return err
		}
	}
	return nil
}

// WatchTrace calls fn inside the event loop with every received frame's
// journey (as Options.Tracer, with the same rules: the record is valid only
// during the call, fn must not block nor call the Stack; with several loops
// it is called by one at a time) until stop is called. The stack's tracer
// is installed only while something watches: a stack with no
// Options.Trace, Tracer or Pcap traces nothing once every watcher stopped.
// stop is idempotent. WatchTrace fails once the stack has stopped, which
// ends every watch.
func (s *Stack) WatchTrace(fn func(t *stack.Trace)) (stop func(), err error) {
	if len(s.shards) > 1 {
		var mu sync.Mutex
		one := fn
		fn = func(t *stack.Trace) {
			mu.Lock()
			defer mu.Unlock()
			one(t)
		}
	}
	w := &s.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fns == nil {
		w.fns = make(map[uint64]func(*stack.Trace))
	}
	w.next++
	id := w.next
	w.fns[id] = fn
	if err := s.installTracers(); err != nil {
		delete(w.fns, id)
		s.installTracers() // the loops that took it already: the stack stopped, if any run
		return nil, fmt.Errorf("netspec: watch trace: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			delete(w.fns, id)
			s.installTracers() // fails only once the loops are gone
		})
	}, nil
}
