package tcp

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
)

// TestEstablishedKeepAliveOffByDefault: no probe however long the
// connection idles (MUST-25).
func TestEstablishedKeepAliveOffByDefault(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	if d := r.l.NextDeadline(); !d.IsZero() {
		t.Fatalf("a timer is armed on an idle connection: %v", d.Sub(r.now))
	}
	r.advance(3 * time.Hour)
	r.recvNothing()
}

// TestEstablishedKeepAlive: probes <SEQ=SND.UNA-1> without data after the idle
// time (MUST-26, SHLD-12); an answer restarts the idle period; count
// unanswered probes end the connection with a timeout.
func TestEstablishedKeepAlive(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.SetKeepAlive(r.now, true, 10*time.Second, time.Second, 3)
	r.advance(10*time.Second - 1)
	r.recvNothing()
	r.advance(1)
	r.recv(seg{flags: ACK, seq: 299, ack: 100})
	r.send(seg{flags: ACK, seq: 100, ack: 300}) // the peer answers
	r.advance(time.Second)
	r.recvNothing() // idle restarted by the answer
	r.advance(9 * time.Second)
	r.recv(seg{flags: ACK, seq: 299, ack: 100})
	for range 2 { // a lost answer alone does not end it (MUST-29)
		r.advance(time.Second)
		r.recv(seg{flags: ACK, seq: 299, ack: 100})
	}
	r.state(StateEstablished)
	r.advance(time.Second)
	r.state(StateClosed)
	r.recvErr(sock.ErrTimeout)
	if r.l.Counters().KeepAlives != 4 {
		t.Fatalf("KeepAlives %d, want 4", r.l.Counters().KeepAlives)
	}
}

// TestKeepAliveDefaults: 2 hours, 75 s, 9 probes (MUST-27, MUST-28).
func TestKeepAliveDefaults(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.SetKeepAlive(r.now, true, 0, 0, 0)
	if k := r.c.ka; k.idle != 2*time.Hour || k.intvl != 75*time.Second || k.count != 9 {
		t.Fatalf("defaults %+v", k)
	}
}

// TestKeepAliveUnacceptableSegmentsNotHeard: segments that fail the checks
// of RFC 9293 §3.10.7.4 (out of the window, a RST out of the window, an ACK
// of data never sent, no ACK at all) are no data or acknowledgment from the
// peer (MUST-26): a blind sender that knows the four-tuple alone keeps
// neither the idle period nor the probe count from running, and the dead
// connection ends after count unanswered probes, as without them.
func TestKeepAliveUnacceptableSegmentsNotHeard(t *testing.T) {
	for i, forged := range []seg{
		{flags: ACK, seq: 100 + 1<<20, ack: 300},
		{flags: RST, seq: 100 + 1<<20},
		{flags: ACK, seq: 100, ack: 300 + 1<<20},
		{flags: PSH, seq: 100, data: []byte("x")},
	} {
		r := newRig(t, Config{}, 299)
		r.establishedPassive(99, 299)
		r.c.SetKeepAlive(r.now, true, 10*time.Second, time.Second, 3)
		start := r.now
		for r.c.State() != StateClosed && r.now.Sub(start) < time.Minute {
			r.advance(250 * time.Millisecond)
			if r.c.State() != StateClosed {
				r.send(forged)
			}
			r.o.take()
		}
		if got, want := r.now.Sub(start), 13*time.Second; got != want || r.l.Counters().KeepAlives != 3 {
			t.Fatalf("forged %d %v: %v after %v with %d probes; want closed after %v with 3", i, forged, r.c.State(), got, r.l.Counters().KeepAlives, want)
		}
		r.recvErr(sock.ErrTimeout)
	}
}
