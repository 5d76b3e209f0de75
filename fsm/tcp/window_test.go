package tcp

import (
	"testing"

	"github.com/netspec/netspec/fsm/wire"
)

// TestEstablishedSlowReaderWindow is the regression test for a receive-window
// bug: rounding the scaled window up on every small read let the promised
// right edge creep past the receive buffer, and new data overwrote unread
// data. A peer that always fills the advertised window meets a reader taking
// 100 bytes at a time; the window must never promise more than fits, and must
// not reopen by less than an MSS (receiver SWS avoidance, MUST-39).
func TestEstablishedSlowReaderWindow(t *testing.T) {
	r := newRig(t, Config{RecvBuf: 256 << 10})
	const irs, iss = 1000, 5000
	r.isses = append(r.isses, iss)
	r.listen(0)
	r.send(seg{flags: SYN, seq: irs, opts: wire.TCPOptions{HasWScale: true, WScale: 2, HasMSS: true, MSS: 1460}})
	r.recv(seg{flags: SYN | ACK, seq: iss, ack: irs + 1})
	r.send(seg{flags: ACK, seq: irs + 1, ack: iss + 1})
	r.state(StateEstablished)
	if _, err := r.ln.Accept(r.now); err != nil {
		t.Fatal(err)
	}
	if r.c.rcv.shift == 0 {
		t.Fatal("test needs a scaled receive window")
	}
	next := uint32(irs + 1) // next octet the peer sends
	edge := next + 0xffff   // right edge from the SYN-ACK (unscaled)
	var stream, read []byte // what the peer sent, what the user read
	buf := make([]byte, 100)
	for round := 0; round < 3000; round++ {
		for seqBefore(next, edge) {
			n := min(1460, int(edge-next))
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(len(stream) + i*7)
			}
			r.send(seg{flags: ACK, seq: next, ack: iss + 1, data: data})
			stream = append(stream, data...)
			next += uint32(n)
		}
		if c := r.c; c.rcv.buf.unread+int(c.rcv.wnd()) > c.rcv.buf.size {
			t.Fatalf("round %d: unread %d + window %d exceeds the ring (%d)", round, c.rcv.buf.unread, c.rcv.wnd(), c.rcv.buf.size)
		}
		n, err := r.c.Recv(r.now, buf)
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		read = append(read, buf[:n]...)
		for _, s := range r.o.segs {
			h, _ := wire.ParseTCP(s.b)
			newEdge := h.Ack() + uint32(h.Window())<<r.c.rcv.shift
			// The field rounds down to the scale unit, so the peer's view of
			// the edge may lag ours by less than a unit.
			if unit := uint32(1) << r.c.rcv.shift; seqBefore(edge, newEdge) && newEdge-edge < 1460-unit {
				t.Fatalf("round %d: window reopened by only %d octets", round, newEdge-edge)
			}
			if seqBefore(edge, newEdge) {
				edge = newEdge
			}
		}
		r.o.segs = r.o.segs[:0]
	}
	for i := range read {
		if read[i] != stream[i] {
			t.Fatalf("octet %d read as %d, sent as %d", i, read[i], stream[i])
		}
	}
	if len(read) != 300000 {
		t.Fatalf("read %d octets, want 300000", len(read))
	}
}

func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }
