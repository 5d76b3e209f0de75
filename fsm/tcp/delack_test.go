package tcp

import (
	"bytes"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// establishedMSS brings the rig to ESTABLISHED (passive) with the peer
// announcing mss and window wnd in its SYN.
func (r *rig) establishedMSS(irs, iss uint32, mss uint16, wnd uint16) {
	r.t.Helper()
	r.isses = append(r.isses, iss)
	r.listen(0)
	r.send(seg{flags: SYN, seq: irs, wnd: wnd, opts: wire.TCPOptions{HasMSS: true, MSS: mss}})
	r.recv(seg{flags: SYN | ACK, seq: iss, ack: irs + 1})
	r.now = r.now.Add(100 * time.Millisecond)
	r.send(seg{flags: ACK, seq: irs + 1, ack: iss + 1, wnd: wnd})
	r.state(StateEstablished)
	if _, err := r.ln.Accept(r.now); err != nil {
		r.t.Fatal(err)
	}
}

// TestEstablishedDataDelayedAck: one small in-order segment is ACKed after
// the delayed-ACK time, not before (SHLD-18) and well under 0.5 s (MUST-40).
func TestEstablishedDataDelayedAck(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("hello")})
	r.recvNothing()
	if d := r.l.NextDeadline().Sub(r.now); d != 40*time.Millisecond {
		t.Fatalf("delayed ACK due in %v, want 40ms", d)
	}
	r.advance(40*time.Millisecond - 1)
	r.recvNothing()
	r.advance(1)
	r.recv(seg{flags: ACK, seq: 300, ack: 105})
	r.advance(time.Second)
	r.recvNothing()
}

// TestEstablishedSecondFullSegmentAcked: every second full-sized segment is
// ACKed at once (SHLD-19, RFC 5681 §4.2).
func TestEstablishedSecondFullSegmentAcked(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedMSS(99, 299, 1460, 0xffff)
	full := make([]byte, 1460)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: full})
	r.recvNothing()
	r.send(seg{flags: ACK, seq: 1560, ack: 300, data: full})
	r.recv(seg{flags: ACK, seq: 300, ack: 3020})
	r.send(seg{flags: ACK, seq: 3020, ack: 300, data: full})
	r.recvNothing()
	r.send(seg{flags: ACK, seq: 4480, ack: 300, data: full})
	r.recv(seg{flags: ACK, seq: 300, ack: 5940})
}

// TestEstablishedGapFillAckedAtOnce: out-of-order data and the segment that
// fills the hole are ACKed immediately (RFC 5681 §4.2, MAY-13).
func TestEstablishedGapFillAckedAtOnce(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 110, ack: 300, data: []byte("third")})
	r.recv(seg{flags: ACK, seq: 300, ack: 100})
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("first")}) // fills part of the hole
	r.recv(seg{flags: ACK, seq: 300, ack: 105})
	r.send(seg{flags: ACK, seq: 105, ack: 300, data: []byte("secnd")})
	r.recv(seg{flags: ACK, seq: 300, ack: 115})
}

// TestEstablishedDelayedAckPiggybacked: data sent before the delayed ACK is
// due carries the ACK; no separate ACK follows.
func TestEstablishedDelayedAckPiggybacked(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("ping")})
	r.recvNothing()
	r.advance(10 * time.Millisecond)
	r.c.Send(r.now, []byte("pong"))
	r.recv(seg{flags: ACK, seq: 300, ack: 104, data: []byte("pong")})
	r.advance(40 * time.Millisecond)
	r.recvNothing()
}

// TestEstablishedFinAckedAtOnce: a FIN is ACKed immediately, covering the
// data before it.
func TestEstablishedFinAckedAtOnce(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("bye")})
	r.recvNothing()
	r.send(seg{flags: ACK | FIN, seq: 103, ack: 300})
	r.recv(seg{flags: ACK, seq: 300, ack: 104})
	r.state(StateCloseWait)
}

// TestEstablishedDelayedAckDisabled: a negative DelayedACK ACKs every segment.
func TestEstablishedDelayedAckDisabled(t *testing.T) {
	r := newRig(t, Config{DelayedACK: -1}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("hello")})
	r.recv(seg{flags: ACK, seq: 300, ack: 105})
}

// TestEstablishedNagle: a second short write waits while the first short
// segment is unacknowledged (SHLD-7) and goes with the ACK; SetNoDelay sends
// it at once (MUST-17).
func TestEstablishedNagle(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedMSS(99, 299, 1460, 0xffff)
	r.c.Send(r.now, []byte("a"))
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("a")})
	r.c.Send(r.now, []byte("b"))
	r.c.Send(r.now, []byte("c"))
	r.recvNothing()
	r.send(seg{flags: ACK, seq: 100, ack: 301})
	r.recv(seg{flags: ACK, seq: 301, ack: 100, data: []byte("bc")})

	r.c.SetNoDelay(r.now, true)
	r.c.Send(r.now, []byte("d"))
	r.recv(seg{flags: ACK, seq: 303, ack: 100, data: []byte("d")})
}

