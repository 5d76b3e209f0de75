package tcp

import (
	"errors"
	"testing"
)

// TestQuiescentAfterAbortWithUnreadData: ABORT of a connection holding
// unread data flushes its queues (RFC 9293 §3.10.5) and gives both rings
// back; it used to keep the receive ring, lent and never returned.
func TestQuiescentAfterAbortWithUnreadData(t *testing.T) {
	r := newRig(t, Config{}, 300)
	r.establishedPassive(100, 300)
	r.send(seg{flags: ACK, seq: 101, ack: 301, data: pattern(3, 500)})
	r.ln.Close(r.now)
	if err := r.l.Quiescent(); err == nil {
		t.Fatal("Quiescent with a connection holding data: want an error")
	}
	r.c.Abort(r.now)
	if err := r.l.Quiescent(); err != nil {
		t.Fatal(err)
	}
}

// TestQuiescentAfterReset: a RST flushes the queues of the connection it
// resets (RFC 9293 §3.10.7.4 step 4), so nothing stays lent even before
// the user closes it; CLOSE afterwards changes nothing.
func TestQuiescentAfterReset(t *testing.T) {
	r := newRig(t, Config{}, 300)
	r.establishedPassive(100, 300)
	r.send(seg{flags: ACK, seq: 101, ack: 301, data: pattern(3, 500)})
	r.o.take()
	r.send(seg{flags: RST, seq: 601})
	r.state(StateClosed)
	r.ln.Close(r.now)
	if err := r.l.Quiescent(); err != nil {
		t.Fatal(err)
	}
	r.c.Close(r.now)
	if err := r.l.Quiescent(); err != nil {
		t.Fatal(err)
	}
}

// TestQuiescentReportsTimeWait: a TIME-WAIT record, and its timer, are held
// until 2*MSL has passed.
func TestQuiescentReportsTimeWait(t *testing.T) {
	r := newRig(t, Config{}, 300)
	r.establishedPassive(100, 300)
	r.c.Close(r.now)
	r.recv(seg{flags: FIN | ACK, seq: 301, ack: 101})
	r.send(seg{flags: FIN | ACK, seq: 101, ack: 302})
	r.recv(seg{flags: ACK, seq: 302, ack: 102})
	r.ln.Close(r.now)
	if err := r.l.Quiescent(); !errors.Is(err, ErrNotQuiescent) {
		t.Fatalf("Quiescent in TIME-WAIT: %v, want ErrNotQuiescent", err)
	}
	r.advance(2 * r.l.cfg.MSL)
	if err := r.l.Quiescent(); err != nil {
		t.Fatal(err)
	}
}
