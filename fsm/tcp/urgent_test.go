package tcp

import (
	"testing"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// urgNotes counts the Urgent readiness reports for id since the last call.
func urgNotes(r *rig, id uint64) int {
	n := 0
	for _, x := range r.o.notes {
		if x.id == id && x.ev&sock.Urgent != 0 {
			n++
		}
	}
	r.o.notes = r.o.notes[:0]
	return n
}

// TestUrgentNotifyAndPending: the application is told asynchronously when
// the urgent pointer arrives or advances (RFC 9293 §3.8.5, MUST-32: the
// sock.Urgent readiness bit), never for a pointer that does not advance,
// and Conn.Urgent says whether and how much urgent data remains to be read
// (MUST-33), counting down as the in-line data is read; the pointer names
// the octet after the urgent data (MUST-62).
func TestUrgentNotifyAndPending(t *testing.T) {
	r := newRig(t, Config{RecvBuf: 1000}, 299)
	r.establishedPassive(99, 299)
	r.c.SetID(7)
	urg := func(seq uint32, data []byte, up uint16) {
		h := wire.TCPHeader{SrcPort: r.pport, DstPort: r.uport, Seq: seq, Ack: 300, Flags: ACK | wire.FlagURG, Window: 0xffff, Urgent: up}
		b := make([]byte, h.Len()+len(data))
		copy(b[h.Put(b):], data)
		wire.SetTCPChecksum(b, r.peer, r.us)
		r.l.Input(r.now, r.peer, r.us, b, false)
	}
	urgent := func(wantN int, wantOK bool) {
		t.Helper()
		if n, ok := r.c.Urgent(); n != wantN || ok != wantOK {
			t.Fatalf("Urgent() = %d, %v; want %d, %v", n, ok, wantN, wantOK)
		}
	}
	urgNotes(r, 7)
	urgent(0, false)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("xy")})
	if n := urgNotes(r, 7); n != 0 {
		t.Fatalf("%d urgent notifications for plain data", n)
	}
	urgent(0, false)
	urg(102, []byte("ab!cd"), 3) // urgent: "xyab!", pointer at 105 ("c")
	if n := urgNotes(r, 7); n != 1 {
		t.Fatalf("%d urgent notifications for a new urgent pointer, want 1", n)
	}
	urgent(5, true)
	urg(102, []byte("ab!cdef"), 3) // a retransmission with new data: the same pointer, no news
	if n := urgNotes(r, 7); n != 0 {
		t.Fatalf("%d urgent notifications for a pointer that did not advance", n)
	}
	urgent(5, true)
	b := make([]byte, 3)
	if n, _ := r.c.Recv(r.now, b); n != 3 || string(b) != "xya" {
		t.Fatalf("Recv %q", b[:n])
	}
	urgent(2, true) // "b!" left before the mark
	if n, _ := r.c.Recv(r.now, b[:2]); n != 2 {
		t.Fatalf("Recv %d", n)
	}
	urgent(0, false)           // at the mark: nothing urgent left
	urg(109, []byte("gh"), 10) // the pointer advances beyond the data received
	if n := urgNotes(r, 7); n != 1 {
		t.Fatalf("%d urgent notifications for an advancing pointer, want 1", n)
	}
	urgent(119-105, true) // "cdefgh" in the buffer and 8 octets not yet arrived
	big := make([]byte, 100)
	r.c.Recv(r.now, big)
	urgent(8, true)
	r.state(StateEstablished)
}

// TestUrgentPendingAfterFin: the urgent count stays right once the peer's
// FIN (which occupies RCV.NXT-1) has arrived.
func TestUrgentPendingAfterFin(t *testing.T) {
	r := newRig(t, Config{RecvBuf: 1000}, 299)
	r.establishedPassive(99, 299)
	h := wire.TCPHeader{SrcPort: r.pport, DstPort: r.uport, Seq: 100, Ack: 300, Flags: ACK | FIN | wire.FlagURG, Window: 0xffff, Urgent: 2}
	b := make([]byte, h.Len()+4)
	copy(b[h.Put(b):], "abcd")
	wire.SetTCPChecksum(b, r.peer, r.us)
	r.l.Input(r.now, r.peer, r.us, b, false)
	r.state(StateCloseWait)
	if n, ok := r.c.Urgent(); n != 2 || !ok {
		t.Fatalf("Urgent() = %d, %v; want 2, true", n, ok)
	}
	buf := make([]byte, 10)
	r.c.Recv(r.now, buf[:2])
	if n, ok := r.c.Urgent(); n != 0 || ok {
		t.Fatalf("after reading the urgent octets: Urgent() = %d, %v", n, ok)
	}
}
