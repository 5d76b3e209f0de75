package tcp

import (
	"testing"
)

// TestOOOStackCap: Config.MaxOOOBytes bounds the out-of-order octets held
// across connections. A second connection's early segment is dropped (and
// counted) while the first holds the budget, and accepted once the first
// connection's hole fills and frees it.
func TestOOOStackCap(t *testing.T) {
	r := newRig(t, Config{MaxOOOBytes: 1000}, 299, 499)
	r.establishedPassive(99, 299)
	first := r.c
	r.pport, r.c = 1001, nil
	r.send(seg{flags: SYN, seq: 199})
	r.recv(seg{flags: SYN | ACK, seq: 499, ack: 200})
	r.send(seg{flags: ACK, seq: 200, ack: 500})
	second := r.c
	if _, err := r.ln.Accept(r.now); err != nil {
		t.Fatal(err)
	}
	r.pport = 1000
	r.send(seg{flags: ACK, seq: 110, ack: 300, data: make([]byte, 800)}) // hole [100,110)
	r.o.take()
	if got := r.l.Counters().OOOBytes; got != 800 {
		t.Fatalf("OOOBytes %d, want 800", got)
	}
	r.pport = 1001
	r.send(seg{flags: ACK, seq: 210, ack: 500, data: make([]byte, 400)})
	r.o.take()
	if ctr := r.l.Counters(); ctr.OOOStackDrops != 1 || ctr.OOOBytes != 800 || len(second.rcv.buf.ooo) != 0 {
		t.Fatalf("stack drops %d, held %d, second's ranges %d; want 1, 800, 0", ctr.OOOStackDrops, ctr.OOOBytes, len(second.rcv.buf.ooo))
	}
	if err := r.l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	r.pport = 1000
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: make([]byte, 10)}) // fills the hole
	if first.tcb.RcvNxt != 910 || r.l.Counters().OOOBytes != 0 {
		t.Fatalf("RCV.NXT %d, held %d after the hole filled", first.tcb.RcvNxt, r.l.Counters().OOOBytes)
	}
	r.pport = 1001
	r.send(seg{flags: ACK, seq: 210, ack: 500, data: make([]byte, 400)})
	if r.l.Counters().OOOBytes != 400 || len(second.rcv.buf.ooo) != 1 {
		t.Fatalf("held %d after room came back", r.l.Counters().OOOBytes)
	}
	second.Abort(r.now) // freed: its octets leave the total
	if r.l.Counters().OOOBytes != 0 {
		t.Fatalf("held %d after the holder was aborted", r.l.Counters().OOOBytes)
	}
	if err := r.l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
