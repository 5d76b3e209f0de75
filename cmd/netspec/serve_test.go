package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/lab/labtest"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/observe"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// TestServeOverPipe runs the serve path (stack, loop, services) on one end of
// an in-memory pipe and talks to it from a second stack: the demo site, /big,
// echo with half-close, then a clean shutdown.
func TestServeOverPipe(t *testing.T) {
	t.Setenv("NETSPEC_RUN_DIR", filepath.Join(t.TempDir(), "run"))
	capture := filepath.Join(t.TempDir(), "serve.pcapng")
	traceJSON := filepath.Join(t.TempDir(), "trace.jsonl")
	cfg, err := parseServe([]string{"--iface", "p0", "--addr", "198.18.0.2/24", "--http", "80", "--echo", "7", "--pcap", capture, "--trace", "port 7", "--trace-json", traceJSON}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var traced labtest.SyncBuffer
	cfg.traceOut = &traced
	srv := startPipeServer(t, cfg, 3)
	cli, code, cancel := srv.cli, srv.code, srv.cancel
	logs := srv.logs

	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		return netconn.Dial(ctx, cli, netip.MustParseAddrPort(addr))
	}
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: dial}}
	resp, err := hc.Get("http://198.18.0.2:80/")
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "served by <strong>netspec</strong>") {
		t.Fatalf("GET / = %q", body)
	}
	resp, err = hc.Get("http://198.18.0.2:80/big?size=300000")
	if err != nil {
		t.Fatal(err)
	}
	big, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(big) != 300000 || !bytes.Equal(big[:len(bigChunk)], bigChunk) {
		t.Fatalf("GET /big: %d bytes, %v", len(big), err)
	}
	if resp, err := hc.Get("http://198.18.0.2:80/big?size=-1"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("GET /big?size=-1: %v %v", resp, err)
	}

	ec, err := dial(context.Background(), "tcp", "198.18.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	ec.Write([]byte("ping"))
	ec.(*netconn.Conn).CloseWrite()
	ec.SetReadDeadline(time.Now().Add(20 * time.Second))
	if got, err := io.ReadAll(ec); err != nil || string(got) != "ping" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	ec.Close()
	checkStatSS(t)

	cancel()
	if c := <-code; c != exitOK {
		t.Fatalf("exit code %d after shutdown; log:\n%s", c, logs.String())
	}
	if c, _, stderr := runCmd("stat"); c != exitFailure || !strings.Contains(stderr, "no netspec server running") {
		t.Errorf("stat after shutdown: exit %d, %q", c, stderr)
	}
	log := logs.String()
	for _, want := range []string{"netspec serving", "iface=p0", "addr=198.18.0.2/24", "mac=" + srv.mac.String(), "services=http/80,echo/7", "netspec stopped", "pcap written"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	// --trace 'port 7': one line per frame of the echo connection only.
	lines := strings.Split(strings.TrimSpace(traced.String()), "\n")
	for _, l := range lines {
		if !strings.Contains(l, ">:7 ") || !strings.HasPrefix(l, "#") {
			t.Errorf("--trace 'port 7' printed %q", l)
		}
	}
	if tr := traced.String(); !strings.Contains(tr, ">:7 SYN LISTEN tcp.fsm:") || !strings.Contains(tr, "> new conn SYN-RECEIVED, sent SYN,ACK") {
		t.Errorf("--trace lacks the echo connection's SYN:\n%s", tr)
	}
	// --trace-json: the same frames, one JSON object a line.
	js, err := os.ReadFile(traceJSON)
	if err != nil {
		t.Fatal(err)
	}
	jl := strings.Split(strings.TrimSpace(string(js)), "\n")
	if len(jl) != len(lines) {
		t.Errorf("--trace-json has %d lines, --trace %d", len(jl), len(lines))
	}
	var rec netspec.TraceRecord
	if err := json.Unmarshal([]byte(jl[0]), &rec); err != nil || rec.DstPort != 7 || rec.Line != lines[0] || len(rec.Rows) < 6 || rec.Rows[5].Machine != "tcp" || rec.Rows[5].State != "Listen" {
		t.Errorf("first JSON record %+v (%v), want the line %q", rec, err, lines[0])
	}
	// --pcap captured the whole conversation: ARP, the HTTP and echo
	// exchanges (more than 300 kB of responses), in pcapng format.
	p, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) < 12+300000 || binary.LittleEndian.Uint32(p) != 0x0a0d0d0a || binary.LittleEndian.Uint32(p[8:]) != 0x1a2b3c4d {
		t.Fatalf("capture is %d bytes (header % x), want pcapng", len(p), p[:min(12, len(p))])
	}
}

