package observe

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/stack"
)

// guard bounds every wait of these tests; none expects to reach it.
const guard = 20 * time.Second

// pipeListener is an in-memory listener: dial hands the server one end of a
// net.Pipe (which has deadlines), so these tests use no kernel socket.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "pipe"} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fakeStack is what a Live reads: a snapshot whose counter grows at each
// read, and a trace watch that records whether it is on.
type fakeStack struct {
	mu       sync.Mutex
	reads    uint64
	watching int
	tracer   func(*stack.Trace)
}

func (f *fakeStack) snap() (Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return Snapshot{Addr: "198.18.0.2/24", Counters: []Counter{{Name: "tcp.SegsIn", Group: "Tcp", Value: f.reads}, {Name: "tcp.Zero", Group: "Tcp"}},
		Rules: []RuleHits{{Src: "spec/tcp.fsm:1", Hits: 1}, {Src: "spec/tcp.fsm:2"}, {Src: "spec/tcp.fsm:3", Hits: 5}},
		Sockets: []Socket{{State: "Listen", Local: "198.18.0.2:80"}, {State: "Established", Local: "198.18.0.2:80", Remote: "198.18.0.1:4000"},
			{State: "Established", Local: "198.18.0.2:80", Remote: "198.18.0.1:4001"}}}, nil
}

func (f *fakeStack) watch(fn func(*stack.Trace)) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watching++
	f.tracer = fn
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.watching--
			f.mu.Unlock()
		})
	}, nil
}

// trace feeds the watcher one frame's journey, as the stack would.
func (f *fakeStack) trace(id uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tracer != nil && f.watching > 0 {
		f.tracer(&stack.Trace{ID: id, Len: 60})
	}
}

func (f *fakeStack) watchers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watching
}

// liveServer serves l over a pipeListener; it stops with the test.
func liveServer(t *testing.T, l *Live) (*http.Client, *pipeListener) {
	t.Helper()
	ln := newPipeListener()
	srv := &http.Server{Handler: l}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		l.Close()
		srv.Close()
		<-done
	})
	return &http.Client{Transport: &http.Transport{DialContext: ln.dial}}, ln
}

// stream opens an event stream; cancel ends it from the client's side.
func stream(t *testing.T, c *http.Client) (next func() (LiveEvent, error), cancel func()) {
	t.Helper()
	ctx, stop := context.WithTimeout(context.Background(), guard)
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://live/events", nil)
	resp, err := c.Do(req)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		stop()
		t.Fatalf("stream: %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	next = func() (LiveEvent, error) {
		var ev LiveEvent
		var name, data string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return ev, err
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				data = line[len("data: "):]
			case line == "":
				if name != "snapshot" {
					return ev, fmt.Errorf("event %q", name)
				}
				return ev, json.Unmarshal([]byte(data), &ev)
			}
		}
	}
	return next, func() { stop(); resp.Body.Close() }
}

// waitFor polls cond until it holds, failing after guard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(guard); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", guard, what)
		}
	}
}

// TestLiveStream: a stream sends an event at once and then every interval;
// it carries the non-zero counters (one of which moves), the sockets and
// their count per state, the most fired rules first and the trace lines
// fed while the stream watched. The trace is watched only while a stream
// is open, and the stream's handler ends when its client leaves.
func TestLiveStream(t *testing.T) {
	f := &fakeStack{}
	l := NewLive(f.snap, f.watch, LiveOptions{Interval: 5 * time.Millisecond, TraceLines: 2})
	c, _ := liveServer(t, l)
	if f.watchers() != 0 {
		t.Fatal("trace watched before any stream")
	}
	next, cancel := stream(t, c)
	first, err := next()
	if err != nil {
		t.Fatal(err)
	}
	if f.watchers() != 1 || l.Clients() != 1 {
		t.Fatalf("one stream open: %d watchers, %d clients", f.watchers(), l.Clients())
	}
	for id := uint64(1); id <= 3; id++ {
		f.trace(id)
	}
	var ev LiveEvent
	for ev.Traced < 3 {
		if ev, err = next(); err != nil {
			t.Fatal(err)
		}
	}
	if len(ev.Trace) != 2 || !strings.HasPrefix(ev.Trace[0], "#2 eth 60B") || !strings.HasPrefix(ev.Trace[1], "#3 eth 60B") {
		t.Errorf("trace = %q, want the last two lines, #2 and #3", ev.Trace)
	}
	if ev.Counters[0].Value <= first.Counters[0].Value {
		t.Errorf("tcp.SegsIn did not move: %d then %d", first.Counters[0].Value, ev.Counters[0].Value)
	}
	if len(ev.Counters) != 1 || ev.States["Established"] != 2 || ev.States["Listen"] != 1 || len(ev.Sockets) != 3 || ev.Clients != 1 {
		t.Errorf("event %+v", ev)
	}
	if len(ev.Rules) != 2 || ev.Rules[0].Src != "spec/tcp.fsm:3" {
		t.Errorf("rules %+v, want the two that fired, most first", ev.Rules)
	}
	cancel()
	waitFor(t, "the stream's handler to end after its client left", func() bool { return l.Clients() == 0 })
	if f.watchers() != 0 {
		t.Error("trace still watched after the last stream ended")
	}
}

