package netspec_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/bench/handler"
)

// holdIdle opens n connections from a to b:80, where b runs serve on its
// listener; each client sends req, reads one response line set (up to an
// empty line and then the body of bodyLen octets), and then every
// connection is left open and idle. It returns the client conns.
func holdIdle(t testing.TB, a *netspec.Stack, n int, req string, bodyLen int) []net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	conns := make([]net.Conn, 0, n)
	buf := make([]byte, 4096)
	for i := range n {
		c, err := a.Dial(ctx, "tcp", "198.18.0.2:80")
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		c.SetReadDeadline(time.Now().Add(guard))
		br := bufio.NewReaderSize(c, 512)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
			if line == "\r\n" || line == "\n" {
				break
			}
		}
		if _, err := io.ReadFull(br, buf[:bodyLen]); err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		c.SetReadDeadline(time.Time{})
		conns = append(conns, c)
	}
	return conns
}

// settle waits until neither stack has a ring lent (every connection idle:
// read, acknowledged) and then a little more for delayed ACKs.
func settle(t testing.TB, stacks ...*netspec.Stack) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for _, s := range stacks {
		for s.Counters()["tcp.RingsLent"] != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("rings still lent: %d", s.Counters()["tcp.RingsLent"])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond) // delayed ACKs (at most 200 ms) go out
}

func heapNow() runtime.MemStats {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m
}