// pipeServer is runStack serving on one end of an in-memory pipe, and a
// client stack's loop (198.18.0.1) on the other.
type pipeServer struct {
	cli    *driver.Loop
	code   chan int // runStack's exit code
	cancel context.CancelFunc
	logs   *labtest.SyncBuffer
	mac    net.HardwareAddr // the server's
}

// startPipeServer runs cfg (--iface p0) until the returned server's cancel
// and returns once it serves; the client stack uses seed. Both stop with
// the test.
func startPipeServer(t *testing.T, cfg serveConfig, seed uint64) *pipeServer {
	t.Helper()
	a, b := pipe.New(pipe.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	mac := b.MAC()
	p := &pipeServer{code: make(chan int, 1), cancel: cancel, logs: &labtest.SyncBuffer{}, mac: net.HardwareAddr(mac[:])}
	serving := make(chan struct{})
	go func() {
		p.code <- runStack(ctx, cfg, "p0", &netspec.Links{Each: []driver.Link{b}}, slog.New(slog.NewTextHandler(p.logs, nil)), p.logs, func() { close(serving) })
	}()
	select {
	case <-serving:
	case c := <-p.code:
		t.Fatalf("runStack exited %d before serving:\n%s", c, p.logs.String())
	}
	p.cli = driver.NewLoop(a, stack.New(stack.Config{MAC: a.MAC(), Addr: wire.Addr{198, 18, 0, 1}, PrefixLen: 24, Seed: seed}), driver.LoopOptions{})
	go p.cli.Run(context.Background())
	t.Cleanup(func() { p.cli.Close() })
	return p
}

// runCmd runs the command line args and returns its exit code and output.
func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// checkStatSS reads the server of TestServeOverPipe (its control socket
// p0.sock) with netspec stat and ss, as text and JSON.
func checkStatSS(t *testing.T) {
	t.Helper()
	code, out, stderr := runCmd("ss")
	if code != exitOK {
		t.Fatalf("ss: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"State", "Recv-Q", "LISTEN", "198.18.0.2:80", "198.18.0.2:7", "ESTAB", "198.18.0.1:", "rto:", "cwnd:", "rule:spec/tcp.fsm:"} {
		if !strings.Contains(out, want) {
			t.Errorf("ss lacks %q:\n%s", want, out)
		}
	}
	code, out, stderr = runCmd("stat", "--iface", "p0")
	if code != exitOK {
		t.Fatalf("stat: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Link:", "Ip:", "Tcp:", "TcpExt:", "tcp.PassiveOpens", "ip.drop.BadChecksum", "Rules:", "spec/tcp.fsm:"} {
		if !strings.Contains(out, want) {
			t.Errorf("stat lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCmd("stat", "--json")
	var snap observe.Snapshot
	if err := json.Unmarshal([]byte(out), &snap); code != exitOK || err != nil {
		t.Fatalf("stat --json: exit %d, %v", code, err)
	}
	opens := -1
	for _, c := range snap.Counters {
		if c.Name == "tcp.PassiveOpens" {
			opens = int(c.Value)
		}
	}
	if opens < 2 { // the HTTP client's connection(s) and the echo's
		t.Errorf("stat --json: tcp.PassiveOpens = %d, want at least 2", opens)
	}
	code, out, _ = runCmd("ss", "--json")
	var ss struct{ Sockets []observe.Socket }
	if err := json.Unmarshal([]byte(out), &ss); code != exitOK || err != nil || len(ss.Sockets) < 3 {
		t.Fatalf("ss --json: exit %d, %v, %d sockets", code, err, len(ss.Sockets))
	}
	if c, _, stderr := runCmd("ss", "--iface", "nosuch"); c != exitFailure || !strings.Contains(stderr, "no netspec server running") {
		t.Errorf("ss --iface nosuch: exit %d, %q", c, stderr)
	}
}
