package tcp

import (
	"testing"
	"time"
)

// wantMeta asserts the IP metadata of the segment recv took last.
func (r *rig) wantMeta(tos, ttl uint8) {
	r.t.Helper()
	if r.meta.TOS != tos || r.meta.TTL != ttl {
		r.t.Fatalf("segment meta TOS %#x TTL %d, want TOS %#x TTL %d", r.meta.TOS, r.meta.TTL, tos, ttl)
	}
}

// TestTOSSetBeforeAndDuringConnection: the Diffserv field comes from
// Config.TOS for a new connection (MUST-48), changes with SetTOS during the
// connection (SHLD-21) and reaches IP exactly as set on every segment
// (SHLD-22); the ECN bits of SetTOS are ignored, TCP owns them.
func TestTOSSetBeforeAndDuringConnection(t *testing.T) {
	r := newRig(t, Config{TOS: 0x20 | ECNCE})
	r.establishedActive(100, 300)
	if r.c.TOS() != 0x20 {
		t.Fatalf("TOS %#x from Config, want 0x20 (ECN bits dropped)", r.c.TOS())
	}
	r.c.Send(r.now, []byte("abc"))
	r.recv(seg{flags: ACK, seq: 101, ack: 301, data: []byte("abc")})
	r.wantMeta(0x20, 0)
	r.c.SetTOS(0xb8 | ECT1) // EF; the ECN bits are not the application's
	if r.c.TOS() != 0xb8 {
		t.Fatalf("TOS %#x, want 0xb8", r.c.TOS())
	}
	r.send(seg{flags: ACK, seq: 301, ack: 104})
	r.c.Send(r.now, []byte("de"))
	r.recv(seg{flags: ACK, seq: 104, ack: 301, data: []byte("de")})
	r.wantMeta(0xb8, 0)
	r.send(seg{flags: ACK | FIN, seq: 301, ack: 106})
	r.advance(time.Second)
	r.recv(seg{flags: ACK, seq: 106, ack: 302})
	r.wantMeta(0xb8, 0) // pure ACKs too
	r.c.Abort(r.now)
	r.recv(seg{flags: RST | ACK, seq: 106, ack: 302})
	r.wantMeta(0xb8, 0) // and the connection's RST
}

// TestTOSSynCarriesConfig: the SYN of an active open already carries the
// Diffserv field and TTL set on the connection (MUST-48, MUST-49).
func TestTOSSynCarriesConfig(t *testing.T) {
	r := newRig(t, Config{TOS: 0x48, TTL: 9}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	r.wantMeta(0x48, 9)
}

// TestTTLPerConnection: the TTL is the stack's (0 here) unless the
// connection sets its own (MUST-49); 0 restores the default.
func TestTTLPerConnection(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedPassive(300, 100)
	r.c.SetTTL(3)
	if r.c.TTL() != 3 {
		t.Fatalf("TTL %d", r.c.TTL())
	}
	r.c.Send(r.now, []byte("x"))
	r.recv(seg{flags: ACK, seq: 101, ack: 301, data: []byte("x")})
	r.wantMeta(0, 3)
	r.c.SetTTL(0)
	r.c.Send(r.now, []byte("y"))
	r.send(seg{flags: ACK, seq: 301, ack: 102})
	r.recv(seg{flags: ACK, seq: 102, ack: 301, data: []byte("y")})
	r.wantMeta(0, 0)
}

// TestListenerTOSInherited: a listener's Diffserv field and TTL go to the
// connections it accepts, from their SYN,ACK on (SHLD-21).
func TestListenerTOSInherited(t *testing.T) {
	r := newRig(t, Config{TOS: 0x10}, 100)
	r.listen(0)
	if r.ln.TOS() != 0x10 {
		t.Fatalf("listener TOS %#x, want Config's 0x10", r.ln.TOS())
	}
	r.ln.SetTOS(0x28)
	r.ln.SetTTL(17)
	r.send(seg{flags: SYN, seq: 300})
	r.recv(seg{flags: SYN | ACK, seq: 100, ack: 301})
	r.wantMeta(0x28, 17)
	r.send(seg{flags: ACK, seq: 301, ack: 101})
	c, err := r.ln.Accept(r.now)
	if err != nil {
		t.Fatal(err)
	}
	if c.TOS() != 0x28 || c.TTL() != 17 {
		t.Fatalf("accepted TOS %#x TTL %d", c.TOS(), c.TTL())
	}
}

// TestRstNoConnectionTOSZero: a RST answering a segment for no connection
// carries TOS 0 and the default TTL, whatever the configuration.
func TestRstNoConnectionTOSZero(t *testing.T) {
	r := newRig(t, Config{TOS: 0x20, TTL: 5})
	r.send(seg{flags: ACK, seq: 1, ack: 2})
	r.recv(seg{flags: RST, seq: 2})
	r.wantMeta(0, 0)
}

// TestRecvTOS: the TOS octet of the last segment received is available to
// the application (MAY-9).
func TestRecvTOS(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedPassive(300, 100)
	if r.c.RecvTOS() != 0 {
		t.Fatalf("RecvTOS %#x before any marked segment", r.c.RecvTOS())
	}
	r.send(seg{flags: ACK, seq: 301, ack: 101, data: []byte("hi"), tos: 0x48})
	if r.c.RecvTOS() != 0x48 {
		t.Fatalf("RecvTOS %#x, want 0x48", r.c.RecvTOS())
	}
	r.send(seg{flags: ACK, seq: 303, ack: 101, data: []byte("!"), tos: 0xb8 | ECT0})
	if r.c.RecvTOS() != 0xb8|ECT0 {
		t.Fatalf("RecvTOS %#x, want 0xba", r.c.RecvTOS())
	}
}

// TestTOSKeptInTimeWait: ACKs from a TIME-WAIT record carry the
// connection's Diffserv field (SHLD-22 for every segment).
func TestTOSKeptInTimeWait(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedActive(100, 300)
	r.c.SetTOS(0x68)
	r.c.Close(r.now)
	r.recv(seg{flags: FIN | ACK, seq: 101, ack: 301})
	r.send(seg{flags: FIN | ACK, seq: 301, ack: 102})
	r.recv(seg{flags: ACK, seq: 102, ack: 302})
	if r.c.State() != StateTimeWait || r.l.Counters().TimeWaitRecords != 1 {
		t.Fatalf("state %v, records %d", r.c.State(), r.l.Counters().TimeWaitRecords)
	}
	r.send(seg{flags: FIN | ACK, seq: 301, ack: 102}) // retransmitted FIN
	r.recv(seg{flags: ACK, seq: 102, ack: 302})
	r.wantMeta(0x68, 0)
}
