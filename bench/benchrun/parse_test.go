package main

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

const wrkOut = `Running 3s test @ http://198.18.0.2/hello
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.27ms    2.10ms  40.01ms   93.12%
    Req/Sec    20.61k     2.05k   24.90k    71.67%
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    2.31ms
     99%   11.52ms
  123001 requests in 3.00s, 15.25MB read
Requests/sec:  40973.21
Transfer/sec:      5.08MB
`

func TestWrkParse(t *testing.T) {
	m := rpsRE.FindStringSubmatch(wrkOut)
	n := reqsRE.FindStringSubmatch(wrkOut)
	if m == nil || m[1] != "40973.21" || n == nil || n[1] != "123001" {
		t.Fatalf("rps %v reqs %v", m, n)
	}
	got := map[string]float64{}
	for _, l := range latRE.FindAllStringSubmatch(wrkOut, -1) {
		got[l[1]] = toMS(mustFloat(t, l[2]), l[3])
	}
	if got["50"] != 0.812 || got["99"] != 11.52 || len(got) != 2 {
		t.Fatalf("latencies %v", got)
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestABParse(t *testing.T) {
	out := "Complete requests:      20000\nFailed requests:        0\nRequests per second:    13912.40 [#/sec] (mean)\n"
	if m := abRPSRE.FindStringSubmatch(out); m == nil || m[1] != "13912.40" {
		t.Fatalf("rps %v", m)
	}
	if m := abDoneRE.FindStringSubmatch(out); m == nil || m[1] != "20000" {
		t.Fatalf("done %v", m)
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]float64{3, math.NaN(), 1, 2})
	if s.med != 2 || s.min != 1 || s.max != 3 || s.n != 3 || s.spread() != 50 {
		t.Fatalf("%+v spread %v", s, s.spread())
	}
	if s := summarize([]float64{4, 2}); s.med != 3 {
		t.Fatalf("even median %v", s.med)
	}
	if s := summarize(nil); s.n != 0 || !math.IsNaN(s.med) {
		t.Fatalf("empty %+v", s)
	}
}

func TestNum(t *testing.T) {
	for in, want := range map[float64]string{40600: "40,600", 1234567.8: "1,234,568", 24.13: "24.13", -1500: "-1,500", math.NaN(): "–"} {
		prec := 2
		if got := num(in, prec); got != want {
			t.Errorf("num(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestSplice(t *testing.T) {
	text := "head\n<!-- bench:loss begin -->\nold\n<!-- bench:loss end -->\ntail\n"
	got, ok := splice(text, "loss", "new\n")
	if !ok || got != "head\n<!-- bench:loss begin -->\nnew\n<!-- bench:loss end -->\ntail\n" {
		t.Fatalf("%v %q", ok, got)
	}
	if _, ok := splice(text, "main", "x"); ok {
		t.Fatal("spliced a section the text does not have")
	}
	if !strings.Contains(got, "tail") {
		t.Fatal("lost the rest")
	}
}

// TestMergeSections: a scenario whose markers the report file has replaces
// only its section; one it has not is appended with markers, the rest of the
// file kept (a run of a new scenario used to overwrite the whole file); a
// second run replaces the appended section.
func TestMergeSections(t *testing.T) {
	var c config
	text := "# Benchmarks\n<!-- bench:main begin -->\nold main\n<!-- bench:main end -->\ntail\n"
	got := mergeSections(text, []string{"main", "keepalive"}, map[string]string{"main": "new main\n", "keepalive": "ka 1\n"}, c)
	want := "# Benchmarks\n<!-- bench:main begin -->\nnew main\n<!-- bench:main end -->\ntail\n\n## Scenario keepalive\n\n<!-- bench:keepalive begin -->\nka 1\n<!-- bench:keepalive end -->\n"
	if got != want {
		t.Fatalf("first merge:\n%s\nwant:\n%s", got, want)
	}
	again := mergeSections(got, []string{"keepalive"}, map[string]string{"keepalive": "ka 2\n"}, c)
	if want2 := strings.Replace(want, "ka 1", "ka 2", 1); again != want2 {
		t.Fatalf("second merge:\n%s\nwant:\n%s", again, want2)
	}
	if fresh := mergeSections("", []string{"loss"}, map[string]string{"loss": "l\n"}, c); fresh != "## Scenario loss\n\n<!-- bench:loss begin -->\nl\n<!-- bench:loss end -->\n" {
		t.Fatalf("new file: %q", fresh)
	}
}

func TestParseInmem(t *testing.T) {
	stack, v, ok := parseInmem("BenchmarkBulk/netspec-2    \t    6987\t    168595 ns/op\t 388.72 MB/s\t    131072 cpu-ns/op\t 59.00 drops\t 174.0 retrans\t    3051 B/op\t       5 allocs/op")
	if !ok || stack != "netspec" || v["im_bulk_rate"] != 388.72 || v["im_bulk_cpu"] != 2 || v["im_bulk_drops"] != 59 || v["im_bulk_allocs"] != 5 {
		t.Fatalf("bulk: %q %v %v", stack, v, ok)
	}
	stack, v, ok = parseInmem("BenchmarkConnect/gvisor-2  \t   10000\t    250000 ns/op\t    122620 cpu-ns/op\t 0 drops\t 0 retrans\t   13861 B/op\t     154 allocs/op")
	if !ok || stack != "gvisor" || v["im_conn_rate"] != 4000 || v["im_conn_cpu"] != 122.62 || v["im_conn_bytes"] != 13861 {
		t.Fatalf("connect: %q %v %v", stack, v, ok)
	}
	for _, l := range []string{"goos: linux", "PASS", "BenchmarkOther/netspec-2 1 2 ns/op", "ok  \tgithub.com/netspec/netspec/bench/inmem\t0.145s"} {
		if _, _, ok := parseInmem(l); ok {
			t.Errorf("%q parsed as a result", l)
		}
	}
}

func TestAboveFloor(t *testing.T) {
	round := map[string]map[string]float64{
		"netspec": {"im_http_cpu": 40, "im_bulk_cpu": 1.5},
		"gvisor":  {"im_http_cpu": 70},
		"netpipe": {"im_http_cpu": 30, "im_bulk_cpu": 0.5},
	}
	aboveFloor(round)
	if round["netspec"]["im_http_cpux"] != 10 || round["gvisor"]["im_http_cpux"] != 40 || round["netspec"]["im_bulk_cpux"] != 1 {
		t.Fatalf("%v", round)
	}
	if _, ok := round["netpipe"]["im_http_cpux"]; ok {
		t.Fatalf("the baseline got a figure above itself: %v", round["netpipe"])
	}
}
