package tcp

import (
	"errors"
	"testing"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// Tests named by rows of docs/rfc9293.md that no other test shows.

// TestPassiveOpenLeavesConnectionAlone (RFC 9293 §3.9.1.1, MUST-41): a
// passive OPEN never disturbs an existing connection record. A second
// LISTEN on the listener's port fails with "connection already exists" and
// changes nothing; once that listener has closed, a new one on the port of
// an established connection leaves the connection's TCB alone, and the
// connection's segments still reach it rather than the new listener.
func TestPassiveOpenLeavesConnectionAlone(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	before := r.c.TCB()
	if _, err := r.l.Listen(r.now, r.us, r.uport, 0, 5); !errors.Is(err, sock.ErrExists) {
		t.Fatalf("second LISTEN on :%d: %v, want ErrExists", r.uport, err)
	}
	r.ln.Close(r.now)
	ln, err := r.l.Listen(r.now, r.us, r.uport, 0, 5)
	if err != nil {
		t.Fatalf("LISTEN on the port of an established connection: %v", err)
	}
	if got := r.c.TCB(); got != before {
		t.Fatalf("TCB changed by the passive OPEN:\n%+v\n%+v", got, before)
	}
	r.state(StateEstablished)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("hello")})
	b := make([]byte, 16)
	if n, err := r.c.Recv(r.now, b); err != nil || string(b[:n]) != "hello" {
		t.Fatalf("Recv %q %v: the connection lost its segment", b[:n], err)
	}
	if len(ln.embryos) != 0 || len(ln.queue) != 0 {
		t.Fatalf("the new listener took the connection's segment: %d embryos, %d queued", len(ln.embryos), len(ln.queue))
	}
}

// TestListenWhileSynSentOrSynReceived (RFC 9293 §3.9.1.1, MUST-42): LISTEN
// on a local port succeeds while a connection from that port is in
// SYN-SENT, and again (another listener) while it is in SYN-RECEIVED after
// a simultaneous open; the connection completes undisturbed and the
// listeners take new peers' SYNs.
func TestListenWhileSynSentOrSynReceived(t *testing.T) {
	r := newRig(t, Config{}, 500, 700)
	r.connect() // active OPEN from our port 80
	r.recv(seg{flags: SYN, seq: 500})
	r.state(StateSynSent)
	ln, err := r.l.Listen(r.now, r.us, r.uport, 0, 5)
	if err != nil {
		t.Fatalf("LISTEN while SYN-SENT on the port: %v", err)
	}
	r.state(StateSynSent)
	r.send(seg{flags: SYN, seq: 99}) // simultaneous open (Figure 8)
	r.recv(seg{flags: SYN | ACK, seq: 500, ack: 100})
	r.state(StateSynReceived)
	ln2, err := r.l.Listen(r.now, wire.Addr{}, r.uport, 0, 6)
	if err != nil {
		t.Fatalf("LISTEN while SYN-RECEIVED on the port: %v", err)
	}
	r.send(seg{flags: ACK, seq: 100, ack: 501})
	r.state(StateEstablished)
	if len(ln.embryos)+len(ln.queue)+len(ln2.embryos)+len(ln2.queue) != 0 {
		t.Fatal("a listener took the connection's segments")
	}
	// A new peer's SYN reaches the listener of our address.
	conn := r.c
	r.pport = 1001
	r.send(seg{flags: SYN, seq: 7})
	r.recv(seg{flags: SYN | ACK, seq: 700, ack: 8})
	if len(ln.embryos) != 1 {
		t.Fatalf("listener holds %d embryos, want 1", len(ln.embryos))
	}
	if conn.State() != StateEstablished {
		t.Fatalf("first connection in %v", conn.State())
	}
}

// TestPushOnLastBufferedSegment (RFC 9293 §3.9.1.2, MUST-61): SEND has no
// PUSH flag, so PSH is set on the segment that empties the send buffer and
// on no other.
func TestPushOnLastBufferedSegment(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.Send(r.now, make([]byte, 3000)) // 536-octet segments (no MSS option)
	var psh []bool
	for _, s := range r.o.take() {
		p, _ := parseSeg(t, s)
		if len(p.Payload()) > 0 {
			psh = append(psh, p.Flags()&PSH != 0)
		}
	}
	if len(psh) < 2 {
		t.Fatalf("%d data segments", len(psh))
	}
	for i, p := range psh {
		if p != (i == len(psh)-1) {
			t.Fatalf("PSH on segments %v: want it on the last only", psh)
		}
	}
}

