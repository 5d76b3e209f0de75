package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

// progress shows one line on a terminal (rewritten in place) with the step
// count, the time so far and an estimate of the time left; without a
// terminal it prints each step on its own line.
type progress struct {
	tty         bool
	total, done int
	began       time.Time
	what        string
}

func newProgress() *progress {
	st, err := os.Stderr.Stat()
	return &progress{tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

func (p *progress) start(total int) { p.total, p.began = total, time.Now() }

func (p *progress) set(what string) {
	p.what = what
	p.show()
}

func (p *progress) step()      { p.done++ }
func (p *progress) skip(n int) { p.done += n }

func (p *progress) show() {
	el := time.Since(p.began).Round(time.Second)
	left := "?"
	if p.done > 0 {
		left = (el * time.Duration(p.total-p.done) / time.Duration(p.done)).Round(time.Second).String()
	}
	line := fmt.Sprintf("[%d/%d %v, ~%s left] %s", p.done, p.total, el, left, p.what)
	if p.tty {
		fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(os.Stderr, line)
	}
}

// println prints a line above the progress line.
func (p *progress) println(s string) {
	if p.tty {
		fmt.Fprintf(os.Stderr, "\r\033[K%s\n", s)
		p.show()
	} else {
		fmt.Fprintln(os.Stderr, s)
	}
}

func (p *progress) finish() {
	if p.tty {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	fmt.Fprintf(os.Stderr, "benchrun: %d steps in %v\n", p.done, time.Since(p.began).Round(time.Second))
}

func numCPU() int { return runtime.NumCPU() }
