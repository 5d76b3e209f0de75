package main

import (
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/netspec/netspec/driver/progress"
)

// runProgress is the run's status line (driver/progress: on a terminal
// only): the step count, the time so far, an estimate of the time left and
// the step under way.
type runProgress struct {
	m           *progress.Meter
	total, done int
	began       time.Time
	what        string
}

func newProgress() *runProgress { return &runProgress{m: progress.New(os.Stderr)} }

func (p *runProgress) start(total int) { p.total, p.began = total, time.Now() }

func (p *runProgress) set(what string) {
	p.what = what
	p.show()
}

func (p *runProgress) step()      { p.done++ }
func (p *runProgress) skip(n int) { p.done += n }

func (p *runProgress) show() {
	el := time.Since(p.began).Round(time.Second)
	left := "?"
	if p.done > 0 {
		left = (el * time.Duration(p.total-p.done) / time.Duration(p.done)).Round(time.Second).String()
	}
	p.m.Update("[%d/%d %v, ~%s left] %s", p.done, p.total, el, left, p.what)
}

// println prints a line above the status line.
func (p *runProgress) println(s string) {
	p.m.Clear()
	fmt.Fprintln(os.Stderr, s)
	p.show()
}

func (p *runProgress) finish() {
	p.m.Clear()
	fmt.Fprintf(os.Stderr, "benchrun: %d steps in %v\n", p.done, time.Since(p.began).Round(time.Second))
}

func numCPU() int { return runtime.NumCPU() }
