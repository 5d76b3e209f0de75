package netconn_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/pipe"
)

// TestConnBlockingRoundTripAllocatesNothing: the steady path of a
// keep-alive exchange, where each side's Read blocks until the other's
// Write arrives (a wait registered with the loop, woken by readiness) and
// the server's deadlines are moved around it as net/http's are, allocates
// nothing per round trip: each direction of a Conn waits on the one
// channel it made when it first blocked. Heap figures are not asserted
// under the race detector, which allocates for its own bookkeeping.
func TestConnBlockingRoundTripAllocatesNothing(t *testing.T) {
	if raceOn {
		t.Skip("the race detector allocates")
	}
	cli, srv := twoLoops(t, pipe.Config{})
	ln, err := netconn.Listen(srv, 9, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		b := make([]byte, 1)
		for {
			// As net/http between requests: an idle deadline for the
			// wait, cleared for the request, and a deadline in the past
			// (the abort of its background read) once it is answered.
			c.SetReadDeadline(time.Now().Add(time.Hour))
			if _, err := io.ReadFull(c, b); err != nil {
				served <- err
				return
			}
			c.SetReadDeadline(time.Time{})
			if _, err := c.Write(b); err != nil {
				served <- err
				return
			}
			c.SetReadDeadline(time.Unix(1, 0))
		}
	}()
	c := dialSrv(t, cli, 9)
	c.SetDeadline(time.Now().Add(guard))
	b := make([]byte, 1)
	round := func() {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		round()
	}
	if a := testing.AllocsPerRun(200, round); a != 0 {
		t.Errorf("%.1f allocations per blocking round trip, want 0", a)
	}
	c.Close()
	if err := <-served; err != io.EOF {
		t.Fatalf("server: %v, want EOF", err)
	}
}

// TestConnCloseIsOneCall: Close releases the descriptor and wakes the
// calls blocked on it in one critical section of the loop (one call in
// its Stats), and a Read blocked on the connection returns net.ErrClosed.
func TestConnCloseIsOneCall(t *testing.T) {
	cli, srv := twoLoops(t, pipe.Config{})
	ln, err := netconn.Listen(srv, 9, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c := dialSrv(t, cli, 9)
	before := cli.Stats().Calls
	read := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		read <- err
	}()
	// The Read's call (it would block, and registers its wait) is the
	// only one on the client's loop until Close.
	for end := time.Now().Add(guard); cli.Stats().Calls == before; {
		if time.Now().After(end) {
			t.Fatal("the Read made no call")
		}
		time.Sleep(time.Millisecond)
	}
	before = cli.Stats().Calls
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := cli.Stats().Calls - before; n != 1 {
		t.Errorf("Close made %d calls on the loop, want 1", n)
	}
	if err := <-read; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("blocked Read after Close: %v, want net.ErrClosed", err)
	}
}
