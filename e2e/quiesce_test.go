package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/lab/labtest"
	"github.com/netspec/netspec/fsm/stack"
)

// settleGuard bounds how long TestServerQuiescesAfterLinuxClients waits, in
// real time, for every connection to end (TIME-WAIT is 1 s here).
const settleGuard = 30 * time.Second

// TestServerQuiescesAfterLinuxClients: after real Linux clients finish, in
// every way a client can (curl's keep-alive fetches, a wrk run, clients that
// close before sending, clients that reset with a request half sent, and a
// client that stops reading a large response), the server's connection
// table, TIME-WAIT records, out-of-order store and lent rings return to
// zero once the timers run out: every connection ends and gives back what
// it took (issue 12, read through the stack's counters). TIME-WAIT and the
// FIN-WAIT-2 timeout are shortened so the run stays short.
//
// It runs with one event loop and with two (Options.Loops): then both
// loops serve connections (their own counters say so), ARP reaches loop 0
// only, so loop 1 answers its clients with what loop 0 learned, and when
// the stack is closed every goroutine it started has returned.
func TestServerQuiescesAfterLinuxClients(t *testing.T) {
	labtest.SkipUnlessLab(t)
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) { quiesceAfterClients(t, loops) })
	}
}

func quiesceAfterClients(t *testing.T, loops int) {
	l := labtest.ForTest(t)
	labtest.NeedTools(t, "curl", "wrk", "bash")
	goroutines := runtime.NumGoroutine()
	opts := &netspec.Options{Loops: loops, Tune: func(c *stack.Config) {
		c.TCP.MSL = 500 * time.Millisecond
		c.TCP.FinWait2Timeout = 2 * time.Second
	}}
	st := openLabStack(t, l, opts)
	t.Cleanup(func() { st.Close() })
	ln, err := st.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 4<<20)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, big)
			return
		}
		io.WriteString(w, "hello, netspec\n")
	})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := "http://" + l.ServerAddr().Addr().String()
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := l.ClientCmd(ctx, name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	run("bash", "-c", "for i in $(seq 20); do curl -sf -o /dev/null "+url+"/ || exit 1; done")
	run("curl", "-sf", "-o", "/dev/null", url+"/", url+"/", url+"/") // one keep-alive connection
	run("wrk", "-t1", "-c10", "-d2s", "--timeout", "2s", url+"/")
	// A client that stops reading a large response: its kernel resets the
	// connection with data unread (curl exits on a closed pipe).
	l.ClientCmd(ctx, "bash", "-c", "curl -s "+url+"/big | head -c 1000 >/dev/null").Run()
	// Clients that close before sending, and clients that reset with half a
	// request sent (SO_LINGER 0).
	if err := l.RunInClientNS(func() error {
		for i := range 10 {
			c, err := net.DialTimeout("tcp", l.ServerAddr().Addr().String()+":80", 5*time.Second)
			if err != nil {
				return err
			}
			if i%2 == 1 {
				c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n"))
				c.(*net.TCPConn).SetLinger(0)
			}
			c.Close()
		}
		return nil
	}); err != nil {
		t.Fatalf("aborting clients: %v", err)
	}

	keys := []string{"tcp.Conns", "tcp.TimeWaitRecords", "tcp.OOOBytes", "tcp.RingsLent"}
	var last map[string]uint64
	for deadline := time.Now().Add(settleGuard); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		last = st.Counters()
		busy := false
		for _, k := range keys {
			if v, ok := last[k]; !ok {
				t.Fatalf("counter %s missing", k)
			} else if v != 0 {
				busy = true
			}
		}
		if !busy {
			break
		}
	}
	var held []string
	for _, k := range keys {
		if last[k] != 0 {
			held = append(held, fmt.Sprintf("%s=%d", k, last[k]))
		}
	}
	if len(held) > 0 {
		t.Fatalf("%v after every client finished and %v passed: connections did not all end", held, settleGuard)
	}
	if last["tcp.Established"] < 30 || last["tcp.EstabResets"] == 0 {
		t.Fatalf("the clients did not run as meant: %d established, %d reset", last["tcp.Established"], last["tcp.EstabResets"])
	}
	t.Logf("%d connections established, %d ended by a reset; all ended and gave back their rings", last["tcp.Established"], last["tcp.EstabResets"])
	if loops > 1 {
		checkLoopsShared(t, st)
	}
	srv.Close()
	<-served
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); n > goroutines && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	if n > goroutines {
		t.Fatalf("%d goroutines after Close, %d before the stack started", n, goroutines)
	}
}