// TestLiveClose: Close ends every open stream (its client reads the end),
// returns only once their handlers did, and refuses later streams.
func TestLiveClose(t *testing.T) {
	f := &fakeStack{}
	l := NewLive(f.snap, f.watch, LiveOptions{Interval: time.Hour})
	c, _ := liveServer(t, l)
	var nexts []func() (LiveEvent, error)
	for range 3 {
		next, cancel := stream(t, c)
		defer cancel()
		if _, err := next(); err != nil {
			t.Fatal(err)
		}
		nexts = append(nexts, next)
	}
	if l.Clients() != 3 {
		t.Fatalf("%d clients, want 3", l.Clients())
	}
	l.Close()
	if l.Clients() != 0 || f.watchers() != 0 {
		t.Fatalf("after Close: %d clients, %d watchers", l.Clients(), f.watchers())
	}
	for i, next := range nexts {
		if _, err := next(); err != io.EOF {
			t.Errorf("stream %d after Close: %v, want EOF", i, err)
		}
	}
	resp, err := c.Get("http://live/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("stream after Close: %s, want 503", resp.Status)
	}
}

// TestLiveMaxClients: a stream beyond MaxClients is refused with 503 and
// counted; once one leaves, a new one is served.
func TestLiveMaxClients(t *testing.T) {
	f := &fakeStack{}
	l := NewLive(f.snap, f.watch, LiveOptions{Interval: time.Hour, MaxClients: 2})
	c, _ := liveServer(t, l)
	_, cancel1 := stream(t, c)
	_, cancel2 := stream(t, c)
	defer cancel2()
	resp, err := c.Get("http://live/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || l.Refused() != 1 {
		t.Fatalf("third stream: %s, %d refused; want 503, 1", resp.Status, l.Refused())
	}
	cancel1()
	waitFor(t, "the first stream to end", func() bool { return l.Clients() == 1 })
	next, cancel3 := stream(t, c)
	defer cancel3()
	if _, err := next(); err != nil {
		t.Fatal(err)
	}
}

// TestLiveStalledClient: a client that sends its request and never reads
// is dropped once a write stalls for WriteTimeout; its handler ends.
func TestLiveStalledClient(t *testing.T) {
	f := &fakeStack{}
	l := NewLive(f.snap, f.watch, LiveOptions{Interval: time.Millisecond, WriteTimeout: 20 * time.Millisecond})
	_, ln := liveServer(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	conn, err := ln.dial(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /events HTTP/1.1\r\nHost: live\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The stream opened once it read a snapshot (it may end before a
	// poll sees it open).
	waitFor(t, "the stream to open", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.reads > 0
	})
	waitFor(t, "the stalled stream's handler to end", func() bool { return l.Clients() == 0 })
	if f.watchers() != 0 {
		t.Error("trace still watched after the stalled stream ended")
	}
}

// TestLiveMethod: only GET opens a stream.
func TestLiveMethod(t *testing.T) {
	f := &fakeStack{}
	l := NewLive(f.snap, f.watch, LiveOptions{})
	c, _ := liveServer(t, l)
	resp, err := c.Post("http://live/events", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || l.Clients() != 0 {
		t.Errorf("POST: %s, %d clients", resp.Status, l.Clients())
	}
}
