package tcp

import (
	"testing"
	"time"
)

// TestMinFilterWindow: the windowed minimum follows lower samples at once,
// keeps a low sample for the window, and lets it expire afterwards so a
// longer path's RTT takes over (RFC 8985 §6.2 step 1, RACK.min_RTT).
func TestMinFilterWindow(t *testing.T) {
	var m minFilter
	at := func(d time.Duration) int64 { return epoch.Add(d).UnixNano() }
	if got := m.update(at(0), 30*time.Millisecond); got != 30*time.Millisecond {
		t.Fatalf("first sample: %v", got)
	}
	if got := m.update(at(time.Second), 10*time.Millisecond); got != 10*time.Millisecond {
		t.Fatalf("lower sample: %v", got)
	}
	// The path gets longer: 50 ms samples for a while.
	for d := 2 * time.Second; d < minRTTWindow; d += 10 * time.Second {
		if got := m.update(at(d), 50*time.Millisecond); got != 10*time.Millisecond {
			t.Fatalf("at %v the minimum is %v, want 10 ms within the window", d, got)
		}
	}
	var got time.Duration
	for d := minRTTWindow; d < 2*minRTTWindow; d += 10 * time.Second {
		got = m.update(at(d), 50*time.Millisecond)
	}
	if got != 50*time.Millisecond {
		t.Fatalf("after the window the minimum is %v, want 50 ms", got)
	}
}