// TestPushCollapsed (RFC 9293 §3.9.1.2, SHLD-27): successive SENDs queued
// while the first is unacknowledged (Nagle holds them) go out as one
// segment carrying one PSH, not one PSH each.
func TestPushCollapsed(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.Send(r.now, []byte("a"))
	if p := r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("a")}); p.Flags()&PSH == 0 {
		t.Fatal("first SEND not pushed")
	}
	for _, s := range []string{"bb", "cc", "dd"} {
		r.c.Send(r.now, []byte(s))
	}
	r.recvNothing() // Nagle: a small segment is unacknowledged
	r.send(seg{flags: ACK, seq: 100, ack: 301})
	p := r.recv(seg{flags: ACK, seq: 301, ack: 100, data: []byte("bbccdd")})
	if p.Flags()&PSH == 0 {
		t.Fatal("collapsed segment without PSH")
	}
	r.recvNothing()
}

// TestRstWithDataAccepted (RFC 9293 §3.5.3, SHLD-2): a RST carrying data is
// processed as a RST: the connection is reset and its text ignored.
func TestRstWithDataAccepted(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: RST | ACK, seq: 100, ack: 300, data: []byte("reason: going away")})
	r.recvNothing()
	r.state(StateClosed)
	r.recvErr(sock.ErrReset)
}

// TestShrunkWindowNoTimeout (RFC 9293 §3.8.6, SHLD-15, SHLD-16, SHLD-17):
// the peer shrinks its window to zero below data already sent and then
// answers every probe with the same zero window. We send nothing new past
// the edge, retransmit only what the window allows (the one-octet probe),
// and do not time the connection out, however many times the timer fires
// past MaxRetries: data beyond the right edge unacknowledged is not a
// failure. When the window reopens, old data is retransmitted normally.
func TestShrunkWindowNoTimeout(t *testing.T) {
	r := newRig(t, Config{MaxRetries: 3}, 299)
	r.establishedPassive(99, 299)
	r.c.Send(r.now, make([]byte, 2000))
	r.o.take()
	r.send(seg{flags: ACK, seq: 100, ack: 836, wnd0: true}) // edge 836: left of SND.NXT 2300
	r.c.Send(r.now, make([]byte, 500))
	r.recvNothing()
	for i := 0; i < 10; i++ {
		r.advance(r.c.RTO())
		for _, s := range r.o.take() {
			p, _ := parseSeg(t, s)
			if n := len(p.Payload()); n > 1 {
				t.Fatalf("timeout %d: sent %d octets into a zero window", i, n)
			}
		}
		r.send(seg{flags: ACK, seq: 100, ack: 836, wnd0: true})
		r.o.take()
		r.state(StateEstablished)
	}
	if r.c.Err() != nil {
		t.Fatalf("connection failed: %v", r.c.Err())
	}
	// The window reopens: the old data from SND.UNA is retransmitted.
	r.send(seg{flags: ACK, seq: 100, ack: 836, wnd: 1000})
	var first uint32
	sent := 0
	for _, s := range r.o.take() {
		p, _ := parseSeg(t, s)
		if sent == 0 {
			first = p.Seq()
		}
		sent += len(p.Payload())
	}
	if first != 836 || sent == 0 || sent > 1000 {
		t.Fatalf("after the window reopened: %d octets from %d, want up to 1000 from 836", sent, first)
	}
}

// TestActiveOpenOnOwnTupleFailsExists (RFC 9293 §3.10.1): an active OPEN on
// the 4-tuple of an established connection runs the spec's OPEN row on that
// connection's TCB, which answers "connection already exists" and changes
// nothing: the connection keeps its TCB, its table entry and its segments.
func TestActiveOpenOnOwnTupleFailsExists(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	before := r.c.TCB()
	if _, err := r.l.Connect(r.now, r.us, r.uport, r.peer, r.pport, 7); !errors.Is(err, sock.ErrExists) {
		t.Fatalf("active OPEN on an established 4-tuple: %v, want ErrExists", err)
	}
	if got := r.c.TCB(); got != before {
		t.Fatalf("TCB changed by the active OPEN:\n%+v\n%+v", got, before)
	}
	if err := r.l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	r.state(StateEstablished)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("hello")})
	b := make([]byte, 16)
	if n, err := r.c.Recv(r.now, b); err != nil || string(b[:n]) != "hello" {
		t.Fatalf("Recv %q %v: the connection lost its segment", b[:n], err)
	}
}
