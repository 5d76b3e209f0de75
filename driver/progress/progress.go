// Package progress shows how a long run is going (netspec check's model
// search, fuzz/fuzzlong's rotation, fuzz/mutate's mutants) as one status
// line redrawn in place on a terminal, and stays silent when the output is
// not a terminal (a pipe, a file, CI), so logs hold only the results.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// DefaultInterval is how often a Meter redraws at most.
const DefaultInterval = 250 * time.Millisecond

// Meter is a status line on a terminal. Its methods are safe for concurrent
// use; on a Meter that is off (not a terminal) they do nothing.
type Meter struct {
	mu       sync.Mutex
	w        io.Writer // nil: off
	interval time.Duration
	last     time.Time // when the line was last drawn
	shown    bool      // a line is on screen
	now      func() time.Time
}

// New returns a meter on w, on only when w is an *os.File that is a
// terminal (golang.org/x/term.IsTerminal).
func New(w io.Writer) *Meter {
	f, ok := w.(*os.File)
	return NewOn(w, ok && term.IsTerminal(int(f.Fd())))
}

// NewOn returns a meter on w that is on or off as told (tests, and a
// --progress flag that overrides the terminal check).
func NewOn(w io.Writer, on bool) *Meter {
	m := &Meter{interval: DefaultInterval, now: time.Now}
	if on {
		m.w = w
	}
	return m
}

// On reports whether the meter draws anything.
func (m *Meter) On() bool { return m != nil && m.w != nil }

// Update redraws the status line with the formatted text, unless it was
// drawn less than the interval ago. The text should fit one line.
func (m *Meter) Update(format string, a ...any) {
	if !m.On() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.shown && now.Sub(m.last) < m.interval {
		return
	}
	m.last, m.shown = now, true
	line := strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", " ")
	fmt.Fprintf(m.w, "\r\x1b[K%s", line)
}

// Clear erases the status line, so that ordinary output can follow; the
// next Update draws a new one at once.
func (m *Meter) Clear() {
	if !m.On() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shown {
		fmt.Fprint(m.w, "\r\x1b[K")
		m.shown = false
	}
}

// Rate returns n per second over elapsed (0 before any time passed).
func Rate(n float64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return n / elapsed.Seconds()
}

// Remaining estimates the time left when done of total units took elapsed,
// at the same pace; it is 0 when nothing is done yet or all is done.
func Remaining(done, total float64, elapsed time.Duration) time.Duration {
	if done <= 0 || done >= total {
		return 0
	}
	return time.Duration(float64(elapsed) * (total - done) / done)
}

// Count formats n compactly: 950, 12.3k, 4.56M.
func Count(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.3gG", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.3gM", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.3gk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}