// TestIdleConnHeapHTTP measures what n idle keep-alive connections cost in
// one process: the server runs the benchmark's net/http handler on stack B,
// the clients on stack A hold their connections after one GET /hello. It
// logs the heap and goroutine stacks per connection; with
// NETSPEC_HEAPPROFILE=FILE it writes the heap profile taken while they are
// held (go tool pprof -inuse_space FILE).
func TestIdleConnHeapHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	n := 2000
	if os.Getenv("NETSPEC_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	a, b := pair(t, nil)
	ln, err := b.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler.New(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 10 * time.Minute}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	holdIdle(t, a, 10, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", len(handler.Hello)) // warm up the pools
	settle(t, a, b)
	before := heapNow()
	conns := holdIdle(t, a, n, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", len(handler.Hello))
	settle(t, a, b)
	after := heapNow()
	t.Logf("%d idle keep-alive connections (both ends in this process, net/http on one): heap %.0f B/conn, stacks %.0f B/conn, goroutines %d",
		n, float64(after.HeapAlloc-before.HeapAlloc)/float64(n), float64(after.StackInuse-before.StackInuse)/float64(n), runtime.NumGoroutine())
	if f := os.Getenv("NETSPEC_HEAPPROFILE"); f != "" {
		writeHeapProfile(t, f)
	}
	for _, c := range conns {
		c.Close()
	}
}

// idleConnHeapBudget is the most heap an idle connection end may hold in
// the stack (tcp.Conn, the stack's descriptor and tables, the timer entry,
// netconn.Conn, its deadline and the waiter of the Read blocked on it).
const idleConnHeapBudget = 2048

// TestIdleConnHeapBudget holds n idle connections between two stacks,
// each end with a goroutine blocked in Read under a read deadline (as
// net/http's keep-alive wait: SetReadDeadline, then Read), after one
// request and response; the heap they hold, per connection end, must stay
// under idleConnHeapBudget. What the application's goroutines hold (their
// descriptors, closures and buffers), measured in the same run with the
// same goroutines parked on a channel, is not counted; nor are goroutine
// stacks. A change that grows a connection's state fails here.
//
// The measurement runs in a process of its own (this test binary again),
// so that what other tests leave behind does not count.
func TestIdleConnHeapBudget(t *testing.T) {
	if os.Getenv("NETSPEC_IDLEHEAP_CHILD") != "" {
		if os.Getenv("NETSPEC_HEAPPROFILE") != "" {
			runtime.MemProfileRate = 1
		}
		fmt.Printf("idleheap %.0f\n", idleHeapPerEnd(t, 2000))
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleConnHeapBudget$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "NETSPEC_IDLEHEAP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("measuring process: %v\n%s", err, out)
	}
	var per float64
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(line, "idleheap "); ok {
			per, err = strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if per == 0 {
		t.Fatalf("measuring process printed no figure:\n%s", out)
	}
	t.Logf("heap per idle connection end: %.0f B (budget %d)", per, idleConnHeapBudget)
	if per > idleConnHeapBudget {
		t.Errorf("an idle connection end holds %.0f B of heap, over the budget of %d B", per, idleConnHeapBudget)
	}
}

// parker is what park needs of a connection.
type parker interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
}

// park reads want octets, answers with 32 if answer, and then waits in Read
// under a read deadline, like an idle keep-alive connection, until the
// connection is closed.
func park(wg *sync.WaitGroup, t *testing.T, c parker, want int, answer bool) {
	defer wg.Done()
	var b [32]byte
	if _, err := io.ReadFull(c, b[:want]); err != nil {
		t.Errorf("read: %v", err)
		return
	}
	if answer {
		if _, err := c.Write(b[:32]); err != nil {
			t.Errorf("write: %v", err)
			return
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Minute))
	c.Read(b[:1])
}

// parked is a parker whose Read blocks until stop is closed: park on it
// holds what the application's goroutine holds, and no connection.
type parked struct{ stop chan struct{} }

func (p parked) Read(b []byte) (int, error) {
	<-p.stop
	return len(b), nil
}
func (p parked) Write(b []byte) (int, error)     { return len(b), nil }
func (p parked) SetReadDeadline(time.Time) error { return nil }

// idleHeapPerEnd returns the heap the stack holds per idle connection end
// with n connections held (see TestIdleConnHeapBudget).
func idleHeapPerEnd(t *testing.T, n int) float64 {
	a, b := pair(t, nil)
	ln, err := b.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	var held []net.Conn
	defer func() { // also when the test fails: the parked goroutines end
		for _, c := range held {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	// open opens k connections in groups of burst: in each group it sends
	// a request on each before any is read and a response on each before
	// any is read (so that, with burst above the pools' bound, the pools
	// fill up), and leaves every end parked.
	open := func(k, burst int) {
		var all []net.Conn
		for len(all) < 2*k {
			var clis, srvs []net.Conn
			for range min(burst, k-len(all)/2) {
				c, err := a.Dial(ctx, "tcp", "198.18.0.2:80")
				if err != nil {
					t.Fatal(err)
				}
				s, err := ln.Accept()
				if err != nil {
					t.Fatal(err)
				}
				clis, srvs = append(clis, c), append(srvs, s)
				held = append(held, c, s)
			}
			for _, c := range clis {
				if _, err := c.Write(make([]byte, 16)); err != nil {
					t.Fatal(err)
				}
			}
			wg.Add(2 * len(clis))
			for _, s := range srvs {
				go park(&wg, t, s, 16, true)
			}
			for _, c := range clis {
				go park(&wg, t, c, 32, false)
			}
			all = append(append(all, clis...), srvs...)
		}
	}
	// The application's share: the same goroutines, parked on a channel
	// (and kept parked, so that neither set reuses the other's goroutines).
	stop := make(chan struct{})
	var appWG sync.WaitGroup
	defer appWG.Wait()
	defer close(stop)
	appBefore := heapNow()
	appWG.Add(2 * n)
	for range 2 * n {
		go park(&appWG, t, parked{stop}, 16, false)
	}
	appAfter := heapNow()
	open(100, 100)
	settle(t, a, b)
	// Two rounds of n connections; the smaller growth counts, as a bounded
	// queue (the link's, the pipe's) that grew in a round is not a cost of
	// the connections.
	best := math.Inf(1)
	for round := range 2 {
		poolsBefore := pooled(a, b)
		before := heapNow()
		open(n, 20)
		settle(t, a, b)
		after := heapNow()
		pools := pooled(a, b) - poolsBefore
		if f := os.Getenv("NETSPEC_HEAPPROFILE"); f != "" {
			writeHeapProfile(t, fmt.Sprintf("%s.%d", f, round))
		}
		total := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		t.Logf("round %d, %d connections: heap %+.0f B, the stacks' buffer pools %+.0f B", round, n, total, pools)
		best = min(best, total-pools)
	}
	app := float64(appAfter.HeapAlloc) - float64(appBefore.HeapAlloc)
	t.Logf("the application's goroutines for %d connections: %+.0f B", n, app)
	return (best - app) / float64(2*n)
}

// pooled returns the octets the stacks' buffer pools keep.
func pooled(stacks ...*netspec.Stack) float64 {
	n := 0.0
	for _, s := range stacks {
		n += float64(s.Counters()["tcp.PoolBytes"])
	}
	return n
}

func writeHeapProfile(t *testing.T, name string) {
	w, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := pprof.Lookup("heap").WriteTo(w, 0); err != nil {
		t.Fatal(err)
	}
}
