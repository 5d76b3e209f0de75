package netspec_test

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/stack"
)

// TestTraceNumbersAcrossLoops: with several loops each loop's stack counts
// its own frames from 1, yet every traced frame gets its own number: the
// loops' frames are numbered from one counter, 1 to N, none twice.
func TestTraceNumbersAcrossLoops(t *testing.T) {
	const perLoop = 5
	a0, b0 := pipe.New(pipe.Config{})
	a1, b1 := pipe.New(pipe.Config{})
	defer b0.Close()
	defer b1.Close()
	var mu sync.Mutex
	var ids []uint64
	opts := &netspec.Options{Tracer: func(tr *stack.Trace) {
		mu.Lock()
		ids = append(ids, tr.ID)
		mu.Unlock()
	}}
	links := &netspec.Links{Each: []driver.Link{a0, a1}, Shard: func(a, b uint16) int { return int(a^b) & 1 }}
	st, err := netspec.NewLinks(links, netip.MustParsePrefix("198.18.0.1/24"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A broadcast frame of an EtherType nobody speaks: each is traced (and
	// dropped) by the loop whose link it arrived on.
	frame := make([]byte, 60)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 9, 0x88, 0xb5})
	for range perLoop {
		for _, b := range []*pipe.End{b0, b1} {
			if err := b.WriteBatch([][]byte{frame}, make([]driver.TxMeta, 1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for end := time.Now().Add(guard); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(ids)
		mu.Unlock()
		if n == 2*perLoop {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%d frames traced, want %d", n, 2*perLoop)
		}
	}
	for i := range st.Loops() {
		if got := st.LoopCounters(i)["stack.FramesIn"]; got != perLoop {
			t.Errorf("loop %d took %d frames, want %d", i, got, perLoop)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(ids)
	for i, id := range ids {
		if id != uint64(i+1) {
			t.Fatalf("trace numbers %v, want 1..%d each once", ids, 2*perLoop)
		}
	}
}
