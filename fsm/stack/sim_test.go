package stack

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// simNet joins two stacks by a deterministic wire in simulated time: frames
// queued by one are delivered to the other, with optional seeded loss.
type simNet struct {
	t      testing.TB
	now    time.Time
	a, b   *Stack
	rng    *rand.Rand
	loss   float64
	steps  int
	trace  func(from string, frame []byte)
	mark   func(frame []byte)                 // called on each frame that is not lost, before delivery (may rewrite it)
	filter func(to *Stack, frame []byte) bool // when set, a frame it refuses is not delivered (a kernel's filter)
	segBuf [2048]byte
}

var (
	macA  = wire.MAC{2, 0, 0, 0, 0, 1}
	macB  = wire.MAC{2, 0, 0, 0, 0, 2}
	addrA = wire.Addr{198, 18, 0, 1}
	addrB = wire.Addr{198, 18, 0, 2}
)

func newSim(t testing.TB, seed uint64) *simNet {
	return &simNet{
		t:   t,
		now: time.Unix(1_700_000_000, 0),
		a:   New(Config{MAC: macA, Addr: addrA, PrefixLen: 24, Seed: seed}),
		b:   New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: seed + 1}),
		rng: rand.New(rand.NewPCG(seed, 99)),
	}
}

// deliver moves the frames each stack has queued to the other one. It reports
// whether anything moved.
func (n *simNet) deliver() bool {
	moved := false
	for _, p := range [2][2]*Stack{{n.a, n.b}, {n.b, n.a}} {
		from, to := p[0], p[1]
		var frames [][]byte
		from.Output(func(f []byte, m TxMeta) {
			// A super-frame reaches the peer as the segments a kernel cuts it into.
			if err := Segment(f, m, n.segBuf[:], func(seg []byte) { frames = append(frames, append([]byte(nil), seg...)) }); err != nil {
				n.t.Fatalf("segment: %v", err)
			}
		})
		for _, f := range frames {
			moved = true
			if n.trace != nil {
				n.trace(from.cfg.Addr.String(), f)
			}
			if n.loss > 0 && n.rng.Float64() < n.loss {
				continue
			}
			if n.mark != nil {
				n.mark(f)
			}
			if n.filter != nil && !n.filter(to, f) {
				continue
			}
			to.Input(n.now, f, RxMeta{Time: n.now})
		}
	}
	return moved
}

// run delivers frames and advances the clock to the next timer until cond
// holds, failing after a bounded number of steps.
func (n *simNet) run(cond func() bool) {
	n.t.Helper()
	idle := 0
	for i := 0; i < 2000000; i++ {
		if cond() {
			return
		}
		if n.deliver() {
			continue
		}
		d := n.a.NextDeadline()
		if db := n.b.NextDeadline(); !db.IsZero() && (d.IsZero() || db.Before(d)) {
			d = db
		}
		if d.IsZero() {
			// Nothing in flight and no timer: only the applications (cond) can
			// make progress. Give them a millisecond; a stack that needs a
			// timer and has none stays idle until the step bound fails the test.
			idle++
			if idle > 10000 {
				n.t.Fatal("simulation idle: nothing in flight, no timer, condition not met")
			}
			n.now = n.now.Add(time.Millisecond)
			continue
		}
		idle = 0
		if d.After(n.now) {
			n.now = d
		}
		n.a.Poll(n.now)
		n.b.Poll(n.now)
	}
	n.t.Fatal("simulation did not converge")
}

