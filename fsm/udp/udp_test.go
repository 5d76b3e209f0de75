package udp

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

var (
	us   = wire.Addr{198, 18, 0, 2}
	peer = wire.Addr{198, 18, 0, 1}
)

type sent struct {
	src, dst wire.Addr
	dgram    []byte
}

type capture struct {
	quiet bool // record nothing (allocation tests)
	out   []sent
	notes []sock.Readiness
}

func (c *capture) SendDatagram(src, dst wire.Addr, h, p []byte) {
	if c.quiet {
		return
	}
	c.out = append(c.out, sent{src, dst, append(append([]byte(nil), h...), p...)})
}
func (c *capture) Notify(id uint64, ev sock.Readiness) {
	if !c.quiet {
		c.notes = append(c.notes, ev)
	}
}

func newLayer(cfg Config) (*Layer, *capture) {
	c := &capture{}
	return NewLayer(cfg, c, rand.New(rand.NewPCG(1, 2))), c
}

// dgram builds a UDP datagram from peer:sport to us:dport with a valid checksum.
func dgram(sport, dport uint16, payload string) []byte {
	b := make([]byte, wire.UDPHeaderLen+len(payload))
	wire.PutUDPHeader(b, sport, dport, len(b))
	copy(b[wire.UDPHeaderLen:], payload)
	wire.SetUDPChecksum(b, peer, us)
	return b
}

func TestInputDropReasons(t *testing.T) {
	l, _ := newLayer(Config{})
	if _, err := l.Bind(us, 7, 1); err != nil {
		t.Fatal(err)
	}
	bad := dgram(1000, 7, "hello")
	bad[9] ^= 0xff
	noSum := dgram(1000, 7, "hello")
	noSum[6], noSum[7] = 0, 0
	long := dgram(1000, 7, "hello")
	long[5] = 200 // Length beyond the IP payload
	short := dgram(1000, 7, "hello")
	short[4], short[5] = 0, 4                          // Length below the header
	padded := append(dgram(1000, 7, "hello"), 0, 0, 0) // Length shorter than the IP payload: trimmed
	cases := []struct {
		name  string
		pkt   []byte
		bcast bool
		want  Reason
	}{
		{"good", dgram(1000, 7, "hello"), false, ReasonNone},
		{"zero checksum means none", noSum, false, ReasonNone},
		{"padded", padded, false, ReasonNone},
		{"bad checksum", bad, false, ReasonBadChecksum},
		{"runt", []byte{0, 1, 0}, false, ReasonMalformed},
		{"length too long", long, false, ReasonMalformed},
		{"length too short", short, false, ReasonMalformed},
		{"no port", dgram(1000, 9, "x"), false, ReasonNoPort},
		{"no port broadcast", dgram(1000, 9, "x"), true, ReasonNoPortBcast},
	}
	for _, c := range cases {
		before := l.Counters().Drops[c.want]
		if got := l.Input(peer, us, c.pkt, false, c.bcast); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if c.want != ReasonNone && l.Counters().Drops[c.want] != before+1 {
			t.Errorf("%s: counter %v not incremented", c.name, c.want)
		}
	}
	if d := l.Counters().Delivered; d != 3 {
		t.Fatalf("delivered %d, want 3", d)
	}
	// A bad checksum the driver already verified is not checked again.
	if got := l.Input(peer, us, bad, true, false); got != ReasonNone {
		t.Fatalf("csumOK: %v", got)
	}
}

func TestQueueBoundedByCountAndBytes(t *testing.T) {
	l, c := newLayer(Config{RecvQueue: 3, RecvBytes: 10})
	s, _ := l.Bind(wire.Addr{}, 7, 1)
	for i := 0; i < 5; i++ {
		l.Input(peer, us, dgram(1000, 7, "ab"), false, false)
	}
	if s.Queued() != 3 || l.Counters().Drops[ReasonQueueFull] != 2 {
		t.Fatalf("queued %d drops %d", s.Queued(), l.Counters().Drops[ReasonQueueFull])
	}
	if len(c.notes) != 1 || c.notes[0] != sock.Readable {
		t.Fatalf("readiness %v: want one Readable edge", c.notes)
	}
	buf := make([]byte, 64)
	for s.Queued() > 0 {
		s.RecvFrom(buf)
	}
	l.Input(peer, us, dgram(1000, 7, "123456"), false, false)
	if r := l.Input(peer, us, dgram(1000, 7, "123456"), false, false); r != ReasonQueueFull {
		t.Fatalf("byte bound: %v", r)
	}
}

