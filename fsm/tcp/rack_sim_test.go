package tcp

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// TestRACKFewerTimeoutsAt5Percent: at 5 % loss both ways with SACK, the
// same seeds see strictly fewer retransmission timeouts with RACK-TLP than
// without, because lost retransmissions and lost tails are repaired by
// RACK and the loss probe (RFC 8985 §2.2, §7); and RACK did find lost
// retransmissions. Counters, not time, are asserted.
func TestRACKFewerTimeoutsAt5Percent(t *testing.T) {
	const seeds, size = 8, 512 << 10
	for _, cc := range []CongestionControl{NewReno, CUBIC} {
		var timeouts [2]uint64
		var lostRtx, probes uint64
		for i, noRACK := range []bool{false, true} {
			for seed := uint64(1); seed <= seeds; seed++ {
				p := newWirePair(t, seed, Config{CC: cc, NoRACK: noRACK}, faults{loss: 0.05, rate: 100e6, delay: 10 * time.Millisecond, queue: 200})
				oneWay(t, p, seed, size, 50_000_000)
				ctr := p.a.Counters()
				timeouts[i] += ctr.Timeouts
				if !noRACK {
					lostRtx += ctr.LostRetransmits
					probes += ctr.TLPProbes
				} else if ctr.TLPProbes != 0 || ctr.RACKLosses != 0 {
					t.Fatalf("NoRACK: %d probes, %d RACK losses", ctr.TLPProbes, ctr.RACKLosses)
				}
			}
		}
		t.Logf("%v: timeouts with RACK %d, without %d; lost retransmissions repaired %d, probes %d", cc, timeouts[0], timeouts[1], lostRtx, probes)
		if timeouts[0] >= timeouts[1] {
			t.Errorf("%v: %d timeouts with RACK, %d without", cc, timeouts[0], timeouts[1])
		}
		if lostRtx == 0 {
			t.Errorf("%v: RACK found no lost retransmission in %d transfers at 5 %% loss", cc, seeds)
		}
	}
}

// TestPropertyRACKByteExactUnderFaults: under loss, reordering,
// duplication and corruption in both directions, with RACK on and off,
// both streams arrive byte-exact and every invariant (the transmit queue's
// included) holds after every step.
func TestPropertyRACKByteExactUnderFaults(t *testing.T) {
	seeds := uint64(6)
	if testing.Short() {
		seeds = 2
	}
	for _, noRACK := range []bool{false, true} {
		for seed := uint64(1); seed <= seeds; seed++ {
			t.Run(fmt.Sprintf("norack=%v/seed=%d", noRACK, seed), func(t *testing.T) {
				f := faults{loss: 0.04, reorder: 0.08, dup: 0.03, corrupt: 0.01, rate: 50e6, delay: 5 * time.Millisecond}
				p := newWirePair(t, seed, Config{NoRACK: noRACK, CC: CongestionControl(seed % 2)}, f)
				client, server := p.connect()
				up, down := pattern(seed, 200<<10), pattern(seed+100, 100<<10)
				cs := &streamer{c: client, out: up}
				ss := &streamer{c: server, out: down}
				p.runUntil(func() bool {
					cs.pump(p.now)
					ss.pump(p.now)
					if cs.err != nil || ss.err != nil {
						t.Fatalf("client err %v, server err %v", cs.err, ss.err)
					}
					for _, l := range []*Layer{p.a, p.b} {
						if err := l.CheckInvariants(); err != nil {
							t.Fatalf("at %v: %v", p.now.Sub(epoch), err)
						}
					}
					return cs.eof && ss.eof
				}, 10_000_000)
				if !bytes.Equal(ss.in, up) || !bytes.Equal(cs.in, down) {
					t.Fatal("streams differ")
				}
			})
		}
	}
}

// slotOut is an Output that keeps the segments of one step in buffers
// allocated once, so it adds no allocations of its own.
type slotOut struct {
	buf      [8][2048]byte
	n        [8]int
	k        int
	src, dst wire.Addr
}

