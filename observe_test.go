package netspec_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/observe"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/stack"
)

// scrape fetches http://198.18.0.2:port/metrics from stack a, through it.
func scrape(t *testing.T, a *netspec.Stack, port int) string {
	t.Helper()
	client := &http.Client{Timeout: guard, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return a.Dial(ctx, "tcp", addr) },
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://198.18.0.2:" + strconv.Itoa(port) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s, %v\n%s", resp.Status, err, body)
	}
	return string(body)
}

// metric returns the value of the series whose line starts with prefix.
func metric(t *testing.T, body, prefix string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(prefix) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no series %s in:\n%.2000s", prefix, body)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMetricsOnOwnStack: Options.Metrics serves Prometheus text through the
// stack itself; each scrape reads the counters anew, so a connection between
// two scrapes shows in the second.
func TestMetricsOnOwnStack(t *testing.T) {
	a, b := pair(t, &netspec.PipeConfig{BOptions: &netspec.Options{Metrics: 9100}})
	first := scrape(t, a, 9100)
	opens := `netspec_events_total{counter="tcp.PassiveOpens",group="Tcp"}`
	n1 := metric(t, first, opens)
	if n1 != 1 { // the scrape's own connection
		t.Errorf("first scrape: %s = %v, want 1", opens, n1)
	}
	ln, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	echoRound(t, a, ln, "ping")
	second := scrape(t, a, 9100)
	if n2 := metric(t, second, opens); n2 != n1+2 {
		t.Errorf("second scrape: %s = %v, want %v (the echo's and its own)", opens, n2, n1+2)
	}
	if v := metric(t, second, `netspec_tcp_sockets{state="Listen"}`); v != 2 {
		t.Errorf("%v listeners, want 2 (metrics and echo)", v)
	}
	if v := metric(t, second, `netspec_drops_total{counter="ip.drop.BadChecksum",group="Ip",reason="BadChecksum"}`); v != 0 {
		t.Errorf("bad checksums: %v", v)
	}
	// The row that turns a SYN to a listener into a connection fired once
	// per connection.
	var hits float64
	for _, m := range regexp.MustCompile(`(?m)^netspec_rule_hits_total\{[^}]*event="Seg[^"]*",[^}]*state="Listen"\} (\d+)$`).FindAllStringSubmatch(second, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		hits += v
	}
	if hits < 3 {
		t.Errorf("rows in LISTEN fired %v times, want at least the 3 SYNs", hits)
	}
}

// TestControlSocket: Options.Control serves snapshots that observe.Fetch
// reads; a stale socket file is replaced, a live one refused, and Close
// removes it.
func TestControlSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "p0.sock")
	stale, err := net.Listen("unix", path+".tmp") // a socket nobody will answer on
	if err == nil {
		stale.(*net.UnixListener).SetUnlinkOnClose(false)
		stale.Close()
	}
	if _, err := observe.Fetch(path); !errors.Is(err, observe.ErrNoServer) {
		t.Fatalf("Fetch with no server: %v, want ErrNoServer", err)
	}
	a, b := pair(t, &netspec.PipeConfig{BOptions: &netspec.Options{Control: path}})
	ln, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	served := echoOnce(ln)
	c := dial(t, a, "198.18.0.2:7")
	var s observe.Snapshot
	var estab, listen int
	// The server's connection has its descriptor once echoOnce's Accept
	// took it from the queue, which may follow Dial's return.
	for deadline := time.Now().Add(guard); ; time.Sleep(time.Millisecond) {
		if s, err = observe.Fetch(path); err != nil {
			t.Fatal(err)
		}
		estab, listen = 0, 0
		for _, so := range s.Sockets {
			switch {
			case so.State == "Listen" && so.Local == "198.18.0.2:7":
				listen++
			case so.State == "Established" && so.Local == "198.18.0.2:7" && so.FD >= 0 && so.RTOus > 0:
				estab++
			}
		}
		if estab == 1 || time.Now().After(deadline) {
			break
		}
	}
	if listen != 1 || estab != 1 {
		t.Errorf("snapshot sockets %+v: want the listener and one established connection", s.Sockets)
	}
	seen := map[string]uint64{}
	for _, k := range s.Counters {
		if k.Group == "Other" {
			t.Errorf("counter %s has no netstat -s group", k.Name)
		}
		seen[k.Name] = k.Value
	}
	// The figures a soak samples: the runtime's and the TCP layer's levels.
	if seen["go.Goroutines"] == 0 || seen["go.HeapBytes"] == 0 || seen["go.MappedBytes"] == 0 {
		t.Errorf("snapshot lacks the runtime gauges: goroutines %d, heap %d, mapped %d", seen["go.Goroutines"], seen["go.HeapBytes"], seen["go.MappedBytes"])
	}
	if _, ok := seen["tcp.Timers"]; !ok {
		t.Error("snapshot lacks tcp.Timers")
	}
	if s.Addr != "198.18.0.2/24" {
		t.Errorf("snapshot addr %q", s.Addr)
	}
	var out strings.Builder
	if err := observe.WriteSS(&out, s); err != nil || !strings.Contains(out.String(), "ESTAB") || !strings.Contains(out.String(), "rto:") {
		t.Errorf("WriteSS: %v\n%s", err, out.String())
	}
	// A second server on the same socket is refused while this one runs.
	if _, _, err := netspec.Pipe(&netspec.PipeConfig{BOptions: &netspec.Options{Control: path}}); !errors.Is(err, observe.ErrInUse) {
		t.Errorf("second server on %s: %v, want ErrInUse", path, err)
	}
	roundTrip(t, c, []byte("x"))
	<-served
	b.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close: %v, want the socket removed", err)
	}
	// A socket file left behind by a dead server is replaced.
	dead, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	dead.SetUnlinkOnClose(false)
	dead.Close()
	_, b2 := pair(t, &netspec.PipeConfig{BOptions: &netspec.Options{Control: path}})
	if _, err := observe.Fetch(path); err != nil {
		t.Errorf("over a stale socket: %v", err)
	}
	b2.Close()
}

