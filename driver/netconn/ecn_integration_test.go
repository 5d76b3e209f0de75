package netconn_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
)

// TestECNTransferOverMarkingPipe: two stacks with ECN on, under their own
// Loops, joined by a pipe whose receiving ends CE-mark 2% of the
// ECN-capable frames instead of dropping them (pipe.Faults.MarkCE). A 4 MiB
// upload arrives whole; the marks are echoed and reduce the sender's window;
// with nothing dropped by the pipe, nothing is retransmitted.
func TestECNTransferOverMarkingPipe(t *testing.T) {
	a, b := pipe.New(pipe.Config{QueueLen: 4096, AtoB: pipe.Faults{Seed: 7, MarkCE: 0.02}, BtoA: pipe.Faults{Seed: 8, MarkCE: 0.02}})
	mk := func(e *pipe.End, addr [4]byte, seed uint64) *driver.Loop {
		return driver.NewLoop(e, stack.New(stack.Config{MAC: e.MAC(), Addr: addr, PrefixLen: 24, MTU: e.MTU(), Seed: seed,
			TCP: tcp.Config{ECN: tcp.ECNOn}}), driver.LoopOptions{})
	}
	cli, srv := mk(a, cliIP, 1), mk(b, srvIP, 2)
	runLoops(t, cli, srv)
	ln, err := netconn.Listen(srv, 9000, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(guard))
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c := dialSrv(t, cli, 9000)
	want := bytes.Repeat([]byte("explicit congestion notification "), 4<<20/33)
	c.SetWriteDeadline(time.Now().Add(guard))
	if _, err := c.Write(want); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("server read %d octets, want %d", len(b), len(want))
	}
	var ctr tcp.Counters
	cli.Do(func(now time.Time, s *stack.Stack) { ctr = *s.TCP().Counters() })
	sb := b.Stats()
	if ctr.ECNNegotiated != 1 || sb.Faults.CEMarked == 0 || ctr.ECNECEReceived == 0 || ctr.ECNCwndReductions == 0 {
		t.Fatalf("negotiated %d, marks %d, ECE received %d, reductions %d", ctr.ECNNegotiated, sb.Faults.CEMarked, ctr.ECNECEReceived, ctr.ECNCwndReductions)
	}
	dropped := sb.DropQueueFull + sb.Faults.DropOverflow + a.Stats().DropQueueFull
	// CE marks must never be taken for losses: with nothing dropped, no fast
	// retransmission and no RACK loss. Timer-driven retransmissions, a tail
	// loss probe or an RTO, can fire on the wall clock when the scheduler
	// stalls a goroutine past the PTO (under -race on a loaded machine), and
	// what they resend lets RACK deem the segments before it lost: the check
	// holds for a run no timer disturbed. The simulated-time tests in fsm/tcp
	// and fsm/stack assert zero of all of them.
	timers := ctr.Timeouts + ctr.TLPProbes
	if dropped == 0 && timers == 0 && (ctr.FastRetransmits != 0 || ctr.RACKLosses != 0) {
		t.Fatalf("%d fast retransmissions, %d RACK losses with nothing dropped", ctr.FastRetransmits, ctr.RACKLosses)
	}
	t.Logf("%d CE marks, %d ECE ACKs, %d cwnd reductions, %d retransmissions (%d timeouts, %d probes), %d pipe drops",
		sb.Faults.CEMarked, ctr.ECNECEReceived, ctr.ECNCwndReductions, ctr.Retransmits, ctr.Timeouts, ctr.TLPProbes, dropped)
}
