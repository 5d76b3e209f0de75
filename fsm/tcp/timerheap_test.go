package tcp

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestTimerHeapMatchesScan drives the heap with random deadline changes and
// removals and compares its minimum with a scan of every connection.
func TestTimerHeapMatchesScan(t *testing.T) {
	l := &Layer{}
	rng := rand.New(rand.NewPCG(3, 4))
	conns := make([]*Conn, 200)
	for i := range conns {
		conns[i] = &Conn{l: l, idx: int32(i), hidx: -1}
	}
	at := func() tick {
		if rng.IntN(4) == 0 {
			return 0
		}
		return tick(1 + time.Duration(rng.IntN(10000))*time.Millisecond)
	}
	for step := 0; step < 20000; step++ {
		c := conns[rng.IntN(len(conns))]
		if rng.IntN(10) == 0 {
			l.timers.remove(c)
			c.snd.rtxAt, c.twAt, c.rcv.delackAt, c.ka = 0, 0, 0, nil
		} else {
			c.snd.rtxAt, c.rcv.delackAt = at(), at()
			l.schedule(c)
		}
		var want tick
		for _, c := range conns {
			if d := c.earliest(); !d.IsZero() && (want.IsZero() || d.Before(want)) {
				want = d
			}
		}
		got := tick(0)
		if len(l.timers) > 0 {
			got = l.timers[0].due
		}
		if !got.Equal(want) {
			t.Fatalf("step %d: heap minimum %v, scan %v", step, got, want)
		}
	}
}
