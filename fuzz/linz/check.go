package linz

import (
	"context"
	"fmt"
	"github.com/netspec/netspec/driver/history"
	"io"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Result is the verdict of a check.
type Result int

// Verdicts. Unknown (the check ran out of time) is never a pass.
const (
	Ok Result = iota
	Illegal
	Unknown
)

// String returns the verdict's name.
func (r Result) String() string {
	switch r {
	case Ok:
		return "linearizable"
	case Illegal:
		return "not linearizable"
	}
	return "inconclusive"
}

// Partition is the verdict on one connection.
type Partition struct {
	Conn   string
	Ops    int
	Result Result
}

// Report is the outcome of Check.
type Report struct {
	Result   Result
	Ops      int         // operations checked
	Conns    int         // connections (partitions)
	Unkeyed  int         // failed dials and accepts that named no connection (trivially legal)
	Illegal  []Partition // failing partitions, smallest first
	Unknown  []Partition // partitions the check did not finish
	Observed []string    // hosts whose ends the history records
	Elapsed  time.Duration
}

// Smallest returns the smallest failing partition's connection id ("" if none).
func (r *Report) Smallest() string {
	if len(r.Illegal) == 0 {
		return ""
	}
	return r.Illegal[0].Conn
}

// parseConn splits a Conn id "DIALER>LISTENER#K".
func parseConn(id string) (dialer, listener netip.AddrPort, err error) {
	tuple, _, _ := strings.Cut(id, "#")
	d, l, ok := strings.Cut(tuple, ">")
	if !ok {
		return dialer, listener, fmt.Errorf("bad connection id %q (want DIALER>LISTENER#K)", id)
	}
	if dialer, err = netip.ParseAddrPort(d); err != nil {
		return dialer, listener, fmt.Errorf("bad connection id %q: %w", id, err)
	}
	if listener, err = netip.ParseAddrPort(l); err != nil {
		return dialer, listener, fmt.Errorf("bad connection id %q: %w", id, err)
	}
	return dialer, listener, nil
}

// Operations converts records to porcupine operations (Metadata is the
// connection id), and returns the hosts the history observes: those whose
// end of some connection it records. An operation's peer is "seen" when its
// host is observed; an unobserved peer may have done anything, so only the
// recorded end's own consistency is checked.
func Operations(recs []history.Record) ([]porcupine.Operation, []string, error) {
	observed := make(map[netip.Addr]bool)
	type ends struct{ dialer, listener netip.Addr }
	conns := make(map[string]ends)
	for i := range recs {
		r := &recs[i]
		if r.Conn == "" {
			continue
		}
		ce, ok := conns[r.Conn]
		if !ok {
			d, l, err := parseConn(r.Conn)
			if err != nil {
				return nil, nil, err
			}
			ce = ends{d.Addr(), l.Addr()}
			conns[r.Conn] = ce
		}
		if r.End == history.Client {
			observed[ce.dialer] = true
		} else {
			observed[ce.listener] = true
		}
	}
	ops := make([]porcupine.Operation, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		c := call{end: endIndex(r.End), op: r.Op, data: string(r.Data), err: r.Err, keyed: r.Conn != "", rec: i}
		if c.keyed {
			ce := conns[r.Conn]
			peer := ce.listener
			if r.End == history.Server {
				peer = ce.dialer
			}
			c.peerSeen = observed[peer]
		}
		ops = append(ops, porcupine.Operation{Input: c, Call: r.Call, Output: nil, Return: r.Ret, Metadata: r.Conn})
	}
	var hosts []string
	for a := range observed {
		hosts = append(hosts, a.String())
	}
	sort.Strings(hosts)
	return ops, hosts, nil
}

// assignClients numbers the operations of one partition 0.. so that
// overlapping operations get different numbers (porcupine draws one row per
// client).
func assignClients(ops []porcupine.Operation) {
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return ops[order[a]].Call < ops[order[b]].Call })
	var busyUntil []int64
	for _, i := range order {
		row := -1
		for r, until := range busyUntil {
			if until < ops[i].Call {
				row = r
				break
			}
		}
		if row < 0 {
			row = len(busyUntil)
			busyUntil = append(busyUntil, 0)
		}
		busyUntil[row] = ops[i].Return
		ops[i].ClientId = row
	}
}

// Options tune Check.
type Options struct {
	// Workers is how many partitions are checked at once (default GOMAXPROCS).
	Workers int
}

