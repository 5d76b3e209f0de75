package driver_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// steadyEnd is one side of TestLoopSteadyStateNoAllocs: a loop over a pipe
// end that the test reads itself (no Run goroutine), so every frame moves
// synchronously.
type steadyEnd struct {
	loop   *driver.Loop
	peer   *driver.Loop // the loop writing what link receives
	link   *pipe.End
	frames [][]byte
	n      []int
	meta   []driver.RxMeta
}

func newSteadyEnd(link *pipe.End, mac wire.MAC, addr wire.Addr, gso int) *steadyEnd {
	st := stack.New(stack.Config{MAC: mac, Addr: addr, PrefixLen: 24, Seed: uint64(addr[3]), GSOMaxSize: gso})
	e := &steadyEnd{loop: driver.NewLoop(link, st, driver.LoopOptions{}), link: link,
		frames: make([][]byte, driver.DefaultBatch), n: make([]int, driver.DefaultBatch), meta: make([]driver.RxMeta, driver.DefaultBatch)}
	for i := range e.frames {
		e.frames[i] = make([]byte, link.MaxFrame())
	}
	return e
}

// pump feeds the loop what its link has received and reports whether there
// was anything.
func (e *steadyEnd) pump(t testing.TB) bool {
	e.peer.WaitWritten()                                               // a timer's or call's frames may still be on their way
	k, err := e.link.ReadBatch(e.frames, e.n, e.meta, time.Unix(1, 0)) // a past deadline: no wait
	if err != nil {
		t.Fatal(err)
	}
	if k > 0 {
		e.loop.Input(e.frames[:k], e.n[:k], e.meta[:k])
	}
	return k > 0
}

// TestLoopSteadyStateNoAllocs: over the in-memory pipe, a write on an
// established connection, its frames out through the loop's transmit
// batches (the stack's buffers, lent), the peer's receive, read and ACK,
// and the ACK back allocate nothing, with GSO off and on.
func TestLoopSteadyStateNoAllocs(t *testing.T) {
	for _, gso := range []bool{false, true} {
		t.Run(fmt.Sprint("gso=", gso), func(t *testing.T) {
			la, lb := pipe.New(pipe.Config{GSO: gso, MaxFrame: 1 << 16})
			a := newSteadyEnd(la, wire.MAC{2, 0, 0, 0, 0, 1}, wire.Addr{198, 18, 0, 1}, driver.GSOMaxSize(la))
			b := newSteadyEnd(lb, wire.MAC{2, 0, 0, 0, 0, 2}, wire.Addr{198, 18, 0, 2}, driver.GSOMaxSize(lb))
			a.peer, b.peer = b.loop, a.loop
			defer a.loop.Close()
			defer b.loop.Close()
			settle := func() {
				for a.pump(t) || b.pump(t) {
				}
			}
			var ln, cfd, sfd stack.FD
			var err error
			do := func(e *steadyEnd, fn func(now time.Time, s *stack.Stack)) {
				t.Helper()
				if err := e.loop.Do(fn); err != nil {
					t.Fatal(err)
				}
			}
			do(b, func(now time.Time, s *stack.Stack) { ln, err = s.Listen(now, 80, 4) })
			do(a, func(now time.Time, s *stack.Stack) { cfd, err = s.Dial(now, wire.Addr{198, 18, 0, 2}, 80) })
			settle()
			do(b, func(now time.Time, s *stack.Stack) { sfd, err = s.Accept(now, ln) })
			if err != nil {
				t.Fatal(err)
			}
			data, buf := make([]byte, 16<<10), make([]byte, 64<<10)
			var sent, got int
			var sendErr, recvErr error
			write := func(now time.Time, s *stack.Stack) { sent, sendErr = s.Send(now, cfd, data) }
			read := func(now time.Time, s *stack.Stack) {
				for {
					k, err := s.Recv(now, sfd, buf)
					got += k
					if err != nil {
						recvErr = err
						return
					}
				}
			}
			round := func() {
				if err := a.loop.Do(write); err != nil || sendErr != nil || sent != len(data) {
					t.Fatalf("Send %d: %v %v", sent, err, sendErr)
				}
				for b.pump(t) {
					if err := b.loop.Do(read); err != nil || !errors.Is(recvErr, sock.ErrWouldBlock) {
						t.Fatalf("Recv: %v %v", err, recvErr)
					}
				}
				settle()
			}
			for range 20 {
				round()
			}
			start := got
			if n := testing.AllocsPerRun(50, round); n != 0 {
				t.Fatalf("%.1f allocations per 16 KiB write and its delivery, want 0", n)
			}
			if got-start < 50*len(data) {
				t.Fatalf("%d octets delivered in 51 writes of %d", got-start, len(data))
			}
			if st := a.loop.Stats(); st.TxFrames == 0 || st.TxErrors != 0 {
				t.Fatalf("loop stats %+v", st)
			}
			if ps := la.Stats(); gso && ps.GSOFrames == 0 {
				t.Fatalf("no super-frame sent: %+v", ps)
			}
		})
	}
}