func TestRecvFromTruncatesAndReportsSender(t *testing.T) {
	l, _ := newLayer(Config{})
	s, _ := l.Bind(us, 7, 1)
	l.Input(peer, us, dgram(1234, 7, "hello world"), false, false)
	b := make([]byte, 5)
	n, from, port, err := s.RecvFrom(b)
	if err != nil || n != 5 || string(b) != "hello" || from != peer || port != 1234 {
		t.Fatalf("n %d %q from %v:%d err %v", n, b, from, port, err)
	}
	if _, _, _, err := s.RecvFrom(b); !errors.Is(err, sock.ErrWouldBlock) {
		t.Fatalf("empty queue: %v", err)
	}
}

func TestSendToChecksumAndLimits(t *testing.T) {
	l, c := newLayer(Config{})
	s, _ := l.Bind(wire.Addr{}, 0, 1)
	if s.Port() < ephFirst {
		t.Fatalf("ephemeral port %d", s.Port())
	}
	if err := s.SendTo(us, peer, 53, []byte("query")); err != nil {
		t.Fatal(err)
	}
	d := c.out[0].dgram
	if !wire.UDPChecksumValid(d, us, peer) || wire.UDP(d).Checksum() == 0 || wire.UDP(d).SrcPort() != s.Port() {
		t.Fatalf("bad datagram %x", d)
	}
	if err := s.SendTo(us, peer, 53, make([]byte, MaxPayload+1)); !errors.Is(err, ErrTooBig) || l.Counters().Drops[ReasonTooBig] != 1 {
		t.Fatalf("too big: %v", err)
	}
	if err := s.SendTo(us, peer, 53, make([]byte, MaxPayload)); err != nil {
		t.Fatalf("largest datagram: %v", err)
	}
}

func TestBindConflictsAndClose(t *testing.T) {
	l, _ := newLayer(Config{MaxSockets: 2})
	s, _ := l.Bind(us, 7, 1)
	if _, err := l.Bind(us, 7, 2); !errors.Is(err, sock.ErrExists) {
		t.Fatalf("double bind: %v", err)
	}
	l.Bind(us, 8, 2)
	if _, err := l.Bind(us, 9, 3); !errors.Is(err, sock.ErrLimit) {
		t.Fatalf("socket limit: %v", err)
	}
	l.Input(peer, us, dgram(1000, 7, "x"), false, false)
	s.Close()
	if r := l.Input(peer, us, dgram(1000, 7, "x"), false, false); r != ReasonNoPort {
		t.Fatalf("closed socket still bound: %v", r)
	}
	if _, err := l.Bind(us, 7, 4); err != nil {
		t.Fatalf("rebind after close: %v", err)
	}
}

func TestICMPSoftErrors(t *testing.T) {
	l, _ := newLayer(Config{})
	s, _ := l.Bind(us, 5000, 1)
	if !l.ICMPError(us, peer, 5000, 53, 3, 3) {
		t.Fatal("no socket matched")
	}
	if err := s.SoftError(); !errors.Is(err, sock.ErrRefused) {
		t.Fatalf("port unreachable: %v", err)
	}
	if s.SoftError() != nil {
		t.Fatal("soft error not cleared")
	}
	l.ICMPError(us, peer, 5000, 53, 11, 0)
	if err := s.SoftError(); !errors.Is(err, ErrHostUnreachable) {
		t.Fatalf("time exceeded: %v", err)
	}
	if l.ICMPError(us, peer, 5001, 53, 3, 3) || l.Counters().SoftErrors != 2 {
		t.Fatal("unbound port matched")
	}
}

// Steady-state echo traffic allocates nothing: buffers are recycled.
func TestNoAllocSteadyState(t *testing.T) {
	l, c := newLayer(Config{})
	c.quiet = true
	s, _ := l.Bind(us, 7, 1)
	pkt := dgram(1000, 7, "0123456789abcdef0123456789abcdef")
	buf := make([]byte, 2048)
	l.Input(peer, us, pkt, false, false)
	s.RecvFrom(buf)
	allocs := testing.AllocsPerRun(100, func() {
		l.Input(peer, us, pkt, false, false)
		n, from, port, _ := s.RecvFrom(buf)
		s.SendTo(us, from, port, buf[:n])
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per datagram", allocs)
	}
}
