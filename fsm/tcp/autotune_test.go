package tcp

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// bdpPath is a 1 Gbit/s path with a 40 ms round trip and a queue deep
// enough for its bandwidth-delay product (5 MB).
var bdpPath = faults{rate: 1e9, delay: 20 * time.Millisecond, queue: 8000}

// bulkRun sends from A to B for dur of simulated time on f. B reads
// readPerTick octets every tick (0: everything, as soon as it arrives). It
// checks the invariants of both layers at every step and returns the octets
// B read, the largest window B advertised and the pair. The stateful checks
// (InvariantChecker) include that the receive window's right edge never
// moves left while the buffer grows (SHLD-14).
func bulkRun(t *testing.T, cfg Config, f faults, dur time.Duration, tick time.Duration, readPerTick int) (read int, maxWnd uint32, p *wirePair, server *Conn) {
	t.Helper()
	p = newWirePair(t, 1, cfg, f)
	client, server := p.connect()
	chunk := make([]byte, 256<<10)
	buf := make([]byte, 256<<10)
	end := p.now.Add(dur)
	nextRead := p.now
	checkers := []*InvariantChecker{NewInvariantChecker(), NewInvariantChecker()}
	if readPerTick > 0 {
		p.wake = func() time.Time { return nextRead }
	}
	p.runUntil(func() bool {
		for {
			n, err := client.Send(p.now, chunk)
			if err != nil && !errors.Is(err, sock.ErrWouldBlock) {
				t.Fatal(err)
			}
			if n < len(chunk) {
				break
			}
		}
		if readPerTick == 0 {
			for {
				n, _ := server.Recv(p.now, buf)
				read += n
				if n == 0 {
					break
				}
			}
		} else if !p.now.Before(nextRead) {
			n, _ := server.Recv(p.now, buf[:readPerTick])
			read += n
			nextRead = p.now.Add(tick)
		}
		maxWnd = max(maxWnd, server.TCB().RcvWnd)
		for i, l := range []*Layer{p.a, p.b} {
			if err := checkers[i].Check(p.now, l); err != nil {
				t.Fatal(err)
			}
		}
		return !p.now.Before(end)
	}, 10_000_000)
	return read, maxWnd, p, server
}

// TestRecvBufAutoTuneFastReader: on a 1 Gbit/s, 40 ms path a reader that
// keeps up grows its receive buffer past 1 MiB (the advertised window with
// it, through the window scale chosen for RecvBufMax), and moves several
// times the octets per round trip that a fixed 64 KiB buffer allows (64 KiB
// per RTT).
func TestRecvBufAutoTuneFastReader(t *testing.T) {
	dur := 600 * time.Millisecond
	if os.Getenv("NETSPEC_BIG") != "" {
		dur = 3 * time.Second
	}
	tuned, tunedWnd, p, server := bulkRun(t, Config{}, bdpPath, dur, 0, 0)
	limit, fixed := server.RecvBuffer()
	if fixed || limit <= 1<<20 || tunedWnd <= 1<<20 {
		t.Errorf("receive buffer %d (fixed %v), largest window %d: want both > 1 MiB", limit, fixed, tunedWnd)
	}
	if c := p.b.Counters(); c.RecvBufGrowths == 0 || c.BufGrown == 0 {
		t.Errorf("counters: %d receive growths, %d octets grown", c.RecvBufGrowths, c.BufGrown)
	}
	t.Logf("receive capacity %d, ring %d", server.rcv.buf.size, len(server.rcv.buf.buf))
	if len(server.rcv.buf.buf) >= server.rcv.buf.size/2 {
		t.Errorf("a reader that keeps up holds a %d-octet ring behind a %d-octet buffer: want the ring to grow only with the data held", len(server.rcv.buf.buf), server.rcv.buf.size)
	}
	if n, _ := server.l.conns[0].SendBuffer(); n > p.b.cfg.SendBufMax {
		t.Errorf("send buffer %d past SendBufMax", n)
	}
	base, baseWnd, _, _ := bulkRun(t, Config{RecvBuf: 64 << 10}, bdpPath, dur, 0, 0)
	rtts := int(dur / (40 * time.Millisecond))
	mbps := func(n int) float64 { return float64(n) * 8 / dur.Seconds() / 1e6 }
	t.Logf("%v at 1 Gbit/s, 40 ms RTT: auto-tuned %d B (%.1f Mbit/s, %d B/RTT, window up to %d), fixed 64 KiB %d B (%.1f Mbit/s, %d B/RTT, window %d)",
		dur, tuned, mbps(tuned), tuned/rtts, tunedWnd, base, mbps(base), base/rtts, baseWnd)
	if baseWnd > 64<<10 {
		t.Errorf("fixed buffer advertised %d", baseWnd)
	}
	if base/rtts > 64<<10 {
		t.Errorf("fixed 64 KiB buffer moved %d B per RTT, more than its window", base/rtts)
	}
	if tuned < 8*base {
		t.Errorf("auto-tuned %d B, fixed %d B: want at least 8x", tuned, base)
	}
}