// TestEstablishedNagleReleasedBySetNoDelay: turning Nagle off sends what it held.
func TestEstablishedNagleReleasedBySetNoDelay(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedMSS(99, 299, 1460, 0xffff)
	r.c.Send(r.now, []byte("a"))
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("a")})
	r.c.Send(r.now, []byte("b"))
	r.recvNothing()
	r.c.SetNoDelay(r.now, true)
	r.recv(seg{flags: ACK, seq: 301, ack: 100, data: []byte("b")})
}

// TestEstablishedNagleFullSegmentsFlow: Nagle never holds full segments, and
// the short tail goes when no earlier short segment is in flight.
func TestEstablishedNagleFullSegmentsFlow(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedMSS(99, 299, 1000, 0xffff)
	data := bytes.Repeat([]byte("x"), 2500)
	r.c.Send(r.now, data)
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: data[:1000]})
	r.recv(seg{flags: ACK, seq: 1300, ack: 100, data: data[:1000]})
	r.recv(seg{flags: ACK, seq: 2300, ack: 100, data: data[:500]})
}

// TestEstablishedSenderSWS: a window too small for a full segment and under
// half the largest window the peer offered is not filled with a runt
// (MUST-38); the override timeout sends it when nothing else would.
func TestEstablishedSenderSWS(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedMSS(99, 299, 1460, 0xffff)
	r.send(seg{flags: ACK, seq: 100, ack: 300, wnd: 1000})
	r.c.Send(r.now, make([]byte, 3000))
	r.recvNothing()
	r.advance(r.c.RTO())
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: make([]byte, 1000)})
	// The window reopens by a full segment: it goes at once.
	r.send(seg{flags: ACK, seq: 100, ack: 1300, wnd: 1460})
	r.recv(seg{flags: ACK, seq: 1300, ack: 100, data: make([]byte, 1460)})
}

// TestEstablishedSenderSWSSmallPeer: when half the peer's largest window is
// reachable the segment is not a runt and goes at once (§3.8.6.2.1 (3)).
func TestEstablishedSenderSWSSmallPeer(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedMSS(99, 299, 1460, 1000)
	r.c.Send(r.now, make([]byte, 3000))
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: make([]byte, 1000)})
	r.recvNothing()
}

// TestBatchOneACK: in-order full-sized segments received in one batch
// (BeginBatch .. EndBatch) are acknowledged by one ACK at its end, and one
// more for every 64 KiB (maxStretch) before; without
// the batch (or with Config.NoACKCoalescing) every second one is (SHLD-19).
// A lone segment in a batch still waits for the delayed-ACK timer (MUST-40).
func TestBatchOneACK(t *testing.T) {
	full := make([]byte, 1460)
	for _, tc := range []struct {
		batch, noCoalesce bool
		segs, want        int
	}{{false, false, 8, 4}, {true, false, 8, 1}, {true, true, 8, 4}, {true, false, 60, 2}} {
		r := newRig(t, Config{NoACKCoalescing: tc.noCoalesce, RecvBuf: 256 << 10}, 299)
		r.listen(0)
		r.send(seg{flags: SYN, seq: 99, opts: wire.TCPOptions{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7}})
		r.recv(seg{flags: SYN | ACK, seq: 299, ack: 100})
		r.send(seg{flags: ACK, seq: 100, ack: 300})
		r.state(StateEstablished)
		// Two segments first: their ACK opens the scaled window.
		r.send(seg{flags: ACK, seq: 100, ack: 300, data: full})
		r.send(seg{flags: ACK, seq: 1560, ack: 300, data: full})
		r.recv(seg{flags: ACK, seq: 300, ack: 3020})
		if tc.batch {
			r.l.BeginBatch()
		}
		for k := range tc.segs {
			r.send(seg{flags: ACK, seq: 3020 + uint32(k)*1460, ack: 300, data: full})
		}
		if tc.batch {
			if !tc.noCoalesce && tc.segs*1460 < maxStretch {
				r.recvNothing()
			}
			r.l.EndBatch(r.now)
		}
		acks := r.o.take()
		if len(acks) != tc.want {
			t.Fatalf("%+v: %d ACKs, want %d", tc, len(acks), tc.want)
		}
		r.o.segs = acks[len(acks)-1:]
		r.recv(seg{flags: ACK, seq: 300, ack: 3020 + uint32(tc.segs)*1460})
	}
	r := newRig(t, Config{}, 299)
	r.establishedMSS(99, 299, 1460, 0xffff)
	r.l.BeginBatch()
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: full})
	r.l.EndBatch(r.now)
	r.recvNothing()
	r.advance(40 * time.Millisecond)
	r.recv(seg{flags: ACK, seq: 300, ack: 1560})
}
