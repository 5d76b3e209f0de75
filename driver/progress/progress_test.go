package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMeterOffWhenNotATerminal: a file or a buffer is not a terminal, so
// the meter draws nothing at all.
func TestMeterOffWhenNotATerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	for _, m := range []*Meter{New(f), New(&buf)} {
		if m.On() {
			t.Fatal("meter on for a non-terminal")
		}
		m.Update("states %d", 5)
		m.Clear()
	}
	if fi, _ := f.Stat(); fi.Size() != 0 || buf.Len() != 0 {
		t.Errorf("wrote %d bytes to a file, %d to a buffer", fi.Size(), buf.Len())
	}
}

// TestMeterThrottlesAndClears: on, the meter redraws in place at most once
// per interval, and Clear erases the line so that the next Update draws at
// once.
func TestMeterThrottlesAndClears(t *testing.T) {
	var buf bytes.Buffer
	m := NewOn(&buf, true)
	now := time.Unix(0, 0)
	m.now = func() time.Time { return now }
	m.Update("a %d", 1)
	m.Update("b %d", 2) // too soon
	now = now.Add(DefaultInterval)
	m.Update("c\n%d", 3)
	m.Clear()
	m.Update("d")
	want := "\r\x1b[Ka 1" + "\r\x1b[Kc 3" + "\r\x1b[K" + "\r\x1b[Kd"
	if got := buf.String(); got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
	if strings.Contains(buf.String(), "b 2") {
		t.Error("an update inside the interval was drawn")
	}
}

// TestEstimates: rate, remaining time and compact counts.
func TestEstimates(t *testing.T) {
	if r := Rate(500, 2*time.Second); r != 250 {
		t.Errorf("Rate = %v", r)
	}
	if d := Remaining(25, 100, 10*time.Second); d != 30*time.Second {
		t.Errorf("Remaining = %v, want 30s", d)
	}
	if d := Remaining(0, 100, time.Second); d != 0 {
		t.Errorf("Remaining with nothing done = %v", d)
	}
	for n, want := range map[float64]string{950: "950", 12345: "12.3k", 4560000: "4.56M", 2e9: "2G"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%v) = %q, want %q", n, got, want)
		}
	}
}