// Check checks a history partition by partition until ctx ends; partitions
// not finished by then are Unknown. The report lists failing partitions
// smallest first.
func Check(ctx context.Context, recs []history.Record, opt Options) (*Report, error) {
	start := time.Now()
	ops, hosts, err := Operations(recs)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	rep := &Report{Ops: len(ops), Observed: hosts}
	var parts [][]porcupine.Operation
	for _, p := range partitionOps(ops) {
		if id, _ := p[0].Metadata.(string); id == "" {
			rep.Unkeyed++
			continue
		}
		parts = append(parts, p)
	}
	rep.Conns = len(parts)
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	results := make([]Result, len(parts))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, max(len(parts), 1)) {
		wg.Go(func() {
			for i := range next {
				results[i] = checkPartition(ctx, parts[i])
			}
		})
	}
	for i := range parts {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, res := range results {
		pr := Partition{Conn: parts[i][0].Metadata.(string), Ops: len(parts[i]), Result: res}
		switch res {
		case Illegal:
			rep.Illegal = append(rep.Illegal, pr)
		case Unknown:
			rep.Unknown = append(rep.Unknown, pr)
		}
	}
	sort.SliceStable(rep.Illegal, func(a, b int) bool { return rep.Illegal[a].Ops < rep.Illegal[b].Ops })
	switch {
	case len(rep.Illegal) > 0:
		rep.Result = Illegal
	case len(rep.Unknown) > 0:
		rep.Result = Unknown
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// checkPartition runs porcupine on one connection with the time left in ctx.
func checkPartition(ctx context.Context, ops []porcupine.Operation) Result {
	if ctx.Err() != nil {
		return Unknown
	}
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return Unknown
		}
	}
	m := Model
	m.Partition = nil
	switch porcupine.CheckOperationsTimeout(m, ops, timeout) {
	case porcupine.Ok:
		if ctx.Err() != nil {
			// Cancelled while running: porcupine may not have finished.
			return Unknown
		}
		return Ok
	case porcupine.Illegal:
		return Illegal
	}
	return Unknown
}

// ConnRecords returns the records of one connection, in call order.
func ConnRecords(recs []history.Record, id string) []history.Record {
	var out []history.Record
	for _, r := range recs {
		if r.Conn == id {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Call < out[b].Call })
	return out
}

// Explain writes the records of connection id (times relative to its first
// call) and the longest linearizable prefix the checker found, with the
// model's state after it: what a person needs to see why it failed.
func Explain(w io.Writer, recs []history.Record, id string, timeout time.Duration) error {
	sub := ConnRecords(recs, id)
	if len(sub) == 0 {
		return fmt.Errorf("explain: no records of connection %q", id)
	}
	ops, _, err := Operations(recs)
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	var part []porcupine.Operation
	for _, op := range ops {
		if op.Metadata == id {
			part = append(part, op)
		}
	}
	sort.SliceStable(part, func(a, b int) bool { return part[a].Call < part[b].Call })
	t0 := part[0].Call
	fmt.Fprintf(w, "connection %s: %d operations\n", id, len(part))
	for i, op := range part {
		c := op.Input.(call)
		r := recs[c.rec]
		msg := ""
		if r.Msg != "" {
			msg = " (" + r.Msg + ")"
		}
		fmt.Fprintf(w, "  #%-3d [%10.3f, %10.3f] ms  %s%s\n", i, ms(op.Call-t0), ms(op.Return-t0), describeCall(c), msg)
	}
	m := Model
	m.Partition = nil
	res, info := porcupine.CheckOperationsVerbose(m, part, timeout)
	fmt.Fprintf(w, "  verdict: %s\n", resultOf(res))
	if res == porcupine.Ok {
		return nil
	}
	var best []int
	for _, p := range info.PartialLinearizations() {
		for _, l := range p {
			if len(l) > len(best) {
				best = l
			}
		}
	}
	// Partial linearizations number operations in porcupine's order, which
	// is the order of part.
	st := connState{}
	fmt.Fprintf(w, "  longest linearizable prefix: %d of %d operations\n", len(best), len(part))
	for _, i := range best {
		if i >= 0 && i < len(part) {
			_, st = step(st, part[i].Input.(call))
			fmt.Fprintf(w, "    #%-3d %s\n", i, describeCall(part[i].Input.(call)))
		}
	}
	fmt.Fprintf(w, "  state after it: %s\n", describeState(st))
	fmt.Fprintf(w, "  no remaining operation can come next\n")
	return nil
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

func resultOf(r porcupine.CheckResult) Result {
	switch r {
	case porcupine.Ok:
		return Ok
	case porcupine.Illegal:
		return Illegal
	}
	return Unknown
}

// WriteHTML checks the records (all of them, or only connection id when id
// is not empty) and writes porcupine's interactive HTML picture of the
// history and its linearizations to w.
func WriteHTML(w io.Writer, recs []history.Record, id string, timeout time.Duration) error {
	ops, _, err := Operations(recs)
	if err != nil {
		return fmt.Errorf("html: %w", err)
	}
	var sel, keep []porcupine.Operation
	for _, op := range ops {
		if mid, _ := op.Metadata.(string); mid != "" && (id == "" || mid == id) {
			sel = append(sel, op)
		}
	}
	keep = keep[:0:0]
	for _, p := range partitionOps(sel) {
		assignClients(p)
		keep = append(keep, p...)
	}
	_, info := porcupine.CheckOperationsVerbose(Model, keep, timeout)
	if err := porcupine.Visualize(Model, info, w); err != nil {
		return fmt.Errorf("html: %w", err)
	}
	return nil
}
