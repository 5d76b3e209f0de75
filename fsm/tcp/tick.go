package tcp

import "time"

// tick is a point in time kept in a connection: nanoseconds from its
// layer's epoch, 8 octets where a time.Time takes 24. A Conn keeps a dozen
// deadlines and timestamps, and an idle connection costs its Conn alone
// (bufpool.go), so they are ticks; the layer converts at its edges (tick,
// time). The zero tick is "not set", as the zero time.Time is. The epoch
// is the first time the layer is given, an hour back, and keeps its
// monotonic reading: ticks compare as the times they came from.
type tick int64

// tick converts t to the layer's ticks (the zero time to the zero tick).
func (l *Layer) tick(t time.Time) tick {
	if t.IsZero() {
		return 0
	}
	if l.epoch.IsZero() {
		l.epoch = t.Add(-time.Hour)
	}
	if k := tick(t.Sub(l.epoch)); k != 0 {
		return k
	}
	return 1 // the epoch itself: a nanosecond later, never "not set"
}

// time converts a tick back to a time.Time (the zero tick to the zero time).
func (l *Layer) time(k tick) time.Time {
	if k == 0 {
		return time.Time{}
	}
	return l.epoch.Add(time.Duration(k))
}

// IsZero reports whether k is not set.
func (k tick) IsZero() bool { return k == 0 }

// Add returns k+d.
func (k tick) Add(d time.Duration) tick { return k + tick(d) }

// Sub returns the duration k-u.
func (k tick) Sub(u tick) time.Duration { return time.Duration(k - u) }

// Before reports whether k is before u.
func (k tick) Before(u tick) bool { return k < u }

// After reports whether k is after u.
func (k tick) After(u tick) bool { return k > u }

// Equal reports whether k and u are the same instant.
func (k tick) Equal(u tick) bool { return k == u }
