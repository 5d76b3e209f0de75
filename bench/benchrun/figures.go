package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// figure is one row of the results table.
type figure struct {
	Key    string
	Label  string
	Unit   string
	Higher bool // a higher value is better (rates); else lower is (CPU, latency, memory)
	Prec   int  // decimals shown
}

// mainFigures are the rows of the main table, in order. Labels name the
// tool and its knobs; %d is filled with the duration or the count.
func mainFigures(c config) []figure {
	return []figure{
		{"ka_rps", fmt.Sprintf("keep-alive req/s (`wrk -t2 -c50 -d%ds`, GET /hello)", c.dur), "req/s", true, 0},
		{"ka_cpu", "server CPU per keep-alive request", "µs", false, 1},
		{"ka_cpu2", "server + client CPU per keep-alive request", "µs", false, 1},
		{"ka_p50", "p50 latency at that load", "ms", false, 2},
		{"ka_p99", "p99 latency at that load", "ms", false, 2},
		{"ab_cps", fmt.Sprintf("new connections/s (`ab -n %d -c 50`, close)", c.abN), "conn/s", true, 0},
		{"ab_cpu", "server CPU per new connection (ab)", "µs", false, 1},
		{"ab_cpu2", "server + client CPU per new connection (ab)", "µs", false, 1},
		{"cc_cps", fmt.Sprintf("new connections/s (`wrk -t2 -c50 -d%ds -H 'Connection: close'`)", c.dur), "conn/s", true, 0},
		{"cc_cpu", "server CPU per new connection (wrk)", "µs", false, 1},
		{"cc_cpu2", "server + client CPU per new connection (wrk)", "µs", false, 1},
		{"dl_gbps", fmt.Sprintf("%s download (server sends, GET /bytes)", size(c.big)), "Gbit/s", true, 2},
		{"dl_cpu", "server CPU per GB sent", "s", false, 2},
		{"dl_cpu2", "server + client CPU per GB sent", "s", false, 2},
		{"ul_gbps", fmt.Sprintf("%s upload (server receives, POST /discard)", size(c.big)), "Gbit/s", true, 2},
		{"ul_cpu", "server CPU per GB received", "s", false, 2},
		{"ul_cpu2", "server + client CPU per GB received", "s", false, 2},
		{"rss_conn", fmt.Sprintf("server RSS per idle keep-alive connection (%s held)", num(float64(c.hold), 0)), "KiB", false, 1},
	}
}

