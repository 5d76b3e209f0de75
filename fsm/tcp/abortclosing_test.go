package tcp

import (
	"testing"
	"time"
)

// ABORT in CLOSING, LAST-ACK and TIME-WAIT (RFC 9293 §3.10.5): "Respond
// with ok and delete the TCB": no RST (our FIN is out, the peer's is in),
// the connection and its timers are gone, and no drop is counted (the
// rig's drop-counts-a-segment check: no segment was discarded).

// abortQuietly aborts r.c and asserts the end the three states share.
func abortQuietly(t *testing.T, r *rig) {
	t.Helper()
	if err := r.c.Abort(r.now); err != nil {
		t.Fatalf("ABORT: %v, want ok", err)
	}
	r.recvNothing()
	r.state(StateClosed)
	r.checkDrops("ABORT")
	if ctr := r.l.Counters(); ctr.Conns != 0 || ctr.Timers != 0 || ctr.RingsLent != 0 {
		t.Fatalf("after ABORT: %d connections, %d timers, %d rings lent, want none", ctr.Conns, ctr.Timers, ctr.RingsLent)
	}
	r.advance(10 * time.Minute) // past 2*MSL and every other timeout: nothing left to fire
	r.recvNothing()
}

func TestClosingAbort(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.closingPassive()
	abortQuietly(t, r)
}

func TestLastAckAbort(t *testing.T) { abortQuietly(t, lastAck(t)) }

func TestTimeWaitAbort(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	if err := r.c.CloseWrite(r.now); err != nil {
		t.Fatal(err)
	}
	r.recv(seg{flags: FIN | ACK, seq: 300, ack: 100})
	r.send(seg{flags: ACK, seq: 100, ack: 301})
	r.state(StateFinWait2)
	r.send(seg{flags: FIN | ACK, seq: 100, ack: 301})
	r.recv(seg{flags: ACK, seq: 301, ack: 101})
	r.state(StateTimeWait)
	abortQuietly(t, r)
}