// benchConns returns two stacks over a Pipe (cfg) with conns TCP
// connections from the first to port 7 of the second, each as its client
// and server ends; all are closed when b ends.
func benchConns(b *testing.B, cfg *netspec.PipeConfig, conns int) (a, s *netspec.Stack, cs [][2]net.Conn) {
	a, s, err := netspec.Pipe(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close(); s.Close() })
	ln, err := s.Listen("tcp", ":7")
	if err != nil {
		b.Fatal(err)
	}
	for range conns {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		c, err := a.Dial(ctx, "tcp", "198.18.0.2:7")
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		sc, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { sc.Close() })
		cs = append(cs, [2]net.Conn{c, sc})
	}
	return a, s, cs
}

// BenchmarkScrape: one Prometheus scrape of a stack holding conns open
// connections, rendered to text (the collector reads a snapshot inside the
// event loop), without the HTTP transport. Reports the scrape's size.
func BenchmarkScrape(b *testing.B) {
	for _, conns := range []int{0, 100} {
		b.Run(strconv.Itoa(conns)+"conns", func(b *testing.B) {
			_, s, _ := benchConns(b, nil, conns)
			h := observe.Handler(s.Snapshot)
			req := httptest.NewRequest("GET", "/metrics", nil)
			var size int
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				size = w.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}

// BenchmarkSegmentObserved is the per-frame cost of the whole stack (two
// stacks over a Pipe, their event loops and a TCP connection) with the
// journey trace and the metrics off and on: per op the client writes 16 KiB
// and the server reads them; ns/frame divides by the frames both stacks
// received (data and ACKs: stack.FramesIn). "off" runs with neither;
// "trace" with an Options.Tracer that discards each record, on both stacks
// (every frame's rows, drop and headers recorded, nothing formatted);
// "metrics" with the Prometheus collector (observe.Handler) scraped every
// 1000 ops (a scrape costs what BenchmarkScrape says), included; "live"
// with a status page watching the server (an observe.Live stream open:
// the server's frames traced into its ring, a snapshot a second).
func BenchmarkSegmentObserved(b *testing.B) {
	for _, mode := range []string{"off", "trace", "metrics", "live"} {
		b.Run(mode, func(b *testing.B) {
			var ao, bo netspec.Options
			if mode == "trace" {
				ao.Tracer = func(*stack.Trace) {}
				bo.Tracer = func(*stack.Trace) {}
			}
			a, s, cs := benchConns(b, &netspec.PipeConfig{AOptions: &ao, BOptions: &bo}, 1)
			c, sc := cs[0][0], cs[0][1]
			if mode == "live" {
				watchLive(b, s)
			}
			h := observe.Handler(s.Snapshot)
			req := httptest.NewRequest("GET", "/metrics", nil)
			msg, buf := make([]byte, 16<<10), make([]byte, 16<<10)
			frames := func() uint64 { return a.Counters()["stack.FramesIn"] + s.Counters()["stack.FramesIn"] }
			f0, n := frames(), 0
			for b.Loop() {
				c.SetDeadline(time.Now().Add(guard))
				sc.SetDeadline(time.Now().Add(guard))
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(sc, buf); err != nil {
					b.Fatal(err)
				}
				if n++; mode == "metrics" && n%1000 == 0 {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("scrape: %d", w.Code)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames()-f0), "ns/frame")
		})
	}
}

// watchLive opens a status page stream (observe.Live) on s until the
// benchmark ends, and returns once it watches.
func watchLive(b *testing.B, s *netspec.Stack) {
	live := observe.NewLive(s.Snapshot, s.WatchTrace, observe.LiveOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(func() {
		cancel()
		live.Close()
	})
	go live.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, "GET", "/netspec/events", nil))
	for live.Clients() == 0 {
		time.Sleep(time.Millisecond)
	}
}

// TestSnapshotWrappedLinkCounters: a link under a capture and a fault
// injector (serve --pcap --faults) still shows its own counters in the
// snapshot, and so does the injector: wrapping a link hides none of them.
func TestSnapshotWrappedLinkCounters(t *testing.T) {
	ea, eb := pipe.New(pipe.Config{})
	defer eb.Close()
	faulty := pipe.NewFaulty(ea, pipe.Faults{})
	var capture bytes.Buffer
	st, err := netspec.New(faulty, netip.MustParsePrefix("198.18.0.1/24"), &netspec.Options{Pcap: &capture})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := driver.Unwrap(st.Link()); len(got) != 2 || got[1] != driver.Link(ea) {
		t.Fatalf("Unwrap(%T) = %v, want the injector and the pipe under it", st.Link(), got)
	}
	snap, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range snap.Counters {
		names[c.Name] = true
	}
	for _, want := range []string{"faults.Lost", "faults.Duplicated", "faults.TxSent"} {
		if !names[want] {
			t.Errorf("no %s among the snapshot's counters", want)
		}
	}
}
