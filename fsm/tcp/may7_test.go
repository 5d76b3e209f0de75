package tcp

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// TestRetransmitBeyondShrunkWindow (RFC 9293 §3.8.6, MAY-7): in SACK loss
// recovery, after the peer shrank its window to one segment, lost segments
// beyond SND.UNA+SND.WND are retransmitted too (the peer holds the octets
// around them), while no new data goes past the edge (SHLD-15). Regression:
// recovery computed the room left in the window as an unsigned distance, so
// a window shrunk below SND.NXT let new data out without limit. Both loss
// detectors (RACK and RFC 6675's IsLost) are run.
func TestRetransmitBeyondShrunkWindow(t *testing.T) {
	for _, noRACK := range []bool{false, true} {
		r := newRig(t, Config{NoRACK: noRACK}, 299)
		r.listen(0)
		r.send(seg{flags: SYN, seq: 99, opts: wire.TCPOptions{HasMSS: true, MSS: 1000, SACKPermitted: true}})
		r.recv(seg{flags: SYN | ACK, seq: 299, ack: 100})
		r.now = r.now.Add(100 * time.Millisecond)
		r.send(seg{flags: ACK, seq: 100, ack: 300})
		if _, err := r.ln.Accept(r.now); err != nil {
			t.Fatal(err)
		}
		r.c.Send(r.now, make([]byte, 10000))
		if n := len(r.o.take()); n != 10 {
			t.Fatalf("noRACK %v: %d segments sent, want 10", noRACK, n)
		}
		r.now = r.now.Add(100 * time.Millisecond)
		r.c.Send(r.now, make([]byte, 1000)) // new data, held by the window
		// [300,2300) lost; the peer SACKs the rest and shrinks its window
		// to 1000: the edge is 1300.
		for _, end := range []uint32{3300, 4300, 5300, 6300, 7300, 8300, 9300, 10300} {
			o := wire.TCPOptions{NumSACK: 1}
			o.SACK[0] = wire.SACKBlock{Start: 2300, End: end}
			r.send(seg{flags: ACK, seq: 100, ack: 300, wnd: 1000, opts: o})
		}
		r.advance(50 * time.Millisecond) // RACK's reordering window, if it waits
		var rtx []uint32
		for _, s := range r.o.take() {
			p, _ := parseSeg(t, s)
			if len(p.Payload()) > 0 {
				rtx = append(rtx, p.Seq())
				if p.Seq() >= 10300 {
					t.Errorf("noRACK %v: new data at %d past the shrunk window", noRACK, p.Seq())
				}
			}
		}
		t.Logf("noRACK %v: retransmitted %v", noRACK, rtx)
		beyond := false
		for _, s := range rtx {
			beyond = beyond || s >= 1300
		}
		if len(rtx) == 0 || rtx[0] != 300 || !beyond {
			t.Errorf("noRACK %v: retransmitted %v; want 300, then the lost segment beyond the edge 1300", noRACK, rtx)
		}
	}
}
