package tcp

import (
	"testing"

	"github.com/netspec/netspec/fsm/wire"
)

// TestWindowShrink (MUST-34, RFC 9293 §3.8.6): the peer moves the right edge
// of its window left, below data already sent. We keep that data (SND.NXT is
// not retracted), send nothing new beyond the new edge, retransmit on
// timeout only what fits the shrunken window, and resume once it reopens.
func TestWindowShrink(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	data := make([]byte, 2000)
	if n, _ := r.c.Send(r.now, data); n != 2000 {
		t.Fatalf("queued %d", n)
	}
	sent := 0
	for _, s := range r.o.take() {
		p, _ := parseSeg(t, s)
		sent += len(p.Payload())
	}
	if sent != 2000 || r.c.tcb.SndNxt != 2300 {
		t.Fatalf("sent %d, SND.NXT %d; want all 2000 in flight", sent, r.c.tcb.SndNxt)
	}
	// ACK of the first segment with a window of 536: edge 836+536 = 1372,
	// left of SND.NXT = 2300.
	r.send(seg{flags: ACK, seq: 100, ack: 836, wnd: 536})
	r.c.Send(r.now, make([]byte, 1000))
	r.recvNothing()
	if r.c.tcb.SndNxt != 2300 || r.c.tcb.SndUna != 836 {
		t.Fatalf("SND.UNA %d SND.NXT %d: data already sent was retracted", r.c.tcb.SndUna, r.c.tcb.SndNxt)
	}
	if err := r.l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	// Timeout: go back to SND.UNA, but only up to the new right edge.
	r.advance(r.c.RTO())
	r.recv(seg{flags: ACK, seq: 836, ack: 100, data: make([]byte, 536)})
	r.recvNothing()
	// The peer had the rest after all; its window reopens: new data flows.
	r.send(seg{flags: ACK, seq: 100, ack: 2300, wnd: 0xffff})
	got := 0
	for _, s := range r.o.take() {
		p, _ := parseSeg(t, s)
		if p.Seq() < 2300 {
			t.Fatalf("resent %d after everything was acknowledged", p.Seq())
		}
		got += len(p.Payload())
	}
	if got != 1000 {
		t.Fatalf("sent %d new octets after the window reopened, want 1000", got)
	}
}

// parseSeg parses a captured segment.
func parseSeg(t *testing.T, s capSeg) (wire.TCP, error) {
	t.Helper()
	p, err := wire.ParseTCP(s.b)
	if err != nil {
		t.Fatal(err)
	}
	return p, nil
}
