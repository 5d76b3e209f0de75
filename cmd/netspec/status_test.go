package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/observe"
)

// TestStatusPage: the demo site serves the live status page, its diagram
// and its event stream. The stream's first event lists the stream's own
// connection ESTABLISHED; later ones carry the trace lines of its frames
// and a counter that moved. A shutdown with the stream open ends it (the
// client reads the end) and still drains cleanly.
func TestStatusPage(t *testing.T) {
	t.Setenv("NETSPEC_RUN_DIR", filepath.Join(t.TempDir(), "run"))
	cfg, err := parseServe([]string{"--iface", "p0", "--addr", "198.18.0.2/24", "--drain", "10s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := startPipeServer(t, cfg, 5)
	cli, code, cancel, logs := srv.cli, srv.code, srv.cancel, srv.logs
	local := make(chan string, 16) // the client ports of the connections dialled
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		c, err := netconn.Dial(ctx, cli, netip.MustParseAddrPort(addr))
		if err == nil {
			local <- c.LocalAddr().String()
		}
		return c, err
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	defer hc.CloseIdleConnections()
	get := func(path string) string {
		t.Helper()
		rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer rcancel()
		req, _ := http.NewRequestWithContext(rctx, "GET", "http://198.18.0.2"+path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s, %v", path, resp.Status, err)
		}
		<-local
		return string(body)
	}
	if page := get("/netspec/"); !strings.Contains(page, "netspec <span class=\"sub\">live</span>") || !strings.Contains(page, "live.js") {
		t.Errorf("GET /netspec/ = %.300q", page)
	}
	if js := get("/netspec/live.js"); !strings.Contains(js, "new EventSource(\"events\")") {
		t.Errorf("GET /netspec/live.js = %.300q", js)
	}
	if svg := get("/netspec/tcp.svg"); !strings.Contains(svg, "<title>Established</title>") {
		t.Errorf("GET /netspec/tcp.svg = %.300q", svg)
	}

	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	req, _ := http.NewRequestWithContext(sctx, "GET", "http://198.18.0.2/netspec/events", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("GET /netspec/events: %s, %q", resp.Status, ct)
	}
	own := <-local
	port := own[strings.LastIndex(own, ":"):]
	br := bufio.NewReader(resp.Body)
	next := func() observe.LiveEvent {
		t.Helper()
		var ev observe.LiveEvent
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					t.Fatal(err)
				}
				return ev
			}
		}
	}
	first := next()
	found := false
	for _, so := range first.Sockets {
		found = found || so.State == "Established" && so.Local == "198.18.0.2:80" && so.Remote == own
	}
	if !found || first.States["Listen"] != 1 || first.Clients != 1 {
		t.Errorf("first event lacks the stream's own connection %s ESTABLISHED: %+v", own, first)
	}
	second := next()
	if segs(second) <= segs(first) {
		t.Errorf("tcp.SegsIn did not move between two events: %d, %d", segs(first), segs(second))
	}
	if tr := strings.Join(second.Trace, "\n"); !strings.Contains(tr, port+">:80 ACK ESTABLISHED tcp.fsm:") {
		t.Errorf("trace lacks the stream's own ACKs (port %s):\n%s", port, tr)
	}

	cancel() // SIGTERM: the stream ends, the stack drains
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Errorf("stream at shutdown: %v, want its end", err)
	}
	if c := <-code; c != exitOK {
		t.Fatalf("exit code %d after shutdown; log:\n%s", c, logs.String())
	}
	if log := logs.String(); !strings.Contains(log, "drained: every connection finished") {
		t.Errorf("shutdown with a stream open did not drain:\n%s", log)
	}
}

// segs is the event's tcp.SegsIn.
func segs(ev observe.LiveEvent) uint64 {
	for _, c := range ev.Counters {
		if c.Name == "tcp.SegsIn" {
			return c.Value
		}
	}
	return 0
}
