package netconn

import (
	"context"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// TestLoopCallAllocatesNothing: a call Read or Write makes into a running
// driver.Loop (runCall) allocates nothing of its own: its closure stays on
// the caller's stack.
func TestLoopCallAllocatesNothing(t *testing.T) {
	a, _ := pipe.New(pipe.Config{})
	l := driver.NewLoop(a, stack.New(stack.Config{MAC: a.MAC(), Addr: wire.Addr{198, 18, 0, 1}, PrefixLen: 24, Seed: 1}), driver.LoopOptions{})
	errc := make(chan error, 1)
	go func() { errc <- l.Run(context.Background()) }()
	defer func() {
		l.Close()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}()
	c := &Conn{r: newLoopRunner(l), fd: 3}
	buf := make([]byte, 16)
	calls := 0
	op := func(now time.Time, s sockets, b []byte) (int, error) {
		calls++
		return len(b), nil
	}
	for range 10 { // the loop's first flushes may set things up
		callOnce(c, op, buf)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if n, ready, err := callOnce(c, op, buf); n != len(buf) || ready != nil || err != nil {
			t.Fatalf("runCall = %d, %v, %v", n, ready, err)
		}
	})

	if allocs != 0 || calls != 111 {
		t.Fatalf("%v allocations per call (%d calls ran), want 0", allocs, calls)
	}
}

// callOnce calls runCall as Read and Write do: on a *Conn whose runner's
// type the compiler cannot see.
//
//go:noinline
func callOnce(c *Conn, op func(now time.Time, s sockets, b []byte) (int, error), b []byte) (int, <-chan struct{}, error) {
	return runCall(c.r, c.fd, 0, op, b)
}
