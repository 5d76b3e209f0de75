package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The in-memory scenario (make bench-inmem): bench/inmem's go test
// benchmarks, two stacks in one process on an in-memory link, netspec's
// beside gVisor's, -count times; each count is a round.

// inmemServers are the columns of the in-memory table (the sub-benchmark
// names of bench/inmem).
// The baseline (Kind "baseline", no ratio column) is bench/inmem's netpipe:
// the same client and server over net.Pipe, no TCP/IP at all.
var inmemServers = []Server{{Name: "netspec", Kind: "netspec"}, {Name: "gvisor", Kind: "gvisor"}, {Name: "netpipe", Kind: "baseline"}}

// inmemChunk is the octets of one BenchmarkBulk op (bench/inmem bulkChunk).
const inmemChunk = 64 << 10

// inmemFigures are the rows of the in-memory table. CPU is the whole
// process's (both stacks, the link and the benchmark's client and server).
func inmemFigures() []figure {
	return []figure{
		{"im_bulk_rate", "bulk transfer, one connection, 64 KiB writes (BenchmarkBulk)", "MB/s", true, 0},
		{"im_bulk_cpu", "CPU per GB moved", "s", false, 2},
		{"im_bulk_cpux", "the same above the no-stack floor (the stack's own)", "s", false, 2},
		{"im_bulk_allocs", "allocations per 64 KiB", "allocs", false, 1},
		{"im_bulk_drops", "frames the link dropped (full queue) in the run", "frames", false, 0},
		{"im_bulk_retrans", "segments retransmitted in the run", "segments", false, 0},
		{"im_conn_rate", "connections: dial, accept, server closes, client reads EOF and closes (BenchmarkConnect)", "conn/s", true, 0},
		{"im_conn_cpu", "CPU per connection", "µs", false, 1},
		{"im_conn_cpux", "the same above the no-stack floor (the stack's own)", "µs", false, 1},
		{"im_conn_allocs", "allocations per connection", "allocs", false, 0},
		{"im_conn_bytes", "octets allocated per connection", "B", false, 0},
		{"im_http_rate", "net/http keep-alive GET /hello, one connection, one request at a time (BenchmarkHTTPKeepAlive)", "req/s", true, 0},
		{"im_http_cpu", "CPU per request", "µs", false, 1},
		{"im_http_cpux", "the same above the no-stack floor (the stack's own)", "µs", false, 1},
		{"im_http_allocs", "allocations per request (net/http's included)", "allocs", false, 0},
		{"im_http_bytes", "octets allocated per request", "B", false, 0},
	}
}

// inmemBench maps a benchmark of bench/inmem to its figures' key prefix.
var inmemBench = map[string]string{"BenchmarkBulk": "im_bulk", "BenchmarkConnect": "im_conn", "BenchmarkHTTPKeepAlive": "im_http"}

// parseInmem reads one line of go test -bench output: the stack it measured
// ("netspec" or "gvisor") and its figures by key; ok is false for other lines.
func parseInmem(line string) (stack string, vals map[string]float64, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 {
		return "", nil, false
	}
	name, sub, found := strings.Cut(f[0], "/")
	prefix, known := inmemBench[name]
	if !found || !known {
		return "", nil, false
	}
	if i := strings.LastIndexByte(sub, '-'); i > 0 {
		sub = sub[:i] // the -GOMAXPROCS suffix
	}
	m := map[string]float64{}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return "", nil, false
		}
		m[f[i+1]] = v
	}
	vals = map[string]float64{
		prefix + "_allocs":  m["allocs/op"],
		prefix + "_bytes":   m["B/op"],
		prefix + "_drops":   m["drops"],
		prefix + "_retrans": m["retrans"],
	}
	if prefix == "im_bulk" {
		vals[prefix+"_rate"] = m["MB/s"]
		vals[prefix+"_cpu"] = m["cpu-ns/op"] / inmemChunk // ns per octet = s per GB
	} else {
		if ns := m["ns/op"]; ns > 0 {
			vals[prefix+"_rate"] = 1e9 / ns
		}
		vals[prefix+"_cpu"] = m["cpu-ns/op"] / 1e3
	}
	return sub, vals, true
}

// aboveFloor adds to each stack's values of one round its CPU figures less
// the baseline's (netpipe) of the same round: the stack's own share.
func aboveFloor(round map[string]map[string]float64) {
	base, ok := round["netpipe"]
	if !ok {
		return
	}
	for stack, vals := range round {
		if stack == "netpipe" {
			continue
		}
		for _, p := range inmemBench {
			if v, ok := vals[p+"_cpu"]; ok {
				vals[p+"_cpux"] = v - base[p+"_cpu"]
			}
		}
	}
}

// runInmem builds bench/inmem's test binary from dir and runs its
// benchmarks count times for benchtime each, so that the rounds of netspec
// and gVisor interleave (go test -count would run one stack's rounds back to
// back), echoing the output to stderr and recording every result line.
func runInmem(ctx context.Context, res *results, dir, benchtime string, count int) error {
	work, err := os.MkdirTemp("", "benchrun-inmem")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "inmem.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, ".")
	build.Dir, build.Stdout, build.Stderr = dir, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go test -c in %s: %w", dir, err)
	}
	for round := range count {
		fmt.Fprintf(os.Stderr, "round %d of %d\n", round+1, count)
		cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", ".", "-test.benchmem",
			"-test.benchtime", benchtime, "-test.timeout", "10m")
		cmd.Dir, cmd.Stderr = dir, os.Stderr
		out, err := cmd.Output()
		os.Stderr.Write(out)
		if err != nil {
			return fmt.Errorf("%s: %w", bin, err)
		}
		round := map[string]map[string]float64{}
		for _, line := range strings.Split(string(out), "\n") {
			stack, vals, ok := parseInmem(line)
			if !ok {
				continue
			}
			if round[stack] == nil {
				round[stack] = map[string]float64{}
			}
			maps.Copy(round[stack], vals)
		}
		aboveFloor(round)
		for stack, vals := range round {
			res.add(stack, vals)
		}
	}
	return nil
}

// inmemMain is benchrun -inmem DIR: the in-memory scenario alone.
func inmemMain(dir, benchtime string, count int, md, command string) error {
	res := &results{
		Started: time.Now().UTC(), Machine: machine(), Command: command,
		Servers: inmemServers, Values: map[string]map[string][]float64{}, Scenario: []string{"inmem"},
		Notes: map[string][]string{}, Config: map[string]string{"rounds": strconv.Itoa(count), "benchtime": benchtime},
	}
	err := runInmem(context.Background(), res, dir, benchtime, count)
	res.Seconds = time.Since(res.Started).Seconds()
	if err != nil {
		return err
	}
	return writeReport(res, md, "")
}
