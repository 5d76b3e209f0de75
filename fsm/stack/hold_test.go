package stack

import (
	"errors"
	"io"
	"testing"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// segSeen is a TCP segment's flags and payload length.
type segSeen struct {
	flags wire.TCPFlags
	n     int
}

// traceSegments records (tcpFrom) the TCP segments the stack at from sends,
// in order; call the returned function for them.
func traceSegments(n *simNet, from wire.Addr) func() []segSeen {
	all := tcpFrom(n)
	return func() []segSeen {
		var segs []segSeen
		for _, s := range *all {
			if s.from == from.String() {
				segs = append(segs, segSeen{s.flags, s.payload})
			}
		}
		return segs
	}
}

// closeExchange runs one request and reply over a fresh connection, as an HTTP
// server answering Connection: close does: A sends a request, B reads it,
// writes the reply with write (Send or SendMore) and closes; A reads to EOF
// and closes. It returns the segments B sent, SYN,ACK to the last ACK.
func closeExchange(t *testing.T, write func(s *Stack, fd FD, b []byte) (int, error)) []segSeen {
	t.Helper()
	n := newSim(t, 21)
	segs := traceSegments(n, addrB)
	cfd, sfd := n.connect(80)
	req, reply := []byte("GET / HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello")
	if _, err := n.a.Send(n.now, cfd, req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	got := 0
	n.run(func() bool {
		k, _ := n.b.Recv(n.now, sfd, buf[got:])
		got += k
		return got == len(req)
	})
	if k, err := write(n.b, sfd, reply); err != nil || k != len(reply) {
		t.Fatalf("write: %d, %v", k, err)
	}
	if err := n.b.Close(n.now, sfd); err != nil {
		t.Fatal(err)
	}
	got = 0
	n.run(func() bool {
		k, err := n.a.Recv(n.now, cfd, buf[got:])
		got += k
		return err == io.EOF
	})
	if string(buf[:got]) != string(reply) {
		t.Fatalf("A read %q, want %q", buf[:got], reply)
	}
	if err := n.a.Close(n.now, cfd); err != nil {
		t.Fatal(err)
	}
	n.run(func() bool { return n.a.NextDeadline().IsZero() && n.b.NextDeadline().IsZero() })
	return segs()
}

// TestSendMoreThenCloseSendsFinOnData: a reply written with SendMore and
// closed at once leaves as one segment carrying the FIN (RFC 9293 §3.10.4:
// the FIN follows the queued data), so the server sends three segments for
// the connection (SYN,ACK; reply and FIN; the ACK of the client's FIN)
// where Send, which pushes, sends four (the FIN alone after the reply).
func TestSendMoreThenCloseSendsFinOnData(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(s *Stack, fd FD, b []byte) (int, error)
		want  []segSeen
	}{
		{"SendMore", func(s *Stack, fd FD, b []byte) (int, error) { return s.SendMore(s.now, fd, b) },
			[]segSeen{{wire.FlagSYN | wire.FlagACK, 0}, {wire.FlagACK | wire.FlagPSH | wire.FlagFIN, 43}, {wire.FlagACK, 0}}},
		{"Send", func(s *Stack, fd FD, b []byte) (int, error) { return s.Send(s.now, fd, b) },
			[]segSeen{{wire.FlagSYN | wire.FlagACK, 0}, {wire.FlagACK | wire.FlagPSH, 43}, {wire.FlagACK | wire.FlagFIN, 0}, {wire.FlagACK, 0}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := closeExchange(t, c.write)
			if len(got) != len(c.want) {
				t.Fatalf("server sent %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("server segment %d: %v with %d octets, want %v with %d (all: %v)", i, got[i].flags, got[i].n, c.want[i].flags, c.want[i].n, got)
				}
			}
		})
	}
}

// TestSendMoreLeavesWithTheNextCall: the first reply SendMore held leaves
// with the connection's next call (here a RECEIVE that would block), not
// before; a later SendMore is sent at once.
func TestSendMoreLeavesWithTheNextCall(t *testing.T) {
	n := newSim(t, 22)
	cfd, sfd := n.connect(80)
	_ = cfd
	segs := traceSegments(n, addrB)
	if _, err := n.b.SendMore(n.now, sfd, []byte("reply")); err != nil {
		t.Fatal(err)
	}
	n.deliver()
	if len(segs()) != 0 {
		t.Fatalf("SendMore sent %v at once", segs())
	}
	if _, err := n.b.Recv(n.now, sfd, make([]byte, 8)); !errors.Is(err, sock.ErrWouldBlock) {
		t.Fatalf("Recv: %v, want ErrWouldBlock", err)
	}
	n.deliver()
	if len(segs()) != 1 || segs()[0].n != 5 {
		t.Fatalf("after the next call B sent %v, want the 5 octets held", segs())
	}
	if c := n.b.Counters().TCPHoldPushed; c != 0 {
		t.Errorf("TCPHoldPushed = %d: the deadline pushed what the call had sent", c)
	}
	// Only the first reply is held: a later one is sent as Send sends it
	// (here Nagle keeps it until the first is acknowledged).
	if _, err := n.b.SendMore(n.now, sfd, []byte("more")); err != nil {
		t.Fatal(err)
	}
	if n.b.hold.n != 0 {
		t.Fatalf("a second SendMore was held")
	}
	n.run(func() bool { return len(segs()) == 2 })
	if segs()[1].n != 4 || n.b.Counters().TCPHoldPushed != 0 {
		t.Fatalf("B sent %v (TCPHoldPushed %d), want the second reply's 4 octets without the hold deadline", segs(), n.b.Counters().TCPHoldPushed)
	}
}

// TestSendMoreHeldAtMostHoldDelay: octets nobody pushes leave when Poll runs
// HoldDelay after they were held (MUST-60: never held indefinitely).
func TestSendMoreHeldAtMostHoldDelay(t *testing.T) {
	n := newSim(t, 23)
	_, sfd := n.connect(80)
	n.a.Poll(n.now)
	n.b.Poll(n.now)
	for n.deliver() {
	}
	segs := traceSegments(n, addrB)
	start := n.now
	if _, err := n.b.SendMore(n.now, sfd, []byte("reply")); err != nil {
		t.Fatal(err)
	}
	if d := n.b.NextDeadline(); d.IsZero() || d.After(start.Add(HoldDelay)) {
		t.Fatalf("NextDeadline %v after SendMore, want at most %v", d.Sub(start), HoldDelay)
	}
	n.b.Poll(start.Add(HoldDelay - 1))
	for n.deliver() {
	}
	if len(segs()) != 0 {
		t.Fatalf("sent %v before HoldDelay", segs())
	}
	n.now = start.Add(HoldDelay)
	n.b.Poll(n.now)
	for n.deliver() {
	}
	if len(segs()) != 1 || segs()[0].n != 5 {
		t.Fatalf("at HoldDelay B sent %v, want the 5 octets held", segs())
	}
	if c := n.b.Counters().TCPHoldPushed; c != 1 {
		t.Errorf("TCPHoldPushed = %d, want 1", c)
	}
}

// TestSendMoreHoldBounded: past maxHeld connections held at once, SendMore
// sends at once and counts it (TCPHoldFull); the held ones still leave.
func TestSendMoreHoldBounded(t *testing.T) {
	n := newSim(t, 24)
	ln, err := n.b.Listen(n.now, 80, maxHeld+2)
	if err != nil {
		t.Fatal(err)
	}
	var sfds []FD
	for range maxHeld + 1 {
		if _, err := n.a.Dial(n.now, addrB, 80); err != nil {
			t.Fatal(err)
		}
	}
	n.run(func() bool {
		for {
			fd, err := n.b.Accept(n.now, ln)
			if err != nil {
				break
			}
			sfds = append(sfds, fd)
		}
		return len(sfds) == maxHeld+1
	})
	segs := traceSegments(n, addrB)
	for _, fd := range sfds {
		if _, err := n.b.SendMore(n.now, fd, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	n.deliver()
	if len(segs()) != 1 || n.b.Counters().TCPHoldFull != 1 {
		t.Fatalf("with %d held, B sent %v and counted TCPHoldFull %d; want the one past the bound sent, counted", maxHeld, segs(), n.b.Counters().TCPHoldFull)
	}
	n.now = n.now.Add(HoldDelay)
	n.b.Poll(n.now)
	n.deliver()
	if len(segs()) != maxHeld+1 {
		t.Fatalf("after HoldDelay B sent %d segments, want %d", len(segs()), maxHeld+1)
	}
}
