package netconn

import (
	"context"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// TestSleepersKeepTimerWhenEarliestLeaves: when the call with the earliest
// deadline stops waiting (its data came, as a keep-alive connection's idle
// Read does on every request), the heap's timer stays armed for it instead
// of being reset; its expiry wakes nobody and re-arms, and the call left
// waiting still times out exactly at its own deadline. Two stacks on real
// loops, so that readiness wakes only the call it is for.
func TestSleepersKeepTimerWhenEarliestLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipe.New(pipe.Config{})
		loop := func(e *pipe.End, addr wire.Addr) *driver.Loop {
			l := driver.NewLoop(e, stack.New(stack.Config{MAC: e.MAC(), Addr: addr, PrefixLen: 24, Seed: uint64(addr[3])}), driver.LoopOptions{})
			go l.Run(context.Background())
			t.Cleanup(func() { l.Close() })
			return l
		}
		lc, ls := loop(a, wire.Addr{198, 18, 0, 1}), loop(b, wire.Addr{198, 18, 0, 2})
		rs := newLoopRunner(ls)
		ln, err := listen(rs, 80, 4, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var clis, srvs [2]*Conn
		for i := range clis {
			if clis[i], err = dial(context.Background(), newLoopRunner(lc), srvAddr, Options{}); err != nil {
				t.Fatal(err)
			}
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			srvs[i] = c.(*Conn)
			defer clis[i].Close()
			defer srvs[i].Close()
		}
		start := time.Now()
		srvs[0].SetReadDeadline(start.Add(time.Hour))
		srvs[1].SetReadDeadline(start.Add(2 * time.Hour))
		got := make(chan error, 2)
		for _, s := range srvs {
			go func() {
				_, err := s.Read(make([]byte, 1))
				got <- err
			}()
		}
		synctest.Wait()
		sl := rs.sleepers()
		armed := func() int64 {
			sl.mu.Lock()
			defer sl.mu.Unlock()
			return sl.armedAt
		}
		first := armed()
		clis[0].Write([]byte("x"))
		if err := <-got; err != nil {
			t.Fatalf("first Read: %v", err)
		}
		synctest.Wait()
		if a := armed(); a != first {
			t.Fatalf("the timer was re-armed (%d -> %d) when the earliest call left", first, a)
		}
		if err := <-got; !os.IsTimeout(err) {
			t.Fatalf("second Read: %v, want a timeout", err)
		}
		if d := time.Since(start); d != 2*time.Hour {
			t.Fatalf("the second Read returned after %v, want 2h", d)
		}
	})
}