func TestPingAnswered(t *testing.T) {
	n := newSim(t, 1)
	// Build an echo request from A's side by hand: A has no ping API.
	payload := []byte("netspec ping payload")
	msg := make([]byte, wire.ICMPHeaderLen+len(payload))
	wire.PutICMPHeader(msg, wire.ICMPEchoRequest, 0, 0x1234<<16|7)
	copy(msg[wire.ICMPHeaderLen:], payload)
	wire.SetICMPChecksum(msg)
	n.a.sendIP(addrB, wire.ProtoICMP, false, msg, nil)
	var reply []byte
	n.trace = func(from string, f []byte) {
		if from != addrB.String() {
			return
		}
		eth, _ := wire.ParseEthernet(f)
		if eth.Type() != wire.EtherTypeIPv4 {
			return
		}
		p, _ := wire.ParseIPv4(eth.Payload())
		if p.Protocol() == wire.ProtoICMP {
			reply = append([]byte(nil), p.Payload()...)
		}
	}
	n.run(func() bool { return reply != nil })
	m, err := wire.ParseICMP(reply)
	if err != nil || m.Type() != wire.ICMPEchoReply || m.ID() != 0x1234 || m.Seq() != 7 {
		t.Fatalf("bad reply %x (err %v)", reply, err)
	}
	if !bytes.Equal(reply[wire.ICMPHeaderLen:], payload) || wire.Checksum(reply, 0) != 0 {
		t.Fatalf("reply payload/checksum wrong: %x", reply)
	}
	if n.b.ICMP().Counters().EchoReplies != 1 || n.a.Port().Counters().ARPRequestsOut != 1 || n.b.Port().Counters().ARPRequestsOut != 0 {
		t.Fatalf("counters: %+v %+v", n.b.Counters(), n.b.ICMP().Counters())
	}
}

func TestClosedPortRefused(t *testing.T) {
	n := newSim(t, 2)
	fd, err := n.a.Dial(n.now, addrB, 81)
	if err != nil {
		t.Fatal(err)
	}
	var got error
	n.run(func() bool {
		_, got = n.a.Recv(n.now, fd, make([]byte, 1))
		return !errors.Is(got, sock.ErrWouldBlock)
	})
	if !errors.Is(got, sock.ErrRefused) && !errors.Is(got, sock.ErrReset) {
		t.Fatalf("Recv after RST: %v, want connection refused", got)
	}
}

// connect listens on B's port, dials it from A and returns both ends once B
// has accepted the connection.
func (n *simNet) connect(port uint16) (cfd, sfd FD) {
	n.t.Helper()
	ln, err := n.b.Listen(n.now, port, 16)
	if err != nil {
		n.t.Fatal(err)
	}
	if cfd, err = n.a.Dial(n.now, addrB, port); err != nil {
		n.t.Fatal(err)
	}
	n.run(func() bool {
		sfd, err = n.b.Accept(n.now, ln)
		return err == nil
	})
	return cfd, sfd
}

// transfer sends size bytes from A to B over one connection and checks that B
// reads exactly them, then closes both ways.
func transfer(t *testing.T, n *simNet, size int) {
	t.Helper()
	cfd, sfd := n.connect(80)
	want := randomBytes(uint64(size), size)
	var got bytes.Buffer
	sent := 0
	buf := make([]byte, 64<<10)
	eof := false
	n.run(func() bool {
		for sent < size {
			k, err := n.a.Send(n.now, cfd, want[sent:])
			sent += k
			if errors.Is(err, sock.ErrWouldBlock) || k == 0 {
				break
			}
			if err != nil {
				t.Fatalf("send: %v", err)
			}
		}
		if sent == size && cfd >= 0 {
			if err := n.a.Close(n.now, cfd); err != nil {
				t.Fatalf("close: %v", err)
			}
			cfd = -1
		}
		for {
			k, err := n.b.Recv(n.now, sfd, buf)
			got.Write(buf[:k])
			if err == io.EOF {
				eof = true
				break
			}
			if errors.Is(err, sock.ErrWouldBlock) {
				break
			}
			if err != nil {
				t.Fatalf("recv: %v", err)
			}
		}
		return eof
	})
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("received %d bytes, want %d (equal=%v)", got.Len(), size, bytes.Equal(got.Bytes(), want))
	}
	if err := n.b.Close(n.now, sfd); err != nil {
		t.Fatalf("server close: %v", err)
	}
	n.run(func() bool { return n.a.NextDeadline().IsZero() && n.b.NextDeadline().IsZero() })
}