// checkLoopsShared checks that every loop of st served connections, that
// only loop 0 answered ARP (the fanout group gives it every ARP frame), and
// that the others learned the clients' addresses from it.
func checkLoopsShared(t *testing.T, st *netspec.Stack) {
	t.Helper()
	stats := st.Stats()
	var opens uint64
	for i := range st.Loops() {
		c := st.LoopCounters(i)
		opens += c["tcp.PassiveOpens"]
		t.Logf("loop %d: %d frames in, %d out, %d passive opens, %d ARP replies sent", i,
			stats.Loops[i].RxFrames, stats.Loops[i].TxFrames, c["tcp.PassiveOpens"], c["stack.ARPRepliesOut"])
		if c["tcp.PassiveOpens"] == 0 || stats.Loops[i].RxFrames == 0 {
			t.Errorf("loop %d served no connection: %d passive opens, %d frames in", i, c["tcp.PassiveOpens"], stats.Loops[i].RxFrames)
		}
		if replies := c["stack.ARPRepliesOut"]; (i == 0) != (replies > 0) {
			t.Errorf("loop %d sent %d ARP replies: want them from loop 0 only", i, replies)
		}
	}
	if all := st.Counters()["tcp.PassiveOpens"]; all != opens {
		t.Errorf("Counters: %d passive opens, the loops' sum is %d", all, opens)
	}
	snap, byName := snapshotCounters(t, st)
	if byName["tcp.PassiveOpens"] != opens {
		t.Errorf("Snapshot: %d passive opens, the loops' sum is %d", byName["tcp.PassiveOpens"], opens)
	}
	listeners := map[int]int{} // loop -> listening sockets
	for _, so := range snap.Sockets {
		if so.State == "Listen" {
			listeners[so.Loop]++
		}
	}
	for i := range st.Loops() {
		if listeners[i] != 1 {
			t.Errorf("Snapshot: loop %d holds %d listening sockets, want 1 (sockets by loop: %v)", i, listeners[i], listeners)
		}
	}
	for _, name := range []string{"loop.0.RxFrames", "loop.1.RxFrames", "loop.NeighboursShared"} {
		if byName[name] == 0 {
			t.Errorf("Snapshot: %s = 0 (or missing)", name)
		}
	}
	if stats.NeighboursShared == 0 || stats.NeighbourDrops != 0 {
		t.Errorf("neighbours shared %d, dropped %d: want some shared, none dropped", stats.NeighboursShared, stats.NeighbourDrops)
	}
}

// openLabStack opens a netspec stack with opts on the lab's server
// interface (its links opened inside the server namespace); the caller
// closes it.
func openLabStack(t *testing.T, l *lab.Lab, opts *netspec.Options) *netspec.Stack {
	t.Helper()
	st, _ := openLabStackLinks(t, l, opts)
	return st
}

// openLabStackLinks is openLabStack, also returning the links' Shard
// (nil with one loop).
func openLabStackLinks(t *testing.T, l *lab.Lab, opts *netspec.Options) (*netspec.Stack, func(a, b uint16) int) {
	t.Helper()
	var links *netspec.Links
	if err := l.RunInServerNS(func() (err error) {
		links, err = netspec.OpenLinks(l.ServerIface(), opts)
		return err
	}); err != nil {
		t.Fatalf("open server links: %v", err)
	}
	st, err := netspec.NewLinks(links, l.ServerAddr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return st, links.Shard
}