// TestRecvBufAutoTuneSlowReader: a reader consuming 4 KiB every 40 ms (one
// round trip) never gets a larger buffer, and its window stays within the
// initial 64 KiB.
func TestRecvBufAutoTuneSlowReader(t *testing.T) {
	read, maxWnd, p, server := bulkRun(t, Config{}, bdpPath, 2*time.Second, 40*time.Millisecond, 4<<10)
	if limit, _ := server.RecvBuffer(); limit != 64<<10 || maxWnd > 64<<10 {
		t.Errorf("slow reader: buffer %d, largest window %d; want 64 KiB", limit, maxWnd)
	}
	if c := p.b.Counters(); c.RecvBufGrowths != 0 {
		t.Errorf("%d receive growths for a slow reader", c.RecvBufGrowths)
	}
	if read == 0 {
		t.Error("nothing read")
	}
}

// TestRecvBufLocked: SetRecvBuffer fixes the buffer (SO_RCVBUF): a fast
// reader on a high-BDP path keeps the size it set.
func TestRecvBufLocked(t *testing.T) {
	p := newWirePair(t, 1, Config{}, bdpPath)
	client, server := p.connect()
	server.SetRecvBuffer(p.now, 100<<10)
	chunk := make([]byte, 256<<10)
	buf := make([]byte, 256<<10)
	end := p.now.Add(time.Second)
	p.runUntil(func() bool {
		client.Send(p.now, chunk)
		for {
			if n, _ := server.Recv(p.now, buf); n == 0 {
				break
			}
		}
		if w := server.TCB().RcvWnd; w > 100<<10+128 {
			t.Fatalf("window %d past the fixed 100 KiB", w)
		}
		return !p.now.Before(end)
	}, 10_000_000)
	if n, fixed := server.RecvBuffer(); n != 100<<10 || !fixed {
		t.Errorf("buffer %d fixed %v, want 100 KiB fixed", n, fixed)
	}
	if c := p.b.Counters(); c.RecvBufGrowths != 0 {
		t.Errorf("%d growths of a fixed buffer", c.RecvBufGrowths)
	}
}

