package driver

import (
	"bytes"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netspec/netspec/fsm/stack"
)

// drained lets the bubble's clock run to the hand-in wake-up (a timer of
// zero, which fires only once every goroutine waits) and waits for its drain.
func drained() {
	time.Sleep(time.Millisecond)
	synctest.Wait()
}

// TestLoopHandInFeedsStackInOrder: datagrams handed in from another
// goroutine reach the engine's InputDatagram in the order they came, on
// the loop's own wake-up (no frame read, no call), and what the engine
// sends then is written.
func TestLoopHandInFeedsStackInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{echo: true}, LoopOptions{})
		for i := range 3 {
			if !h.loop.HandIn([]byte{byte(i)}, []byte{0xbb}) {
				t.Fatalf("HandIn %d refused", i)
			}
		}
		drained()
		if len(h.eng.dgrams) != 3 || len(h.eng.inputs) != 0 {
			t.Fatalf("engine took %d datagrams and %d frames, want 3 and 0", len(h.eng.dgrams), len(h.eng.inputs))
		}
		for i, d := range h.eng.dgrams {
			if !bytes.Equal(d, []byte{byte(i), 0xbb}) {
				t.Errorf("datagram %d = %x", i, d)
			}
		}
		if sent, _ := h.link.sent(); len(sent) != 3 {
			t.Fatalf("wrote %d frames, want the 3 answers", len(sent))
		}
		if st := h.loop.Stats(); st.HandIns != 3 || st.HandInDrops != 0 {
			t.Fatalf("HandIns %d, HandInDrops %d", st.HandIns, st.HandInDrops)
		}
	})
}

// TestLoopHandInBounded: while the loop is busy (its mutex held), the
// queue takes MaxHandIn datagrams and at most MaxHandInBytes octets; the
// rest are refused at once and counted, never waited for; the queued ones
// are all taken once the loop is free; after Close every HandIn is refused.
func TestLoopHandInBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{}, LoopOptions{})
		accepted := 0
		h.with(func(time.Time, *fakeEngine) {
			if h.loop.HandIn(make([]byte, 20), make([]byte, MaxHandInBytes-19)) {
				t.Error("a datagram larger than the byte bound was queued")
			}
			for i := range MaxHandIn + 10 {
				if h.loop.HandIn([]byte{byte(i)}, nil) {
					accepted++
				}
			}
		})
		drained()
		if accepted != MaxHandIn || len(h.eng.dgrams) != MaxHandIn {
			t.Fatalf("queued %d, engine took %d: want %d", accepted, len(h.eng.dgrams), MaxHandIn)
		}
		if st := h.loop.Stats(); st.HandIns != MaxHandIn || st.HandInDrops != 11 {
			t.Fatalf("HandIns %d, HandInDrops %d: want %d, 11", st.HandIns, st.HandInDrops, MaxHandIn)
		}
		h.loop.Close()
		if h.loop.HandIn([]byte{1}, nil) {
			t.Fatal("HandIn after Close queued")
		}
		if st := h.loop.Stats(); st.HandInDrops != 12 {
			t.Fatalf("HandInDrops %d after Close, want 12", st.HandInDrops)
		}
	})
}

// TestLoopHandInWithoutDatagramEngine: an engine that takes no datagram
// refuses every hand-in (counted), so nothing waits for a drain that
// cannot happen.
func TestLoopHandInWithoutDatagramEngine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoop(newFakeLink(), nil, noDatagrams{&fakeEngine{}}, LoopOptions{})
		defer l.Close()
		if l.HandIn([]byte{1}, nil) {
			t.Fatal("HandIn queued for an engine without InputDatagram")
		}
		if st := l.Stats(); st.HandInDrops != 1 {
			t.Fatalf("HandInDrops %d", st.HandInDrops)
		}
	})
}

// noDatagrams hides fakeEngine's InputDatagram.
type noDatagrams struct{ e *fakeEngine }

func (n noDatagrams) Input(now time.Time, f []byte, m RxMeta)      { n.e.Input(now, f, m) }
func (n noDatagrams) Poll(now time.Time)                           { n.e.Poll(now) }
func (n noDatagrams) NextDeadline() time.Time                      { return n.e.NextDeadline() }
func (n noDatagrams) Output(emit func([]byte, TxMeta)) int         { return n.e.Output(emit) }
func (n noDatagrams) Ready(fn func(stack.FD, stack.Readiness)) int { return n.e.Ready(fn) }

// TestLoopHandInReusesBuffers: the buffers of drained datagrams are kept
// and copied into again, so a steady hand-off of datagrams of similar
// sizes allocates no new buffer.
func TestLoopHandInReusesBuffers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startLoop(t, &fakeEngine{}, LoopOptions{})
		var first []*byte
		for round := range 3 {
			var bufs []*byte
			h.with(func(time.Time, *fakeEngine) {
				for i := range 4 {
					if !h.loop.HandIn(make([]byte, 20), make([]byte, 980+i)) {
						t.Fatal("HandIn refused")
					}
				}
				for _, d := range h.loop.hin.q {
					bufs = append(bufs, &d[:1][0])
				}
			})
			drained()
			if round == 0 {
				first = bufs
				continue
			}
			for _, b := range bufs {
				if !slices.Contains(first, b) {
					t.Fatalf("round %d copied into a new buffer", round)
				}
			}
		}
		if st := h.loop.Stats(); st.HandIns != 12 || len(h.eng.dgrams) != 12 {
			t.Fatalf("HandIns %d, engine took %d", st.HandIns, len(h.eng.dgrams))
		}
	})
}
