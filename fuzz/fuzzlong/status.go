package main

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	"github.com/netspec/netspec/driver/progress"
)

// fuzzLine is go test -fuzz's periodic report (Go 1.26):
// "fuzz: elapsed: 9s, execs: 51234 (5688/sec), new interesting: 3 (total: 80)".
var fuzzLine = regexp.MustCompile(`^fuzz: elapsed: (\S+), execs: (\d+) \((\d+)/sec\), new interesting: (\d+) \(total: (\d+)\)`)

// status passes one target's go test output on to out: on a terminal the
// periodic fuzz reports become one status line (the target, its turn and
// the run's time, execs and their rate, new inputs) and every other line is
// printed as it comes; off a terminal everything is passed through, so a log
// keeps go test's own lines.
type status struct {
	out      io.Writer
	meter    *progress.Meter
	label    string    // "[3/13] fsm/tcp FuzzX"
	turn     time.Time // when this target's turn began
	ft       time.Duration
	deadline time.Time // the end of the whole run
	partial  []byte    // an unfinished line
}

// Write splits p into lines and shows each.
func (s *status) Write(p []byte) (int, error) {
	if !s.meter.On() {
		return s.out.Write(p)
	}
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.line(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
	return len(p), nil
}

func (s *status) line(l string) {
	m := fuzzLine.FindStringSubmatch(l)
	if m == nil {
		s.meter.Clear()
		fmt.Fprintln(s.out, l)
		return
	}
	execs, _ := strconv.ParseFloat(m[2], 64)
	rate, _ := strconv.ParseFloat(m[3], 64)
	s.meter.Update("%s  %s of %s  execs %s (%s/s)  new %s, corpus %s  run ends in %s",
		s.label, time.Since(s.turn).Round(time.Second), s.ft.Round(time.Second),
		progress.Count(execs), progress.Count(rate), m[4], m[5],
		time.Until(s.deadline).Round(time.Second))
}

// Close shows what is left of an unfinished line and clears the status line.
func (s *status) Close() {
	if s.meter.On() && len(s.partial) > 0 {
		s.line(string(s.partial))
		s.partial = nil
	}
	s.meter.Clear()
}
