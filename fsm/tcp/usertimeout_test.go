package tcp

import (
	"errors"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
)

// TestUserTimeoutAborts (MUST-20, MUST-21): with a 5 s user timeout, data
// that stays unacknowledged is retransmitted with backoff and the connection
// is aborted with ErrTimeout exactly 5 s after it was first sent, long
// before MaxRetries would end it.
func TestUserTimeoutAborts(t *testing.T) {
	r := newRig(t, Config{MaxRetries: 50}, 299)
	r.establishedPassive(99, 299)
	r.c.SetUserTimeout(r.now, 5*time.Second)
	start := r.now
	r.c.Send(r.now, []byte("x"))
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("x")})
	for r.c.State() != StateClosed {
		d := r.l.NextDeadline()
		if d.IsZero() || d.Sub(start) > 5*time.Second {
			t.Fatalf("no abort by the user timeout: next deadline %v after the send", d.Sub(start))
		}
		r.now = d
		r.l.Poll(d)
		r.o.take()
	}
	if got := r.now.Sub(start); got != 5*time.Second {
		t.Fatalf("aborted %v after the send, want 5s", got)
	}
	if !errors.Is(r.c.Err(), sock.ErrTimeout) {
		t.Fatalf("error %v, want ErrTimeout", r.c.Err())
	}
	if len(r.l.conns) != 0 || len(r.l.timers) != 0 {
		t.Fatalf("%d conns %d timers left", len(r.l.conns), len(r.l.timers))
	}
}

// TestUserTimeoutProgress: the user timeout (here the Config default)
// counts from the last progress: ACKs that advance SND.UNA restart it, and
// an idle connection with nothing outstanding never times out.
func TestUserTimeoutProgress(t *testing.T) {
	r := newRig(t, Config{UserTimeout: 3 * time.Second, MaxRetries: 50}, 299)
	r.establishedPassive(99, 299)
	if r.c.UserTimeout() != 3*time.Second {
		t.Fatalf("default user timeout %v", r.c.UserTimeout())
	}
	r.c.Send(r.now, []byte("ab"))
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("ab")})
	r.advance(2 * time.Second) // retransmitted, not yet acknowledged
	r.o.take()
	r.send(seg{flags: ACK, seq: 100, ack: 301}) // one octet: progress
	r.advance(2500 * time.Millisecond)
	if r.c.State() != StateEstablished {
		t.Fatalf("timed out 4.5 s after the send though progress came at 2 s: %v", r.c.State())
	}
	r.send(seg{flags: ACK, seq: 100, ack: 302})
	r.o.take()
	r.advance(time.Hour) // idle: nothing outstanding
	if r.c.State() != StateEstablished {
		t.Fatalf("idle connection timed out: %v", r.c.State())
	}
	r.c.SetUserTimeout(r.now, 0) // off: only MaxRetries
	if r.c.UserTimeout() != 0 {
		t.Fatal("SetUserTimeout(0) did not turn it off")
	}
}

// TestUserTimeoutAfterProgressOnTime: the user timeout counts from the last
// progress, and the connection is aborted when it runs out even if the RTO
// (here backed off by two timeouts, and not reset by the ACK of
// retransmitted octets, which gives no sample: Karn) would fire later.
func TestUserTimeoutAfterProgressOnTime(t *testing.T) {
	r := newRig(t, Config{MaxRetries: 50}, 299)
	r.establishedPassive(99, 299)
	r.c.SetUserTimeout(r.now, time.Second)
	r.c.Send(r.now, []byte("ab"))
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("ab")})
	for range 2 {
		r.advance(r.c.snd.rtxAt.Sub(r.c.l.tick(r.now)))
		r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("ab")})
	}
	r.send(seg{flags: ACK, seq: 100, ack: 301}) // progress: one octet
	progress := r.now
	if r.c.RTO() <= time.Second {
		t.Fatalf("setup: RTO %v, want it backed off beyond the user timeout", r.c.RTO())
	}
	for r.c.State() != StateClosed {
		r.advance(r.l.NextDeadline().Sub(r.now))
		r.o.take()
	}
	if got := r.now.Sub(progress); got != time.Second {
		t.Fatalf("aborted %v after the last progress, want the user timeout, 1s", got)
	}
	r.recvErr(sock.ErrTimeout)
}
