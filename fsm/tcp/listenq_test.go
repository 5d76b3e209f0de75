package tcp

import (
	"errors"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
)

// TestListenQueuesSeparate: the SYN queue and the accept queue have their own
// limits. A handshake completing into a full accept queue is dropped (the
// embryo stays in SYN-RECEIVED and completes once there is room); a SYN
// while the accept queue is full is dropped and counted.
func TestListenQueuesSeparate(t *testing.T) {
	r := newRig(t, Config{SynBacklog: 4}, 1000, 2000, 3000)
	r.listen(1)
	r.send(seg{flags: SYN, seq: 10}) // port 1000
	r.recv(seg{flags: SYN | ACK, seq: 1000, ack: 11})
	r.pport = 1001
	r.c = nil
	r.send(seg{flags: SYN, seq: 20})
	r.recv(seg{flags: SYN | ACK, seq: 2000, ack: 21})
	second := r.c
	if syn, acc := r.ln.QueueLens(); syn != 2 || acc != 0 {
		t.Fatalf("queues (syn %d, accept %d), want (2, 0): embryos are not bounded by the accept backlog", syn, acc)
	}
	r.pport = 1000
	r.send(seg{flags: ACK, seq: 11, ack: 1001})
	r.pport = 1001
	r.send(seg{flags: ACK, seq: 21, ack: 2001})
	if second.State() != StateSynReceived {
		t.Fatalf("handshake into a full accept queue: %v, want SYN-RECEIVED", second.State())
	}
	if syn, acc := r.ln.QueueLens(); syn != 1 || acc != 1 {
		t.Fatalf("queues (syn %d, accept %d), want (1, 1)", syn, acc)
	}
	r.pport = 1002
	r.c = nil
	r.send(seg{flags: SYN, seq: 30})
	r.recvNothing()
	ctr := r.l.Counters()
	if ctr.AcceptOverflows != 1 || ctr.ListenOverflows != 1 || ctr.SynQueueOverflows != 0 {
		t.Fatalf("overflows accept %d listen %d syn %d, want 1 1 0", ctr.AcceptOverflows, ctr.ListenOverflows, ctr.SynQueueOverflows)
	}
	if err := r.l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ln.Accept(r.now); err != nil {
		t.Fatal(err)
	}
	// Room again: the peer's retransmitted ACK completes the second handshake.
	r.pport = 1001
	r.send(seg{flags: ACK, seq: 21, ack: 2001})
	if second.State() != StateEstablished {
		t.Fatalf("after Accept made room: %v, want ESTABLISHED", second.State())
	}
	if c, err := r.ln.Accept(r.now); err != nil || c != second {
		t.Fatalf("accept second: %v", err)
	}
	if _, err := r.ln.Accept(r.now); !errors.Is(err, sock.ErrWouldBlock) {
		t.Fatalf("accept on empty queue: %v", err)
	}
}

// TestListenerCloseNoZombies: closing a listener with embryonic connections
// and established ones not yet accepted frees them all, none left in the
// table or the timer heap; the established ones are reset, the embryos too
// under rfc9293 (ABORT in SYN-RECEIVED) but silently under linux (as Linux's
// inet_csk_listen_stop, which walks only the accept queue).
func TestListenerCloseNoZombies(t *testing.T) {
	for p := Profile(0); p < NumProfiles; p++ {
		t.Run(p.String(), func(t *testing.T) { testListenerCloseNoZombies(t, p) })
	}
}

