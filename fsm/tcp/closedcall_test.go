package tcp

import (
	"errors"
	"testing"

	"github.com/netspec/netspec/fsm/sock"
)

// User calls on a connection that has ended (RFC 9293 §3.10, "CLOSED STATE
// (i.e., TCB does not exist)"): SEND, CLOSE and ABORT each return "error:
// connection does not exist" (sock.ErrNotExist), issue 12's escape "CLOSE on
// a CLOSED connection no longer reporting connection does not exist". The
// property each asserts is named in its failure: closed-call-not-exist.

// lastAck brings a new rig's connection to LAST-ACK: passively opened
// (IRS 99, ISS 299), the peer closed first, then we did (CloseWrite).
func lastAck(t *testing.T) *rig {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: FIN | ACK, seq: 100, ack: 300})
	r.recv(seg{flags: ACK, seq: 300, ack: 101})
	if err := r.c.CloseWrite(r.now); err != nil {
		t.Fatal(err)
	}
	r.recv(seg{flags: FIN | ACK, seq: 300, ack: 101})
	r.state(StateLastAck)
	return r
}

// closedNormally brings the rig's connection through LAST-ACK to CLOSED
// without an error: the peer acks our FIN.
func closedNormally(t *testing.T) *rig {
	r := lastAck(t)
	r.send(seg{flags: ACK, seq: 101, ack: 301})
	r.state(StateClosed)
	return r
}

// TestClosedAbort: ABORT in CLOSED STATE, "If the user should not have
// access to such a connection, return error: connection illegal for this
// process. Otherwise, return error: connection does not exist" (§3.10.5);
// nothing is sent.
func TestClosedAbort(t *testing.T) {
	r := closedNormally(t)
	if err := r.c.Abort(r.now); !errors.Is(err, sock.ErrNotExist) {
		t.Fatalf("closed-call-not-exist: ABORT on a CLOSED connection returned %v, want %v", err, sock.ErrNotExist)
	}
	r.recvNothing()
	r.state(StateClosed)
}

// TestClosedClose: CLOSE in CLOSED STATE returns "error: connection does
// not exist" (§3.10.4). Conn.Close on an ended connection only frees what
// it still held (the handle is gone either way), so the call that reaches
// the spec's row is CloseWrite, CLOSE for our direction.
func TestClosedClose(t *testing.T) {
	r := closedNormally(t)
	if err := r.c.CloseWrite(r.now); !errors.Is(err, sock.ErrNotExist) {
		t.Fatalf("closed-call-not-exist: CLOSE on a CLOSED connection returned %v, want %v", err, sock.ErrNotExist)
	}
	r.recvNothing()
	r.state(StateClosed)
}

// TestClosedSend: SEND in CLOSED STATE returns "error: connection does not
// exist" (§3.10.2) and accepts nothing.
func TestClosedSend(t *testing.T) {
	r := closedNormally(t)
	n, err := r.c.Send(r.now, []byte("late"))
	if n != 0 || !errors.Is(err, sock.ErrNotExist) {
		t.Fatalf("closed-call-not-exist: SEND on a CLOSED connection returned %d, %v, want 0, %v", n, err, sock.ErrNotExist)
	}
	r.recvNothing()
}

// TestClosedCallsAfterReset: on a connection a RST ended, the calls report
// the reset (§3.10.7.4 step 2: "any outstanding RECEIVEs and SEND should
// receive reset responses"), not "does not exist"; ABORT then succeeds
// quietly since the user already learned of the end.
func TestClosedCallsAfterReset(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: RST, seq: 100})
	r.state(StateClosed)
	if _, err := r.c.Send(r.now, []byte("late")); !errors.Is(err, sock.ErrReset) {
		t.Fatalf("SEND after a reset returned %v, want %v", err, sock.ErrReset)
	}
	if err := r.c.CloseWrite(r.now); !errors.Is(err, sock.ErrReset) {
		t.Fatalf("CLOSE after a reset returned %v, want %v", err, sock.ErrReset)
	}
	if err := r.c.Abort(r.now); err != nil {
		t.Fatalf("ABORT after a reset returned %v, want nil", err)
	}
	r.recvNothing()
}
