package tcp

import (
	"math/rand/v2"
	"testing"

	"github.com/netspec/netspec/fsm/seqnum"
)

// check verifies the queue's records against [una, nxt): contiguous,
// non-empty, and the pipe and SACKed counts equal to a recount.
func (q *txQueue) check(t *testing.T, una, nxt seqnum.Value, step int) {
	t.Helper()
	if q.n() == 0 {
		if una != nxt {
			t.Fatalf("step %d: empty queue for [%d,%d)", step, una, nxt)
		}
		return
	}
	if q.at(0).start != una || q.at(q.n()-1).end != nxt {
		t.Fatalf("step %d: records [%d,%d), want [%d,%d)", step, q.at(0).start, q.at(q.n()-1).end, una, nxt)
	}
	var pipe uint32
	sacked := 0
	for i := 0; i < q.n(); i++ {
		r := q.at(i)
		if !r.start.LessThan(r.end) || (i > 0 && q.at(i-1).end != r.start) {
			t.Fatalf("step %d: record %d [%d,%d) empty or not contiguous", step, i, r.start, r.end)
		}
		pipe += weight(r)
		if r.flags&segSacked != 0 {
			sacked++
		}
	}
	if pipe != q.pipe || sacked != q.sacked {
		t.Fatalf("step %d: pipe %d sacked %d, recount %d %d", step, q.pipe, q.sacked, pipe, sacked)
	}
}

// TestPropertyTxQueueBounded: random sends, retransmissions (with the cuts
// they need), SACKs, losses and cumulative ACKs on a queue of 8 records,
// so that it is full most of the time: the records always cover exactly
// [SND.UNA, SND.NXT) and the pipe and SACKed counts stay exact, merging
// instead of growing.
func TestPropertyTxQueueBounded(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		q := &txQueue{s: make([]txSeg, 8)}
		una, nxt := seqnum.Value(1<<32-5000), seqnum.Value(1<<32-5000) // wraps
		now := int64(0)
		for step := 0; step < 2000; step++ {
			now++
			switch op := rng.IntN(10); {
			case op < 4: // new segment
				n := seqnum.Size(1 + rng.IntN(1500))
				q.push(txSeg{start: nxt, end: nxt.Add(n), xmit: now})
				nxt = nxt.Add(n)
			case op < 6 && q.n() > 0: // retransmit a sub-range
				i := rng.IntN(q.n())
				r := q.at(i)
				seq := r.start.Add(seqnum.Size(rng.IntN(int(r.end - r.start))))
				end := seqnum.Min(seq.Add(seqnum.Size(1+rng.IntN(1500))), nxt)
				for _, at := range [2]seqnum.Value{seq, end} {
					if j := q.find(at); j >= 0 && q.at(j).start.LessThan(at) {
						q.split(j, at)
					}
				}
				for j := q.find(seq); j >= 0 && j < q.n() && q.at(j).start.LessThan(end); j++ {
					q.at(j).xmit = now
					q.setFlags(q.at(j), segRtx|segRtxOut, 0)
				}
			case op < 7 && q.n() > 0: // SACK one record
				q.setFlags(q.at(rng.IntN(q.n())), segSacked, segRtxOut|segLost)
			case op < 8 && q.n() > 0: // RACK marks one lost
				if j := rng.IntN(q.n()); q.at(j).flags&segSacked == 0 {
					q.markLost(j)
				}
			default: // cumulative ACK
				if nxt != una {
					una = una.Add(seqnum.Size(rng.IntN(int(nxt-una) + 1)))
					q.popAcked(una, func(*txSeg) {})
				}
			}
			q.check(t, una, nxt, step)
			var first *txSeg
			for j := 0; j < q.n(); j++ {
				if q.at(j).flags&(segLost|segRtxOut|segSacked) == segLost {
					first = q.at(j)
					break
				}
			}
			if r, ok := q.nextLost(); ok != (first != nil) || (ok && r != first) {
				t.Fatalf("step %d: nextLost %v %v, first lost record %v", step, r, ok, first)
			}
		}
		if q.merges == 0 {
			t.Fatalf("seed %d: the queue never filled: the test proved nothing", seed)
		}
	}
}

// TestInvariantsTxQueue: CheckInvariants catches a transmit queue that no
// longer covers the flight, records that are not contiguous, and a pipe
// that disagrees with the records.
func TestInvariantsTxQueue(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(c *Conn)
		want   string
	}{
		{"Uncovered", func(c *Conn) { c.snd.txq.at(c.snd.txq.n()-1).end-- }, "transmit records cover"},
		{"Gap", func(c *Conn) { c.snd.txq.at(1).start++ }, "not contiguous"},
		{"Pipe", func(c *Conn) { c.snd.txq.pipe++ }, "pipe"},
		{"Empty", func(c *Conn) { c.snd.txq.reset() }, "no transmit records"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{})
			r.establishedSACK()
			r.write(3 * rkMSS)
			r.drain()
			if err := r.l.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
			tc.break_(r.c)
			mustBreak(t, r.l.CheckInvariants(), tc.want)
		})
	}
}
