package netspec_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/fsm/stack"
)

// lines collects trace lines; its add is a tracer.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (ls *lines) add(t *stack.Trace) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.l = append(ls.l, string(t.AppendLine(nil)))
}

func (ls *lines) take() []string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.l
	ls.l = nil
	return l
}

// TestWatchTrace: a watcher sees every frame received while it watches,
// beside the tracer of Options (which keeps running after the watcher
// stopped), and nothing once it stopped; two watchers both see the frames;
// stop is idempotent, and WatchTrace fails once the stack closed.
func TestWatchTrace(t *testing.T) {
	var base lines
	a, b := pair(t, &netspec.PipeConfig{BOptions: &netspec.Options{Tracer: base.add}})
	ln, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var w1, w2 lines
	stop1, err := b.WatchTrace(w1.add)
	if err != nil {
		t.Fatal(err)
	}
	stop2, err := b.WatchTrace(w2.add)
	if err != nil {
		t.Fatal(err)
	}
	echoRound(t, a, ln, "ping")
	stop1()
	stop1()
	stop2()
	l1, l2, lb := w1.take(), w2.take(), base.take()
	if !strings.Contains(strings.Join(l1, "\n"), ">:7 SYN LISTEN") {
		t.Fatalf("watcher saw %q, want the echo connection from its SYN", l1)
	}
	if strings.Join(l1, "\n") != strings.Join(l2, "\n") || strings.Join(l1, "\n") != strings.Join(lb[len(lb)-len(l1):], "\n") {
		t.Errorf("watchers and Options.Tracer saw different frames:\n%q\n%q\n%q", l1, l2, lb)
	}

	echoRound(t, a, ln, "pong")
	if l := w1.take(); len(l) != 0 {
		t.Errorf("stopped watcher still saw %d frames: %q", len(l), l)
	}
	if len(base.take()) == 0 {
		t.Error("Options.Tracer saw nothing once the watchers stopped")
	}
	b.Close()
	if _, err := b.WatchTrace(w1.add); err == nil {
		t.Error("WatchTrace on a closed stack: no error")
	}
}

// TestWatchTraceAlone: on a stack without a tracer of its own, a watcher
// still sees the frames, and after stop none reaches it.
func TestWatchTraceAlone(t *testing.T) {
	a, b := pair(t, nil)
	ln, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var w lines
	stop, err := b.WatchTrace(w.add)
	if err != nil {
		t.Fatal(err)
	}
	echoRound(t, a, ln, "ping")
	stop()
	if l := w.take(); len(l) < 3 {
		t.Fatalf("watcher saw %q, want the echo connection", l)
	}
	echoRound(t, a, ln, "ping")
	if l := w.take(); len(l) != 0 {
		t.Errorf("stopped watcher saw %q", l)
	}
}
