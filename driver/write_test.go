package driver

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/stack"
)

// TestLoopCallsWhileWritingShareABatch: the frames of calls made while the
// writer is busy (one response each, on a busy keep-alive loop) leave in
// one WriteBatch, in production order, instead of one WriteBatch per call.
// (Not in a synctest bubble, as TestLoopWritesOutsideTheMutex.)
func TestLoopCallsWhileWritingShareABatch(t *testing.T) {
	eng := &fakeEngine{}
	g := &gatedLink{fakeLink: newFakeLink(), gate: make(chan struct{})}
	loop := newLoop(g, nil, eng, LoopOptions{Batch: 8})
	t.Cleanup(func() { loop.Close() })
	gateOpen := false
	t.Cleanup(func() {
		if !gateOpen {
			close(g.gate)
		}
	})
	emit := func(b byte) func(time.Time, *stack.Stack) {
		return func(time.Time, *stack.Stack) { eng.out = append(eng.out, []byte{b}) }
	}
	writerDone := make(chan error, 1)
	go func() { writerDone <- loop.Do(emit(1)) }()
	// The writer is blocked in WriteBatch once the next call finds the role
	// held: that call returns at once.
	for {
		loop.mu.Lock()
		busy := loop.writing
		loop.mu.Unlock()
		if busy {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for b := byte(2); b <= 6; b++ {
		if err := loop.Do(emit(b)); err != nil {
			t.Fatal(err)
		}
	}
	close(g.gate)
	gateOpen = true
	select {
	case err := <-writerDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the writer")
	}
	sent, batches := g.sent()
	if len(sent) != 6 || batches != 2 {
		t.Fatalf("%d frames in %d WriteBatch calls, want 6 in 2 (the writer's, then the five calls' together)", len(sent), batches)
	}
	for i, f := range sent {
		if f[0] != byte(i+1) {
			t.Fatalf("frame %d carries %d: production order lost", i, f[0])
		}
	}
}