func testListenerCloseNoZombies(t *testing.T, p Profile) {
	r := newRig(t, Config{Profile: p}, 100, 200, 300, 400)
	r.listen(4)
	for i, irs := range []uint32{10, 20, 30, 40} {
		r.pport = uint16(1000 + i)
		r.c = nil
		r.send(seg{flags: SYN, seq: irs})
		if i%2 == 1 { // odd ones complete the handshake
			r.send(seg{flags: ACK, seq: irs + 1, ack: uint32(100*(i+1)) + 1})
		}
	}
	r.o.take()
	if syn, acc := r.ln.QueueLens(); syn != 2 || acc != 2 {
		t.Fatalf("queues (syn %d, accept %d), want (2, 2)", syn, acc)
	}
	r.ln.Close(r.now)
	want := 4
	if p == ProfileLinux {
		want = 2
	}
	if n := len(r.o.take()); n != want {
		t.Fatalf("%d RSTs, want %d", n, want)
	}
	if len(r.l.conns) != 0 || len(r.l.demux) != 0 || len(r.l.timers) != 0 || !r.l.NextDeadline().IsZero() {
		t.Fatalf("zombies: %d conns, %d demux, %d timers", len(r.l.conns), len(r.l.demux), len(r.l.timers))
	}
	if _, err := r.ln.Accept(r.now); !errors.Is(err, sock.ErrNotExist) {
		t.Fatalf("accept on a closed listener: %v", err)
	}
	// A late ACK for a freed embryo meets no connection and no listener.
	r.pport = 1000
	r.send(seg{flags: ACK, seq: 11, ack: 101})
	r.recv(seg{flags: RST, seq: 101})
	if err := r.l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestSynQueuePrunedUnderPressure: under a SYN flood an embryo is released
// at its first SYN,ACK timeout instead of retransmitting (timer.go
// synAckLimit; Linux's reqsk_timer_handler lowers the retries of such a
// queue too), counted in SynRecvPruned, so nothing stays half-open one RTO
// after the flood. A flood is a SYN queue more than half full, or one that
// answered a SYN with a cookie since the embryo's SYN,ACK went out (a full
// queue: then every embryo goes). At half full or below, and for an embryo
// born after the last cookie, the SYN,ACK is retransmitted as usual.
func TestSynQueuePrunedUnderPressure(t *testing.T) {
	for _, tc := range []struct {
		embryos, cookies int
		pruned           uint64
	}{{2, 0, 0}, {3, 0, 1}, {4, 0, 2}, {4, 1, 4}} {
		isses := make([]uint32, tc.embryos+1)
		for i := range isses {
			isses[i] = uint32(1000 * (i + 1))
		}
		r := newRig(t, Config{SynBacklog: 4}, isses...)
		r.listen(8)
		syn := func(i int) {
			r.pport, r.c = uint16(2000+i), nil
			r.send(seg{flags: SYN, seq: uint32(10 * i)})
		}
		for i := range tc.embryos {
			syn(i)
			r.recv(seg{flags: SYN | ACK, seq: isses[i], ack: uint32(10*i) + 1})
		}
		for i := range tc.cookies {
			syn(100 + i)
			r.o.take() // the cookie SYN,ACK
		}
		r.advance(time.Second) // the initial RTO (RFC 6298 §2.1)
		ctr := r.l.Counters()
		left, _ := r.ln.QueueLens()
		if ctr.SynRecvPruned != tc.pruned || left != tc.embryos-int(tc.pruned) || len(r.o.take()) != left {
			t.Fatalf("%d of 4 embryos, %d cookies: after one RTO %d pruned, %d left, want %d pruned and a SYN,ACK from each of the rest",
				tc.embryos, tc.cookies, ctr.SynRecvPruned, left, tc.pruned)
		}
		if err := r.l.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
		if tc.cookies == 0 {
			continue
		}
		// After the flood: an embryo born after the last cookie is kept.
		syn(tc.embryos)
		r.recv(seg{flags: SYN | ACK, seq: isses[tc.embryos], ack: uint32(10*tc.embryos) + 1})
		r.advance(time.Second)
		r.recv(seg{flags: SYN | ACK, seq: isses[tc.embryos], ack: uint32(10*tc.embryos) + 1})
		if n := r.l.Counters().SynRecvPruned; n != tc.pruned {
			t.Fatalf("an embryo born after the flood was pruned (%d, want %d)", n, tc.pruned)
		}
	}
}
