package tcp

import (
	"testing"
	"time"
)

// TestOOWAckIntervalDefaultByProfile: the out-of-window ACK rate limit is on
// by default (500 ms, Linux's tcp_invalid_ratelimit) in the linux profile and
// off in rfc9293 unless set; a negative value turns it off in either.
func TestOOWAckIntervalDefaultByProfile(t *testing.T) {
	for _, tc := range []struct {
		p    Profile
		set  time.Duration
		want time.Duration
	}{
		{ProfileLinux, 0, 500 * time.Millisecond},
		{ProfileRfc9293, 0, 0},
		{ProfileLinux, -1, -1},
		{ProfileRfc9293, 200 * time.Millisecond, 200 * time.Millisecond},
		{ProfileLinux, 100 * time.Millisecond, 100 * time.Millisecond},
	} {
		got := Config{Profile: tc.p, OOWAckInterval: tc.set}.withDefaults().OOWAckInterval
		if got != tc.want {
			t.Errorf("profile %s, OOWAckInterval %v: got %v, want %v", tc.p, tc.set, got, tc.want)
		}
	}
}