func (o *slotOut) SendSegment(src, dst wire.Addr, _ SegMeta, seg []byte) {
	if o.k < len(o.buf) {
		o.n[o.k] = copy(o.buf[o.k][:], seg)
		o.k++
	}
	o.src, o.dst = src, dst
}

func (o *slotOut) Notify(uint64, sock.Readiness) {}

// take returns the segments captured since the last call.
func (o *slotOut) take() [][]byte {
	var out [8][]byte
	for i := 0; i < o.k; i++ {
		out[i] = o.buf[i][:o.n[i]]
	}
	k := o.k
	o.k = 0
	return out[:k:k]
}

// TestRACKRecoveryNoAllocs: a loss episode with RACK (SACKs, loss
// detection, recovery, the retransmission, its ACK) allocates nothing once
// the buffers and the transmit queue exist.
func TestRACKRecoveryNoAllocs(t *testing.T) {
	p := newWirePair(t, 5, Config{DelayedACK: -1, NoDelay: true}, faults{})
	client, server := p.connect()
	if !client.snd.rackOn() {
		t.Fatal("RACK off")
	}
	oa, ob := &slotOut{}, &slotOut{}
	p.a.out, p.b.out = oa, ob
	data := make([]byte, 1000)
	rbuf := make([]byte, 8192)
	toB := func(segs [][]byte) {
		for _, s := range segs {
			p.b.Input(p.now, oa.src, oa.dst, s, false)
		}
	}
	toA := func(segs [][]byte) {
		for _, s := range segs {
			p.a.Input(p.now, ob.src, ob.dst, s, false)
		}
	}
	round := func() {
		client.snd.cc.cwnd, client.snd.cc.ssthresh = 10*uint32(client.snd.mss), 1<<30 // each episode from the same window
		for range 4 {
			if n, err := client.Send(p.now, data); n != len(data) || err != nil {
				t.Fatalf("Send %d %v", n, err)
			}
		}
		segs := oa.take()
		if len(segs) != 4 {
			t.Fatalf("%d segments sent", len(segs))
		}
		toB(segs[1:]) // the first is lost
		p.now = p.now.Add(time.Millisecond)
		toA(ob.take()) // SACKs: RACK marks the first lost and retransmits it
		toB(oa.take())
		toA(ob.take())
		if n, err := server.Recv(p.now, rbuf); n != 4*len(data) || err != nil {
			t.Fatalf("Recv %d %v", n, err)
		}
		ob.take()
	}
	round()
	before := p.a.Counters().RACKLosses
	if a := testing.AllocsPerRun(100, round); a != 0 {
		t.Fatalf("%.1f allocations per loss episode, want 0", a)
	}
	if got := p.a.Counters().RACKLosses - before; got < 100 {
		t.Fatalf("%d RACK losses in 101 episodes: the test measured no recovery", got)
	}
	if client.tcb.SndUna != client.tcb.SndNxt {
		t.Fatal("data not acknowledged")
	}
}

// BenchmarkLossyTransfer moves 8 MiB one way over a 1 Gbit/s, 2 ms RTT
// link with 1 % loss, with RACK-TLP on and off: the CPU cost of the
// transmit queue and RACK's per-ACK work (the harness's copying included in
// both). Reported: ns per data segment sent.
func BenchmarkLossyTransfer(b *testing.B) {
	const size = 8 << 20
	for _, noRACK := range []bool{false, true} {
		b.Run(fmt.Sprintf("norack=%v", noRACK), func(b *testing.B) {
			b.SetBytes(size)
			var segs uint64
			for i := 0; b.Loop(); i++ {
				p := newWirePair(b, uint64(i+1), Config{NoRACK: noRACK, SendBuf: 4 << 20, RecvBuf: 4 << 20}, faults{loss: 0.01, rate: 1e9, delay: time.Millisecond, queue: 1000})
				client, server := p.connect()
				cs := &streamer{c: client, out: pattern(1, size)}
				ss := &streamer{c: server}
				ss.closed = true
				p.runUntil(func() bool {
					cs.pump(p.now)
					ss.pump(p.now)
					return ss.eof
				}, 50_000_000)
				segs += p.a.Counters().SegsOut
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(segs), "ns/seg")
		})
	}
}