func TestTransferSmall(t *testing.T) { transfer(t, newSim(t, 3), 1000) }

func TestTransfer10MiB(t *testing.T) { transfer(t, newSim(t, 4), 10<<20) }

func TestTransferUnderLoss(t *testing.T) {
	n := newSim(t, 5)
	n.loss = 0.05
	transfer(t, n, 1<<20)
}

// randomBytes returns n bytes from a generator seeded with seed.
func randomBytes(seed uint64, n int) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	b := make([]byte, n)
	r.Read(b)
	return b
}

// echoRun sends size bytes from A to B, B echoes everything back as it
// arrives, and A must read back exactly what it sent. Data flows both ways at
// once, so ACKs ride on data and both send buffers wrap.
func echoRun(t *testing.T, n *simNet, size int) { echoRunChunk(t, n, size, 32<<10) }

// echoRunChunk is echoRun with both applications reading at most chunk bytes
// per step, so slow readers close the windows and zero-window probing runs.
func echoRunChunk(t *testing.T, n *simNet, size, chunk int) {
	t.Helper()
	cfd, sfd := n.connect(7)
	want := randomBytes(uint64(size)+7, size)
	var got, pending []byte
	sent, eof, srvEOF, srvClosed := 0, false, false, false
	buf := make([]byte, chunk)
	n.run(func() bool {
		for sent < size {
			k, err := n.a.Send(n.now, cfd, want[sent:])
			sent += k
			if err != nil || k == 0 {
				break
			}
		}
		if sent == size && !srvEOF {
			n.a.CloseWrite(n.now, cfd)
		}
		if !srvEOF {
			k, err := n.b.Recv(n.now, sfd, buf)
			pending = append(pending, buf[:k]...)
			if err == io.EOF {
				srvEOF = true
			}
		}
		for len(pending) > 0 {
			k, err := n.b.Send(n.now, sfd, pending)
			pending = pending[k:]
			if err != nil || k == 0 {
				break
			}
		}
		if srvEOF && len(pending) == 0 && !srvClosed {
			n.b.Close(n.now, sfd)
			srvClosed = true
		}
		if !eof {
			k, err := n.a.Recv(n.now, cfd, buf)
			got = append(got, buf[:k]...)
			if err == io.EOF {
				eof = true
			}
		}
		return eof
	})
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("echo returned %d bytes of %d; first difference at %d", len(got), size, i)
	}
	n.a.Close(n.now, cfd)
	n.run(func() bool { return n.a.NextDeadline().IsZero() && n.b.NextDeadline().IsZero() })
}

func TestEcho1MiB(t *testing.T) { echoRun(t, newSim(t, 6), 1<<20) }

func TestEchoUnderLoss(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		n := newSim(t, 100+seed)
		n.loss = 0.02
		echoRun(t, n, 1<<20)
	}
}

func TestEchoSlowReaders(t *testing.T) {
	for _, chunk := range []int{100, 1000, 5000} {
		echoRunChunk(t, newSim(t, uint64(chunk)), 1<<20, chunk)
	}
}

func TestEachCounterNamesDropsAndEvents(t *testing.T) {
	n := newSim(t, 9)
	transfer(t, n, 5000)
	got := map[string]uint64{}
	n.b.EachCounter(func(name string, v uint64) {
		if _, dup := got[name]; dup {
			t.Errorf("counter %q reported twice", name)
		}
		got[name] = v
	})
	for _, name := range []string{"stack.FramesIn", "ip.Delivered", "tcp.SegsIn", "tcp.PassiveOpens", "link.drop.not_for_us", "ip.drop.BadChecksum"} {
		if _, ok := got[name]; !ok {
			t.Errorf("counter %q missing", name)
		}
	}
	if got["tcp.PassiveOpens"] != 1 || got["stack.FramesIn"] == 0 {
		t.Errorf("counts wrong: PassiveOpens=%d FramesIn=%d", got["tcp.PassiveOpens"], got["stack.FramesIn"])
	}
}