// TestBufBudget: two fast transfers on one layer share a 512 KiB growth
// budget: the growth stops there, the refusals are counted, and the
// invariants (growth counted per connection, within the budget) hold at
// every step.
func TestBufBudget(t *testing.T) {
	const budget = 512 << 10
	p := newWirePair(t, 2, Config{BufBudget: budget}, bdpPath)
	ln, err := p.b.Listen(p.now, addrB, 80, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var clients, servers [2]*Conn
	for i := range clients {
		if clients[i], err = p.a.Connect(p.now, addrA, 0, addrB, 80, uint64(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	chunk := make([]byte, 256<<10)
	buf := make([]byte, 256<<10)
	end := p.now.Add(2 * time.Second)
	p.runUntil(func() bool {
		for i := range servers {
			if servers[i] == nil {
				servers[i], _ = ln.Accept(p.now)
				continue
			}
			clients[i].Send(p.now, chunk)
			for {
				if n, _ := servers[i].Recv(p.now, buf); n == 0 {
					break
				}
			}
		}
		for _, l := range []*Layer{p.a, p.b} {
			if err := l.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		}
		return !p.now.Before(end)
	}, 10_000_000)
	c := p.b.Counters()
	if c.BufGrown > budget || c.BufGrown < budget/2 || c.BufGrowRefused == 0 {
		t.Errorf("grown %d of budget %d, %d refusals: want the budget reached and refusals counted", c.BufGrown, budget, c.BufGrowRefused)
	}
	total := 0
	for _, s := range servers {
		n, _ := s.RecvBuffer()
		total += n - 64<<10
	}
	if total > budget {
		t.Errorf("receive buffers grew by %d, budget %d", total, budget)
	}
	for _, s := range servers {
		s.Abort(p.now)
	}
	if c := p.b.Counters(); c.BufGrown != 0 {
		t.Errorf("%d octets still charged after the connections ended", c.BufGrown)
	}
}

// TestSendBufAutoTune: a writer that keeps its send buffer full on a
// high-BDP path gets it grown with the congestion window (at most
// SendBufMax); SetSendBuffer fixes it (SO_SNDBUF), and an application that
// never fills it keeps the initial size.
func TestSendBufAutoTune(t *testing.T) {
	_, _, p, _ := bulkRun(t, Config{}, bdpPath, 300*time.Millisecond, 0, 0)
	client := p.a.conns[0]
	n, fixed := client.SendBuffer()
	if fixed || n <= 64<<10 || n > 4<<20 {
		t.Errorf("send buffer %d fixed %v: want grown past 64 KiB, at most 4 MiB", n, fixed)
	}
	if c := p.a.Counters(); c.SendBufGrowths == 0 {
		t.Error("no send buffer growth counted")
	}
	if 2*int(client.snd.cc.cwnd) < n-2*int(client.snd.cc.cwnd) && n < 4<<20 {
		t.Errorf("send buffer %d far past 2*cwnd %d", n, 2*client.snd.cc.cwnd)
	}

	// Fixed: SetSendBuffer before the transfer.
	p = newWirePair(t, 1, Config{}, bdpPath)
	c, s := p.connect()
	c.SetSendBuffer(p.now, 32<<10)
	chunk := make([]byte, 64<<10)
	buf := make([]byte, 64<<10)
	end := p.now.Add(500 * time.Millisecond)
	p.runUntil(func() bool {
		c.Send(p.now, chunk)
		s.Recv(p.now, buf)
		return !p.now.Before(end)
	}, 1_000_000)
	if n, fixed := c.SendBuffer(); n != 32<<10 || !fixed || c.snd.buf.n > 32<<10 {
		t.Errorf("fixed send buffer %d (fixed %v), holding %d", n, fixed, c.snd.buf.n)
	}

	// An application writing 1 KiB per round trip never fills it.
	p = newWirePair(t, 1, Config{}, bdpPath)
	c, s = p.connect()
	end = p.now.Add(time.Second)
	next := p.now
	p.wake = func() time.Time { return next }
	p.runUntil(func() bool {
		if !p.now.Before(next) {
			c.Send(p.now, chunk[:1024])
			next = p.now.Add(40 * time.Millisecond)
		}
		s.Recv(p.now, buf)
		return !p.now.Before(end)
	}, 1_000_000)
	if n, _ := c.SendBuffer(); n != 64<<10 {
		t.Errorf("light writer's send buffer %d, want 64 KiB", n)
	}
}

// TestAutoTuneWindowScale: with auto-tuning the SYN offers the window scale
// for RecvBufMax (6 MiB: 7) while the buffer starts at 64 KiB; a fixed
// RecvBuf offers the scale for itself.
func TestAutoTuneWindowScale(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want uint8
	}{{Config{}, 7}, {Config{RecvBuf: 256 << 10}, 3}, {Config{RecvBuf: 64 << 10, RecvBufMax: 1 << 20}, 5}} {
		r := newRig(t, tc.cfg, 100)
		r.connect()
		syn := r.recv(seg{flags: SYN, seq: 100})
		var o wire.TCPOptions
		if err := wire.ParseTCPOptions(syn.Options(), &o); err != nil || !o.HasWScale || o.WScale != tc.want {
			t.Errorf("%+v: SYN window scale %d (present %v), want %d", tc.cfg, o.WScale, o.HasWScale, tc.want)
		}
	}
}

// TestAutoTunedRingsPoolBounded: rings grown by auto-tuning go back to the
// pools only within maxPooledGrown octets (so a connection whose grown ring
// drained takes it back instead of allocating a new one), each pool keeps at
// most maxPooledRings, and the memory a new or idle connection holds does not
// grow with past transfers: it holds no ring at all.
func TestAutoTunedRingsPoolBounded(t *testing.T) {
	_, _, p, server := bulkRun(t, Config{}, bdpPath, 300*time.Millisecond, 0, 0)
	client := p.a.conns[0]
	if n, _ := server.RecvBuffer(); n <= 64<<10 {
		t.Fatalf("receive buffer %d did not grow", n)
	}
	client.Abort(p.now)
	server.Abort(p.now)
	grown := 0
	for _, pool := range []*bufPool{&p.a.sndPool, &p.a.rcvPool, &p.b.sndPool, &p.b.rcvPool} {
		held := 0
		for _, b := range pool.free {
			if cap(b) > pool.maxRing {
				held += cap(b)
			}
		}
		if held != pool.grown || held > maxPooledGrown || len(pool.free) > maxPooledRings {
			t.Errorf("pool keeps %d rings, %d octets in grown ones (counted %d, bound %d)", len(pool.free), held, pool.grown, maxPooledGrown)
		}
		grown += held
	}
	if grown == 0 {
		t.Error("no grown ring kept for reuse")
	}
	// A new connection starts at the initial sizes and holds no ring.
	c, err := p.a.Connect(p.now, addrA, 0, addrB, 80, 9)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := c.RecvBuffer(); n != 64<<10 || c.rcv.buf.buf != nil || c.snd.buf.buf != nil {
		t.Errorf("new connection: receive buffer %d, rings %v %v", n, c.rcv.buf.buf != nil, c.snd.buf.buf != nil)
	}
	if n, _ := c.SendBuffer(); n != 64<<10 {
		t.Errorf("new connection: send buffer %d", n)
	}
}

// TestAutoTunedSendBufferTailDrops is the regression test for RACK under a
// grown send buffer: the retransmission queue was sized once for the initial
// 64 KiB, so a multi-megabyte flight merged its records and tail drops at a
// 64-frame bottleneck took 17 timeouts and 52 s (simulated) for 10 MiB. The
// queue now follows the buffer (txq.go); recovery stays by SACK and RACK.
func TestAutoTunedSendBufferTailDrops(t *testing.T) {
	p := newWirePair(t, 1, Config{}, faults{rate: 1e9, queue: 64, delay: 50 * time.Microsecond})
	client, server := p.connect()
	data := pattern(1, 10<<20)
	ss := &streamer{c: server, out: data}
	cs := &streamer{c: client}
	p.runUntil(func() bool {
		ss.pump(p.now)
		cs.pump(p.now)
		return len(cs.in) == len(data)
	}, 2_000_000)
	c := p.b.Counters()
	t.Logf("10 MiB through a 64-frame queue: %v, %d tail drops, %d retransmits, %d timeouts", p.now.Sub(epoch), p.tailDrops, c.Retransmits, c.Timeouts)
	if p.tailDrops == 0 {
		t.Fatal("no tail drops: the test does not exercise recovery")
	}
	if c.Timeouts > 3 || p.now.Sub(epoch) > 2*time.Second {
		t.Errorf("%d timeouts, %v simulated: recovery fell back to the RTO", c.Timeouts, p.now.Sub(epoch))
	}
}

// TestSetRecvBufferSmallerKeepsEdge: fixing a receive buffer below what is
// already promised never moves the right edge left (RFC 9293 §3.8.6,
// SHLD-14): data up to the old edge is still taken and readable, and only
// then does the window fall to the new size.
func TestSetRecvBufferSmallerKeepsEdge(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	k := NewInvariantChecker()
	check := func() {
		t.Helper()
		if err := k.Check(r.now, r.l); err != nil {
			t.Fatal(err)
		}
	}
	check()
	edge := r.c.tcb.RcvNxt.Add(seqnumSize(r.c.rcv.wnd()))
	r.c.SetRecvBuffer(r.now, 2000)
	check()
	if got := r.c.tcb.RcvNxt.Add(seqnumSize(r.c.rcv.wnd())); got != edge {
		t.Fatalf("right edge moved from %d to %d", edge, got)
	}
	// The peer fills the window it was promised.
	total := int(r.c.rcv.wnd())
	for off := 0; off < total; off += 1000 {
		n := min(1000, total-off)
		r.send(seg{flags: ACK, seq: 100 + uint32(off), ack: 300, data: make([]byte, n)})
		check()
	}
	if r.c.rcv.buf.unread != total {
		t.Fatalf("took %d of the %d octets promised", r.c.rcv.buf.unread, total)
	}
	buf := make([]byte, 128<<10)
	if n, _ := r.c.Recv(r.now, buf); n != total {
		t.Fatalf("read %d, want %d", n, total)
	}
	check()
	r.o.take()
	r.send(seg{flags: ACK, seq: 100 + uint32(total), ack: 300, data: []byte("x")})
	r.advance(200 * time.Millisecond)
	var last uint16
	for _, s := range r.o.take() {
		p, _ := parseSeg(t, s)
		last = p.Window()
	}
	if last == 0 || last > 2000 {
		t.Fatalf("window %d after the reader caught up, want at most the fixed 2000", last)
	}
	if n, fixed := r.c.RecvBuffer(); n != 2000 || !fixed {
		t.Fatalf("buffer %d fixed %v", n, fixed)
	}
}

// TestRecvAfterReleaseGrowsNothing: data left unread when a connection
// ends gracefully stays readable after it left the connection table, and
// reading it at auto-tuning speed charges no buffer growth, which nothing
// would give back (found by the end-of-run quiescence check in netconn's
// echo test).
func TestRecvAfterReleaseGrowsNothing(t *testing.T) {
	p := newWirePair(t, 1, Config{}, faults{})
	client, server := p.connect()
	if _, err := client.Send(p.now, make([]byte, 60<<10)); err != nil {
		t.Fatal(err)
	}
	if err := client.CloseWrite(p.now); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	p.runUntil(func() bool { return server.State() == StateCloseWait }, 100_000)
	server.Recv(p.now, buf[:1]) // starts the auto-tuning measurement
	if err := server.CloseWrite(p.now); err != nil {
		t.Fatal(err)
	}
	p.runUntil(func() bool { return server.State() == StateClosed }, 100_000)
	p.now = p.now.Add(time.Second) // past the receiver's round trip
	n, err := server.Recv(p.now, buf)
	if n != 60<<10-1 || err != nil {
		t.Fatalf("Recv after release = %d, %v; want %d octets", n, err, 60<<10-1)
	}
	if c := p.b.Counters(); c.BufGrown != 0 || p.b.bufGrown != 0 {
		t.Fatalf("%d octets of growth charged (counter %d) to a released connection", p.b.bufGrown, c.BufGrown)
	}
}

// TestSendBufGrowthCopiesOncePerClass: the send buffer grows one congestion
// window step at a time, but its ring is replaced (and the octets it holds
// copied) only when the limit passes the ring's size class, the initial size
// doubled: at most log2(SendBufMax/SendBuf) times on the way to the maximum.
// Before, every step took a new ring and copied up to 4 MiB into it.
func TestSendBufGrowthCopiesOncePerClass(t *testing.T) {
	p := newWirePair(t, 1, Config{}, bdpPath)
	c, s := p.connect()
	chunk := make([]byte, 256<<10)
	buf := make([]byte, 256<<10)
	var ring *byte
	replaced := 0
	end := p.now.Add(2 * time.Second)
	p.runUntil(func() bool {
		for {
			if n, _ := c.Send(p.now, chunk); n < len(chunk) {
				break
			}
		}
		for {
			if n, _ := s.Recv(p.now, buf); n == 0 {
				break
			}
		}
		if b := c.snd.buf.buf; len(b) > 0 && &b[0] != ring {
			ring = &b[0]
			replaced++
		}
		return !p.now.Before(end)
	}, 10_000_000)
	growths := p.a.Counters().SendBufGrowths
	if n, _ := c.SendBuffer(); n < 1<<20 {
		t.Fatalf("send buffer grew to %d only: the path should take it past 1 MiB", n)
	}
	// 64 KiB -> 4 MiB is six doublings, plus the first ring.
	if replaced > 7 || growths <= uint64(replaced) {
		t.Errorf("send ring replaced %d times over %d growths: want at most 7, fewer than the growths", replaced, growths)
	}
}
