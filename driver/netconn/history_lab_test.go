//go:build linux

package netconn_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/afpacket"
	"github.com/netspec/netspec/driver/history"
	"github.com/netspec/netspec/driver/lab/labtest"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
	"github.com/netspec/netspec/fuzz/linz"
)

// TestHistoryLab is a real run: Linux kernel TCP clients in the lab's client
// namespace (Go sockets recorded by history.Conn) against the netspec echo
// server on AF_PACKET in the server namespace (recorded by netconn.History),
// both ends in one history, which must check linearizable.
func TestHistoryLab(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	const conns = 64
	l := labtest.ForTest(t)
	var link *afpacket.Link
	if err := l.RunInServerNS(func() (err error) {
		link, err = afpacket.Open(l.ServerIface(), afpacket.Options{})
		return err
	}); err != nil {
		t.Fatalf("open server link: %v", err)
	}
	addr, _ := wire.AddrFrom(l.ServerAddr().Addr())
	st := stack.New(stack.Config{MAC: link.MAC(), Addr: addr, PrefixLen: l.ServerAddr().Bits(), MTU: link.MTU(), Seed: 21})
	loop := driver.NewLoop(link, st, driver.LoopOptions{})
	errc := make(chan error, 1)
	go func() { errc <- loop.Run(context.Background()) }()
	t.Cleanup(func() {
		loop.Close()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	var buf bytes.Buffer
	w := history.NewWriter(&buf)
	var srvWG sync.WaitGroup
	ln := histEcho(t, loop, 7, netconn.NewHistory(w), &srvWG)

	// Sockets are created on the thread that joined the client namespace;
	// their I/O may then run anywhere.
	ctx, cancel := context.WithTimeout(context.Background(), histGuard)
	defer cancel()
	var cs []*history.Conn
	if err := l.RunInClientNS(func() error {
		for range conns {
			c, err := history.Dial(ctx, &net.Dialer{}, "198.18.0.2:7", w)
			if err != nil {
				return err
			}
			cs = append(cs, c)
		}
		return nil
	}); err != nil {
		t.Fatalf("dial from the client namespace: %v", err)
	}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			if histWork(c, uint64(1000+i), i%8 == 7) {
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
	clean := conns - conns/8
	if n := ok.Load(); n != int64(clean) {
		t.Errorf("%d of %d clean connections echoed their bytes whole", n, clean)
	}
	recs, err := history.ReadHistory(&buf)
	if err != nil {
		t.Fatal(err)
	}
	failStalls(t, recs, link.Stats().KernelDrops)
	rep := checkHistory(t, recs)
	if rep.Result != linz.Ok || rep.Conns != conns || len(rep.Observed) != 2 {
		t.Fatalf("history of %d ops over %d connections (hosts %v): %v", rep.Ops, rep.Conns, rep.Observed, rep.Result)
	}
	t.Logf("kernel clients vs netspec: %d operations over %d connections linearizable in %v", rep.Ops, rep.Conns, rep.Elapsed)
}

// failStalls fails the test for every connection where a read ran into its
// deadline, showing what the peer did meanwhile. The stall this caught: with
// the kernel's default AF_PACKET receive buffer (~90 frames), a burst from 64
// clients overflowed it, the kernel dropped a client's data and then its RST
// (Stats.KernelDrops), and the server's Read waited for its deadline. The
// driver now asks for DefaultRcvBuf.
func failStalls(t *testing.T, recs []history.Record, kernelDrops uint64) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Err == history.ErrTimeout && !seen[r.Conn] {
			seen[r.Conn] = true
			if len(seen) == 1 {
				var b bytes.Buffer
				linz.Explain(&b, recs, r.Conn, 0)
				t.Errorf("read deadline hit (%d frames dropped by the kernel):\n%s", kernelDrops, b.String())
			}
		}
	}
	if len(seen) > 0 {
		t.Errorf("%d connections hit a read deadline", len(seen))
	}
}
