package netconn_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/history"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
	"github.com/netspec/netspec/fuzz/linz"
)

// histGuard bounds how long one connection of a history test may run; a
// connection that hits it is recorded as timed out (legal), and the test
// requires most connections to finish. Over the lossy pipe a lost RST leaves
// the server's Read waiting this long (legal: the model allows it), so it is
// kept short enough not to dominate make test.
const histGuard = 10 * time.Second

// histLoops runs a client and a server stack over a faulty pipe, each under
// its own Loop.
func histLoops(t *testing.T, f pipe.Faults) (cli, srv *driver.Loop, a, b *pipe.End) {
	t.Helper()
	g := f
	g.Seed = f.Seed + 1
	a, b = pipe.New(pipe.Config{AtoB: f, BtoA: g})
	cliAddr, srvAddr := wire.Addr{198, 18, 0, 1}, wire.Addr{198, 18, 0, 2}
	cli = driver.NewLoop(a, stack.New(stack.Config{MAC: a.MAC(), Addr: cliAddr, PrefixLen: 24, MTU: a.MTU(), Seed: f.Seed}), driver.LoopOptions{})
	srv = driver.NewLoop(b, stack.New(stack.Config{MAC: b.MAC(), Addr: srvAddr, PrefixLen: 24, MTU: b.MTU(), Seed: f.Seed + 7}), driver.LoopOptions{})
	runLoops(t, cli, srv)
	return cli, srv, a, b
}

// histEcho serves echo on port with a recording listener: each connection
// is copied back, half-closed after the client's FIN, then closed.
func histEcho(t *testing.T, srv *driver.Loop, port uint16, rec netconn.Recorder, wg *sync.WaitGroup) *netconn.Listener {
	t.Helper()
	ln, err := netconn.ListenOptions(srv, port, 512, netconn.Options{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				nc := c.(*netconn.Conn)
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(histGuard))
				if _, err := io.Copy(nc, nc); err == nil {
					nc.CloseWrite()
				}
			})
		}
	})
	return ln
}

// histClient is one client connection's workload: a writer sending seeded
// chunks then a FIN (or, for abort, resetting halfway), a reader draining
// the echo to EOF, both at once. It reports whether the echo came back whole.
func histClient(ctx context.Context, cli *driver.Loop, port uint16, rec netconn.Recorder, seed uint64, abort bool) bool {
	c, err := netconn.DialOptions(ctx, cli, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, 2}), port), netconn.Options{Recorder: rec})
	if err != nil {
		return false
	}
	return histWork(c, seed, abort)
}

// workConn is what histWork needs: a netconn.Conn or a recorded kernel
// connection (history.Conn).
type workConn interface {
	io.ReadWriter
	CloseWrite() error
	Close() error
	Abort() error
	SetDeadline(time.Time) error
}

