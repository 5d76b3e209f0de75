package tcp

import "time"

// minRTTWindow is how long an RTT sample may stay the minimum: the path's
// propagation delay is assumed to hold that long (Linux's
// tcp_min_rtt_wlen, 300 s). RACK's reordering window is a fraction of it
// (RFC 8985 §6.2 step 4).
const minRTTWindow = 300 * time.Second

// minFilter is a windowed minimum (Kathleen Nichols' algorithm, as in
// Linux's lib/win_minmax.c): the best, second-best and third-best samples
// of the window, so that the minimum expires when the path changes instead
// of holding the lowest RTT ever seen. Times are Unix nanoseconds.
type minFilter struct {
	s [3]minSample
}

type minSample struct {
	t int64
	v time.Duration
}

// get returns the windowed minimum (0 before any sample).
func (m *minFilter) get() time.Duration { return m.s[0].v }

// update adds sample v taken at t and returns the new minimum.
func (m *minFilter) update(t int64, v time.Duration) time.Duration {
	x := minSample{t, v}
	win := int64(minRTTWindow)
	if m.s[0].t == 0 || v <= m.s[0].v || t-m.s[2].t > win {
		m.s = [3]minSample{x, x, x} // a new minimum, or nothing in the window
		return v
	}
	switch {
	case v <= m.s[1].v:
		m.s[1], m.s[2] = x, x
	case v <= m.s[2].v:
		m.s[2] = x
	}
	// Age the best samples out as the window passes them.
	dt := t - m.s[0].t
	switch {
	case dt > win:
		m.s[0], m.s[1], m.s[2] = m.s[1], m.s[2], x
		if t-m.s[0].t > win {
			m.s[0], m.s[1], m.s[2] = m.s[1], m.s[2], x
		}
	case m.s[1].t == m.s[0].t && dt > win/4:
		m.s[1], m.s[2] = x, x
	case m.s[2].t == m.s[1].t && dt > win/2:
		m.s[2] = x
	}
	return m.s[0].v
}
