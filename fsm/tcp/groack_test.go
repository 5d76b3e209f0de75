package tcp

import (
	"fmt"
	"slices"
	"testing"

	"github.com/netspec/netspec/fsm/wire"
)

// ackSeen is what a test reads of an ACK we sent: its acknowledgment
// number, window field and SACK blocks.
type ackSeen struct {
	ack  uint32
	wnd  uint16
	sack string
}

// takeAcks returns the segments sent since the last call as ackSeen.
func (r *groRig) takeAcks() []ackSeen {
	var out []ackSeen
	for _, s := range r.o.take() {
		t := wire.TCP(s.b)
		var o wire.TCPOptions
		if err := wire.ParseTCPOptions(t.Options(), &o); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, ackSeen{t.Ack(), t.Window(), fmt.Sprint(o.SACK[:o.NumSACK])})
	}
	return out
}

// TestCoalescedUploadACKs: the ACKs an upload from a Linux client draws
// (the loss benchmark's upload: the client fills the first 64 KiB before
// the application reads, with a segment lost now and then) are the same
// with receive coalescing and without, and each one an RFC asks to leave
// at once does, within the batch that owes it:
//
//   - a batch that fills the window is acknowledged at its end with a zero
//     window, the segments past the edge not taken;
//   - the read that frees more than an MSS sends the window update at once
//     (RFC 9293 §3.8.6.2.2, RFC 1122 4.2.3.3), with no timer to wait for;
//   - out-of-order segments draw an ACK with SACK blocks at the end of
//     their batch (RFC 5681 §4.2, RFC 2018), and the segment that fills the
//     hole an ACK of everything at the end of its batch, not a delayed one.
//
// A batch here is one read from the link, as the driver loop's; Linux's
// GRO acknowledges the segments of one NAPI poll the same way.
func TestCoalescedUploadACKs(t *testing.T) {
	const mss = 1448
	var seen [2][][]ackSeen
	for i, off := range []bool{false, true} {
		r := newGroRig(t, Config{NoRecvCoalescing: off, RecvBuf: 64 << 10})
		step := func(what string, want func([]ackSeen) bool) {
			t.Helper()
			got := r.takeAcks()
			if !want(got) {
				t.Fatalf("NoRecvCoalescing %v: %s: sent %+v", off, what, got)
			}
			seen[i] = append(seen[i], got)
		}
		nxt := func() uint32 { return uint32(r.c.tcb.RcvNxt) }
		// 50 full segments: more than the 64 KiB window holds.
		r.l.BeginBatch()
		for k := range 50 {
			r.batchSeg(100+uint32(k*mss), mss)
		}
		step("before EndBatch", func(a []ackSeen) bool { return len(a) == 0 })
		r.l.EndBatch(r.now)
		step("full window", func(a []ackSeen) bool {
			return len(a) > 0 && a[len(a)-1].ack == nxt() && a[len(a)-1].wnd == 0 && nxt()-100 <= 64<<10
		})
		// The application reads: the window update leaves at once.
		buf := make([]byte, 64<<10)
		if k, err := r.c.Recv(r.now, buf); k != int(nxt()-100) || err != nil {
			t.Fatalf("Recv %d, %v", k, err)
		}
		step("window update", func(a []ackSeen) bool { return len(a) == 1 && a[0].ack == nxt() && a[0].wnd > 0 })
		// A batch that loses its first segment: one ACK, at its end,
		// with the SACK block of the rest.
		hole := nxt()
		r.l.BeginBatch()
		for k := 1; k < 8; k++ {
			r.batchSeg(hole+uint32(k*mss), mss)
		}
		r.l.EndBatch(r.now)
		sack := fmt.Sprint([]wire.SACKBlock{{Start: hole + mss, End: hole + 8*mss}})
		step("out of order", func(a []ackSeen) bool {
			return len(a) >= 1 && !slices.ContainsFunc(a, func(s ackSeen) bool { return s.ack != hole || s.sack != sack })
		})
		// The retransmission fills the hole, with new data after it.
		r.l.BeginBatch()
		r.batchSeg(hole, mss)
		for k := 8; k < 12; k++ {
			r.batchSeg(hole+uint32(k*mss), mss)
		}
		r.l.EndBatch(r.now)
		step("hole filled", func(a []ackSeen) bool {
			return len(a) >= 1 && a[len(a)-1].ack == hole+12*mss && a[len(a)-1].sack == "[]"
		})
		if n := r.l.Counters().SegsCoalesced; (n == 0) != off {
			t.Fatalf("NoRecvCoalescing %v: %d segments coalesced", off, n)
		}
		t.Logf("NoRecvCoalescing %v: ACKs %+v", off, seen[i])
	}
	if fmt.Sprint(seen[0]) != fmt.Sprint(seen[1]) {
		t.Fatalf("ACKs differ:\ncoalesced %+v\nalone     %+v", seen[0], seen[1])
	}
}