func histWork(c workConn, seed uint64, abort bool) bool {
	c.SetDeadline(time.Now().Add(histGuard))
	r := rand.New(rand.NewPCG(seed, 1))
	var sent []byte
	chunks := 1 + r.IntN(4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range chunks {
			d := make([]byte, 1+r.IntN(3000))
			for j := range d {
				d[j] = byte(r.Uint32())
			}
			if abort && i == chunks/2 {
				c.Abort()
				return
			}
			if _, err := c.Write(d); err != nil {
				return
			}
			sent = append(sent, d...)
		}
		c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	<-done
	c.Close()
	return !abort && err == nil && bytes.Equal(got, sent)
}

// TestHistoryLinearizable records both ends of 240 concurrent echo
// connections (some aborted) between two stacks over a pipe that loses,
// duplicates and reorders frames, and checks the history with porcupine. The
// same history with one read corrupted must be rejected, so the check is
// shown to look at the bytes.
func TestHistoryLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("240 connections in real time")
	}
	// Under the race detector (make test's second pass, for data races)
	// fewer connections fit the guard on a loaded machine; the full count
	// runs in the first pass.
	conns := 240
	if raceOn {
		conns = 60
	}
	cli, srv, a, b := histLoops(t, pipe.Faults{Seed: 11, Loss: 0.01, Duplicate: 0.01, Reorder: 0.02})
	var buf bytes.Buffer
	w := history.NewWriter(&buf)
	rec := netconn.NewHistory(w)
	var srvWG sync.WaitGroup
	ln := histEcho(t, srv, 7, rec, &srvWG)

	ctx, cancel := context.WithTimeout(context.Background(), histGuard)
	defer cancel()
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			if histClient(ctx, cli, 7, rec, uint64(i), i%10 == 9) {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	ln.Close()
	srvWG.Wait()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	fa, fb := a.Stats().Faults, b.Stats().Faults
	if fa.Lost+fb.Lost == 0 || fa.Duplicated+fb.Duplicated == 0 || fa.Reordered+fb.Reordered == 0 {
		t.Fatalf("the faults did not happen (%+v, %+v): the test proved nothing", fa, fb)
	}
	clean := conns - conns/10
	if n := ok.Load(); n < int64(clean)*9/10 {
		t.Fatalf("only %d of %d clean connections echoed their bytes whole", n, clean)
	}

	recs, err := history.ReadHistory(&buf)
	if err != nil {
		t.Fatal(err)
	}
	rep := checkHistory(t, recs)
	if rep.Result != linz.Ok || rep.Conns < conns*5/6 {
		t.Fatalf("history of %d ops over %d connections: %v (%+v)", rep.Ops, rep.Conns, rep.Result, rep)
	}
	t.Logf("%d operations over %d connections (%d whole echoes) linearizable in %v; faults %+v / %+v",
		rep.Ops, rep.Conns, ok.Load(), rep.Elapsed, fa, fb)

	// Corrupt one byte of one read: the check must fail on that connection.
	r := rand.New(rand.NewPCG(5, 5))
	var reads []int
	for i, rc := range recs {
		if rc.Op == history.OpRead && len(rc.Data) > 0 {
			reads = append(reads, i)
		}
	}
	i := reads[r.IntN(len(reads))]
	bad := append([]history.Record(nil), recs...)
	bad[i].Data = append([]byte(nil), bad[i].Data...)
	bad[i].Data[r.IntN(len(bad[i].Data))] ^= 0x01
	if rep := checkHistory(t, bad); rep.Result != linz.Illegal || rep.Smallest() != bad[i].Conn {
		t.Fatalf("corrupted read on %s: verdict %v, failing %v", bad[i].Conn, rep.Result, rep.Illegal)
	}
}

func checkHistory(t *testing.T, recs []history.Record) *linz.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := linz.Check(ctx, recs, linz.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result == linz.Illegal {
		var b bytes.Buffer
		linz.Explain(&b, recs, rep.Smallest(), time.Minute)
		t.Log(b.String())
	}
	return rep
}

// TestHistoryRecordsEveryCall checks the recorder's output for one scripted
// connection: the open on each end, the bytes, the half-close, EOF, abort,
// and use after close.
func TestHistoryRecordsEveryCall(t *testing.T) {
	cli, srv, _, _ := histLoops(t, pipe.Faults{Seed: 3})
	var buf bytes.Buffer
	w := history.NewWriter(&buf)
	rec := netconn.NewHistory(w)
	ln, err := netconn.ListenOptions(srv, 9, 4, netconn.Options{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), histGuard)
	defer cancel()
	acc := make(chan *netconn.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
			close(acc)
			return
		}
		acc <- c.(*netconn.Conn)
	}()
	c, err := netconn.DialOptions(ctx, cli, netip.MustParseAddrPort("198.18.0.2:9"), netconn.Options{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	if s == nil {
		t.FailNow()
	}
	c.SetDeadline(time.Now().Add(histGuard))
	s.SetDeadline(time.Now().Add(histGuard))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "ping" {
		t.Fatalf("server read %q, %v", got, err)
	}
	s.Abort()
	if _, err := io.ReadAll(c); err == nil {
		t.Fatal("client read after the server's abort succeeded")
	}
	c.Close()
	c.Close()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := history.ReadHistory(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, r := range recs {
		if r.Conn == "" {
			t.Fatalf("record without a connection: %+v", r)
		}
		ops = append(ops, string(r.End)+" "+string(r.Op)+" "+string(r.Data)+" "+r.Err)
	}
	want := map[string]bool{"c dial  ": true, "s accept  ": true, "c write ping ": true, "c closewrite  ": true,
		"s read ping ": true, "s read  eof": true, "s abort  ": true, "c read  reset": true, "c close  ": true, "c close  closed": true}
	for _, o := range ops {
		delete(want, o)
	}
	if len(want) != 0 {
		t.Fatalf("history %q lacks %v", ops, want)
	}
	if rep := checkHistory(t, recs); rep.Result != linz.Ok || rep.Conns != 1 {
		t.Fatalf("verdict %v over %d connections", rep.Result, rep.Conns)
	}
}
