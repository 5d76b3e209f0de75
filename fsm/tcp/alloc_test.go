package tcp

import (
	"math/rand/v2"
	"testing"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// lastSeg is an Output that keeps only the most recent segment, in a buffer
// allocated once, so it adds no allocations of its own.
type lastSeg struct {
	buf      [wire.TCPMaxHeaderLen + 0xffff]byte
	n        int
	src, dst wire.Addr
	count    int
}

func (o *lastSeg) SendSegment(src, dst wire.Addr, _ SegMeta, seg []byte) {
	o.n = copy(o.buf[:], seg)
	o.src, o.dst = src, dst
	o.count++
}

func (o *lastSeg) Notify(uint64, sock.Readiness) {}

func (o *lastSeg) seg() []byte { return o.buf[:o.n] }

// steadyState connects a pair whose outputs keep only their last segment and
// returns it with one round of steady-state traffic: the client sends 1000
// octets, the server takes the data segment and reads it, the client takes
// the ACK.
func steadyState(tb testing.TB) (*wirePair, *Conn, func()) {
	p := newWirePair(tb, 5, Config{DelayedACK: -1}, faults{})
	client, server := p.connect()
	oa, ob := &lastSeg{}, &lastSeg{}
	p.a.out, p.b.out = oa, ob
	data := make([]byte, 1000)
	rbuf := make([]byte, 4096)
	round := func() {
		if n, err := client.Send(p.now, data); n != len(data) || err != nil {
			tb.Fatalf("Send %d %v", n, err)
		}
		p.b.Input(p.now, oa.src, oa.dst, oa.seg(), false) // data to the server
		if n, err := server.Recv(p.now, rbuf); n != len(data) || err != nil {
			tb.Fatalf("Recv %d %v", n, err)
		}
		p.a.Input(p.now, ob.src, ob.dst, ob.seg(), false) // its ACK to the client
		if _, err := server.Recv(p.now, rbuf); err != sock.ErrWouldBlock {
			tb.Fatalf("Recv on empty: %v", err)
		}
	}
	return p, client, round
}

// TestSteadyStateNoAllocs: sending a segment, receiving it, reading it and
// processing the ACK allocate nothing once the buffers exist.
func TestSteadyStateNoAllocs(t *testing.T) {
	_, client, round := steadyState(t)
	round() // allocate the ring buffers
	if a := testing.AllocsPerRun(200, round); a != 0 {
		t.Fatalf("%.1f allocations per round trip, want 0", a)
	}
	if client.tcb.SndUna != client.tcb.SndNxt {
		t.Fatal("data not acknowledged")
	}
}

// BenchmarkTransfer moves 4 MiB each way between two layers over a perfect
// in-memory link. The figure includes the test link's copying of every
// segment (the allocations reported are the harness's, see
// TestSteadyStateNoAllocs for the layer's own).
func BenchmarkTransfer(b *testing.B) {
	const size = 4 << 20
	up := pattern(1, size)
	b.SetBytes(2 * size)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := newWirePair(b, uint64(i), Config{}, faults{})
		p.rng = rand.New(rand.NewPCG(uint64(i), 1))
		client, server := p.connect()
		cs := &streamer{c: client, out: up}
		ss := &streamer{c: server, out: up}
		p.runUntil(func() bool {
			cs.pump(p.now)
			ss.pump(p.now)
			return cs.eof && ss.eof
		}, 1<<20)
		if len(cs.in) != size || len(ss.in) != size {
			b.Fatal("short transfer")
		}
	}
}