// pick returns the rows of the main table whose keys start with one of
// prefixes, in the table's order.
func pick(c config, prefixes ...string) []figure {
	var out []figure
	for _, f := range mainFigures(c) {
		for _, p := range prefixes {
			if strings.HasPrefix(f.Key, p) {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// memoryFigures are the rows of the memory scenario: the idle-connection
// figure of the main table alone, for a quick before/after of memory work.
func memoryFigures(c config) []figure { return pick(c, "rss_") }

// bulkFigures are the rows of the bulk scenario: the download and upload
// figures of the main table alone.
func bulkFigures(c config) []figure { return pick(c, "dl_", "ul_") }

// rateFigures are the rows of the rates scenario: keep-alive and new
// connections.
func rateFigures(c config) []figure { return pick(c, "ka_", "ab_", "cc_") }

// keepAliveFigures are the rows of the keepalive scenario.
func keepAliveFigures(c config) []figure { return pick(c, "ka_") }

// closeFigures are the rows of the close scenario: the new-connection
// figures of the main table and what closeSegments read from a capture.
func closeFigures(c config) []figure {
	return append(pick(c, "ab_", "cc_"),
		figure{"cc_segs", "segments per connection, both ways (wrk close, captured)", "segments", false, 2},
		figure{"cc_srv_segs", "segments per connection the server sent", "segments", false, 2},
		figure{"cc_cli_fin", "connections whose client FIN came first", "%", false, 1},
		figure{"cc_fin_data", "server FINs on the response's data segment", "%", true, 1},
		figure{"cc_rst", "connections reset", "%", false, 1},
	)
}

// lossFigures are the rows of the loss table.
func lossFigures(c config) []figure {
	var f []figure
	for _, dir := range []string{"dl", "ul"} {
		for _, p := range c.losses {
			what := "download (server sends)"
			if dir == "ul" {
				what = "upload (server receives)"
			}
			f = append(f, figure{lossKey(dir, p), fmt.Sprintf("%s, %g %% loss", what, p), "Mbit/s", true, 0})
		}
	}
	return f
}

func lossKey(dir string, p float64) string { return fmt.Sprintf("loss_%s_%g", dir, p) }

// size names an octet count: 1 GiB, 16 MiB.
func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d octets", n)
}

// cpuUse is the CPU time a measurement took: the server process's, and the
// client commands' (e.client) it ran. On a veth a packet's receive path runs
// in the sender's system call, so the kernel server's own TCP receive work is
// charged to the client and a user-space server carries the client's:
// server + client is the exchange's whole cost, wherever it was charged
// (softirq work in ksoftirqd or in an idle CPU's context is in neither).
type cpuUse struct{ server, client time.Duration }

// both is the server's and the client's CPU together.
func (u cpuUse) both() time.Duration { return u.server + u.client }

// cpuDuring runs fn and returns the CPU time it took.
func (e *env) cpuDuring(fn func() error) (cpuUse, error) {
	before, err := e.cpu()
	if err != nil {
		return cpuUse{}, err
	}
	client0 := e.clientCPU.Load()
	if err := fn(); err != nil {
		return cpuUse{}, err
	}
	after, err := e.cpu()
	return cpuUse{after - before, time.Duration(e.clientCPU.Load() - client0)}, err
}

var (
	reqsRE    = regexp.MustCompile(`(\d+) requests in ([0-9.]+)(us|ms|s|m)`)
	rpsRE     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	latRE     = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	sockErrRE = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	non2xxRE  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	abRPSRE   = regexp.MustCompile(`Requests per second:\s+([0-9.]+)`)
	abDoneRE  = regexp.MustCompile(`Complete requests:\s+(\d+)`)
	abFailRE  = regexp.MustCompile(`Failed requests:\s+(\d+)`)
)

// toMS converts a wrk duration to milliseconds.
func toMS(v float64, unit string) float64 {
	switch unit {
	case "us":
		return v / 1000
	case "s":
		return v * 1000
	case "m":
		return v * 60000
	}
	return v
}

// wrk runs wrk for the configured duration with extra args and returns
// requests/s, the request count and p50/p99 in ms. Connect errors count
// against nothing (wrk reports them for closed connections too), but
// timeouts and non-2xx answers fail the figure.
func (e *env) wrk(ctx context.Context, r *runner, extra ...string) (rps, reqs, p50, p99 float64, err error) {
	args := append([]string{"-t2", "-c50", fmt.Sprintf("-d%ds", r.cfg.dur), "--latency", "--timeout", "5s"}, extra...)
	args = append(args, "http://"+serverAddr+"/hello")
	out, err := e.client(ctx, time.Duration(r.cfg.dur+30)*time.Second, "wrk", args...)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	m := rpsRE.FindStringSubmatch(out)
	n := reqsRE.FindStringSubmatch(out)
	if m == nil || n == nil {
		return 0, 0, 0, 0, fmt.Errorf("wrk: no result in %q", out)
	}
	if x := non2xxRE.FindStringSubmatch(out); x != nil && x[1] != "0" {
		return 0, 0, 0, 0, fmt.Errorf("wrk: %s non-2xx answers", x[1])
	}
	if x := sockErrRE.FindStringSubmatch(out); x != nil && x[4] != "0" {
		r.note("%s: wrk %s: %s timeouts", e.srv.Name, strings.Join(extra, " "), x[4])
	}
	rps, _ = strconv.ParseFloat(m[1], 64)
	reqs, _ = strconv.ParseFloat(n[1], 64)
	p50, p99 = math.NaN(), math.NaN()
	for _, l := range latRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		if l[1] == "50" {
			p50 = toMS(v, l[3])
		} else {
			p99 = toMS(v, l[3])
		}
	}
	return rps, reqs, p50, p99, nil
}

// keepAlive: wrk on 50 keep-alive connections; CPU per request.
func (e *env) keepAlive(ctx context.Context, r *runner) (map[string]float64, error) {
	var rps, reqs, p50, p99 float64
	cpu, err := e.cpuDuring(func() (err error) {
		rps, reqs, p50, p99, err = e.wrk(ctx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]float64{"ka_rps": rps, "ka_cpu": us(cpu.server) / reqs, "ka_cpu2": us(cpu.both()) / reqs, "ka_p50": p50, "ka_p99": p99}, nil
}

// closeConns: wrk with Connection: close, so every request is a new
// connection the server closes; CPU per connection.
func (e *env) closeConns(ctx context.Context, r *runner) (map[string]float64, error) {
	var rps, reqs float64
	cpu, err := e.cpuDuring(func() (err error) {
		rps, reqs, _, _, err = e.wrk(ctx, r, "-H", "Connection: close")
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]float64{"cc_cps": rps, "cc_cpu": us(cpu.server) / reqs, "cc_cpu2": us(cpu.both()) / reqs}, nil
}

// ab: ApacheBench, HTTP/1.0 without keep-alive, abN requests, 50 at once.
func (e *env) ab(ctx context.Context, r *runner) (map[string]float64, error) {
	var out string
	cpu, err := e.cpuDuring(func() (err error) {
		out, err = e.client(ctx, 90*time.Second, "ab", "-q", "-s", "10", "-n", strconv.Itoa(r.cfg.abN), "-c", "50", "http://"+serverAddr+"/hello")
		return err
	})
	if err != nil {
		return nil, err
	}
	m, done, failed := abRPSRE.FindStringSubmatch(out), abDoneRE.FindStringSubmatch(out), abFailRE.FindStringSubmatch(out)
	if m == nil || done == nil {
		return nil, fmt.Errorf("ab: no result in %q", out)
	}
	if failed != nil && failed[1] != "0" {
		return nil, fmt.Errorf("ab: %s failed requests", failed[1])
	}
	rps, _ := strconv.ParseFloat(m[1], 64)
	n, _ := strconv.ParseFloat(done[1], 64)
	return map[string]float64{"ab_cps": rps, "ab_cpu": us(cpu.server) / n, "ab_cpu2": us(cpu.both()) / n}, nil
}

// transfer downloads (dir "dl") or uploads ("ul") n octets with benchcli on
// a fresh connection and returns bits/s and the server CPU it took.
func (e *env) transfer(ctx context.Context, r *runner, dir string, n int64, bound time.Duration) (bps float64, cpu cpuUse, err error) {
	args := []string{"--timeout", bound.String(), "get", fmt.Sprintf("http://%s/bytes?n=%d", serverAddr, n)}
	if dir == "ul" {
		args = []string{"--timeout", bound.String(), "post", "http://" + serverAddr + "/discard", strconv.FormatInt(n, 10)}
	}
	var out string
	cpu, err = e.cpuDuring(func() (err error) {
		out, err = e.client(ctx, bound+5*time.Second, r.bin("benchcli"), args...)
		return err
	})
	if err != nil {
		return 0, cpuUse{}, err
	}
	var got int64
	var secs float64
	if _, err := fmt.Sscan(out, &got, &secs); err != nil || got != n || secs <= 0 {
		return 0, cpuUse{}, fmt.Errorf("benchcli: unexpected %q", out)
	}
	return float64(n) * 8 / secs, cpu, nil
}

// bulk: one download and one upload of cfg.big octets; Gbit/s and CPU s/GB.
func (e *env) bulk(ctx context.Context, r *runner, dir string) (map[string]float64, error) {
	bps, cpu, err := e.transfer(ctx, r, dir, r.cfg.big, 120*time.Second)
	if err != nil {
		return nil, err
	}
	gb := float64(r.cfg.big) / 1e9
	return map[string]float64{dir + "_gbps": bps / 1e9, dir + "_cpu": cpu.server.Seconds() / gb, dir + "_cpu2": cpu.both().Seconds() / gb}, nil
}

// idleMemory holds cfg.hold idle keep-alive connections from the client
// namespace and returns the server's RSS growth per connection in KiB.
func (e *env) idleMemory(ctx context.Context, r *runner) (map[string]float64, error) {
	before, err := e.rss()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", e.lab.ClientNS(), r.bin("benchcli"), "hold", serverAddr+":80", strconv.Itoa(r.cfg.hold), "80")
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if !strings.HasPrefix(line, "held ") {
		stdin.Close()
		cmd.Wait()
		return nil, fmt.Errorf("hold: %q %s", line, strings.TrimSpace(stderr.String()))
	}
	go io.Copy(io.Discard, stdout)
	// Let the last connections settle (accepted, served, idle) before reading.
	time.Sleep(time.Second)
	after, err := e.rss()
	if err != nil {
		return nil, err
	}
	return map[string]float64{"rss_conn": (after - before) / float64(r.cfg.hold)}, nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
