package stack

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// synFlood builds SYNs to B from spoofed sources (RFC 4987 §2.2): a share
// onLink from B's own /24 (each one resolved with ARP, never answered),
// the rest from anywhere else.
type synFlood struct {
	rng    *rand.Rand
	onLink float64
	frame  [wire.EthernetHeaderLen + wire.IPv4MinHeaderLen + wire.TCPMinHeaderLen + 4]byte
}

func (f *synFlood) source() wire.Addr {
	if f.rng.Float64() < f.onLink {
		return wire.Addr{198, 18, 0, byte(3 + f.rng.IntN(252))} // not A, B or broadcast
	}
	return wire.Addr{byte(1 + f.rng.IntN(190)), byte(f.rng.Uint32()), byte(f.rng.Uint32()), byte(1 + f.rng.IntN(254))}
}

// send hands one SYN from a spoofed source to s.
func (f *synFlood) send(s *Stack, now time.Time) { f.sendFrom(s, now, f.source()) }

// sendFrom hands one SYN from src, random port and ISN, to s.
func (f *synFlood) sendFrom(s *Stack, now time.Time, src wire.Addr) {
	b := f.frame[:]
	wire.PutEthernet(b, macB, wire.MAC{2, 0, 0, 0, 9, 9}, wire.EtherTypeIPv4)
	ipb := b[wire.EthernetHeaderLen:]
	h := wire.IPv4Header{TotalLen: len(ipb), ID: uint16(f.rng.Uint32()), TTL: 64, Protocol: wire.ProtoTCP, Src: src, Dst: addrB}
	h.Put(ipb)
	th := wire.TCPHeader{SrcPort: uint16(1024 + f.rng.IntN(60000)), DstPort: 80, Seq: f.rng.Uint32(), Flags: wire.FlagSYN, Window: 64240}
	th.Opts.HasMSS, th.Opts.MSS = true, 1460
	seg := ipb[wire.IPv4MinHeaderLen:]
	th.Put(seg)
	wire.SetTCPChecksum(seg, src, addrB)
	s.Input(now, b, RxMeta{Time: now})
}

// floodStep advances the simulation by step: perSYN SYNs reach B spread
// over it, frames move until the wire is quiet, timers run, and app gets a
// turn after every delivery.
func (n *simNet) floodStep(f *synFlood, syns int, step time.Duration, app func()) {
	for i := 0; i < syns; i++ {
		if f != nil {
			f.send(n.b, n.now)
		}
		for k := 0; n.deliver() && k < 1000; k++ {
			app()
		}
	}
	n.now = n.now.Add(step)
	n.a.Poll(n.now)
	n.b.Poll(n.now)
	for k := 0; n.deliver() && k < 1000; k++ {
		app()
	}
	app()
}

// checkBounded fails t when B's neighbour state or frame buffers exceed
// their bounds, or A, a known neighbour, lost its entry.
func checkBounded(t *testing.T, s *Stack) {
	t.Helper()
	cfg := s.Config().ARP
	entries, frames := s.ARP().Unresolved()
	switch {
	case s.ARP().Len() > 256 || entries > 256/4 || frames > cfg.MaxPendingTotal:
		t.Fatalf("neighbour state unbounded: %d entries, %d unresolved, %d frames waiting", s.ARP().Len(), entries, frames)
	case s.port.Queue().InUse() > s.cfg.MaxOutput:
		t.Fatalf("frame buffers: %d in use", s.port.Queue().InUse())
	}
	if _, ok := s.ARP().Lookup(addrA); !ok {
		t.Fatal("the flood evicted a known neighbour")
	}
}

// floodTransfer sends size bytes from A to B over a new connection while
// the flood goes on at rate SYNs/s, and checks every byte arrived within a
// second of simulated time.
func floodTransfer(t *testing.T, n *simNet, f *synFlood, ln FD, size, rate int) {
	t.Helper()
	const step = time.Millisecond
	per := rate / int(time.Second/step)
	cfd, err := n.a.Dial(n.now, addrB, 80)
	if err != nil {
		t.Fatal(err)
	}
	want := randomBytes(uint64(size), size)
	var got bytes.Buffer
	sfd, sent, eof := FD(-1), 0, false
	buf := make([]byte, 64<<10)
	app := func() {
		if sfd < 0 {
			if fd, err := n.b.Accept(n.now, ln); err == nil {
				sfd = fd
			}
		}
		for sent < size {
			k, err := n.a.Send(n.now, cfd, want[sent:])
			sent += k
			if k == 0 || errors.Is(err, sock.ErrWouldBlock) {
				break
			}
		}
		if sent == size && cfd >= 0 {
			n.a.Close(n.now, cfd)
			cfd = -1
		}
		for sfd >= 0 && !eof {
			k, err := n.b.Recv(n.now, sfd, buf)
			got.Write(buf[:k])
			if err == io.EOF {
				eof = true
			}
			if err != nil {
				break
			}
		}
	}
	deadline := n.now.Add(time.Second)
	for !eof {
		if n.now.After(deadline) {
			t.Fatalf("during the flood the client moved %d of %d bytes in 1 s (accepted: %v); stack B: %+v", got.Len(), size, sfd >= 0, *n.b.Counters())
		}
		n.floodStep(f, per, step, app)
		checkBounded(t, n.b)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("received %d bytes, want %d, not the ones sent", got.Len(), size)
	}
	n.b.Close(n.now, sfd)
}

// TestSynFloodLegitimateClientServed: a flood of SYNs from random sources
// on and off the link (50,000/s) does not keep a known client from
// connecting and transferring; ARP state and frame buffers stay within
// their bounds; off-link sources with no gateway are never resolved; and
// once the flood stops and the timers run out, nothing is left half-open.
func TestSynFloodLegitimateClientServed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		gateway wire.Addr
	}{{"no gateway", wire.Addr{}}, {"gateway", addrA}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newSim(t, 41)
			n.b = New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 42, Gateway: tc.gateway})
			ln, err := n.b.Listen(n.now, 80, 0)
			if err != nil {
				t.Fatal(err)
			}
			offLinkARPs := countOffLinkARPs(n)
			floodTransfer(t, n, nil, ln, 64<<10, 0) // A becomes a known neighbour
			f := &synFlood{rng: rand.New(rand.NewPCG(43, 44)), onLink: 0.5}
			for range 500 { // half a second of flood fills the SYN queue and ARP
				n.floodStep(f, 50, time.Millisecond, func() {})
				checkBounded(t, n.b)
			}
			for range 3 {
				floodTransfer(t, n, f, ln, 256<<10, 50_000)
			}
			c := n.b.Counters()
			tc0 := n.b.TCP().Counters()
			if tc0.CookiesSent == 0 || c.IPNoRouteIn == 0 && tc.gateway.IsUnspecified() {
				t.Fatalf("the flood was not one: %d cookies, %d no-route drops", tc0.CookiesSent, c.IPNoRouteIn)
			}
			// Off-link sources: never resolved. Without a gateway not even
			// answered; with one, answered through it.
			if *offLinkARPs != 0 {
				t.Fatalf("ARP asked %d times for off-link addresses", *offLinkARPs)
			}
			for deadline := n.now.Add(5 * time.Minute); n.b.TCP().Counters().Conns > 0; {
				if n.now.After(deadline) {
					t.Fatalf("%d connections left 5 min after the flood", n.b.TCP().Counters().Conns)
				}
				n.floodStep(nil, 0, time.Second, func() {})
			}
			if syn, acc := n.b.fds.socks[ln].ln.QueueLens(); syn != 0 || acc != 0 {
				t.Fatalf("listener still holds %d embryos, %d to accept", syn, acc)
			}
			for n.b.NextDeadline().Before(n.now.Add(10*time.Minute)) && !n.b.NextDeadline().IsZero() {
				n.floodStep(nil, 0, time.Second, func() {})
			}
			if e, fr := n.b.ARP().Unresolved(); e != 0 || fr != 0 || n.b.port.Queue().InUse() != 0 {
				t.Fatalf("after the timers: %d unresolved entries, %d frames waiting, %d buffers in use", e, fr, n.b.port.Queue().InUse())
			}
		})
	}
}

// countOffLinkARPs counts the ARP requests B sends for addresses off its /24.
func countOffLinkARPs(n *simNet) *int {
	count := new(int)
	n.trace = func(from string, f []byte) {
		eth, _ := wire.ParseEthernet(f)
		if from != addrB.String() || eth.Type() != wire.EtherTypeARP {
			return
		}
		if p, err := wire.ParseARP(eth.Payload()); err == nil && !n.b.ipTx.OnLink(p.TargetIP()) {
			*count++
		}
	}
	return count
}

// cookieServer returns a stack B listening on port 80 whose SYN queue is
// full, so that every further SYN is answered with a SYN cookie (RFC 4987
// §3.6), with A a known neighbour and the neighbour table at its bound of
// unanswered entries.
func cookieServer(t testing.TB) (*Stack, *synFlood, time.Time) {
	s := New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 7})
	now := time.Unix(1_700_000_000, 0)
	if _, err := s.Listen(now, 80, 0); err != nil {
		t.Fatal(err)
	}
	learn(s, now, addrA, macA)
	f := &synFlood{rng: rand.New(rand.NewPCG(1, 2)), onLink: 1}
	for i := 0; s.TCP().Counters().CookiesSent < 1000; i++ {
		if i > 10000 {
			t.Fatal("SYN queue never full")
		}
		f.send(s, now)
		s.Output(func([]byte, TxMeta) {})
	}
	return s, f, now
}

// TestSynCookiePathAllocationFree: in steady state a SYN answered with a
// cookie allocates nothing, whether its source is a known neighbour (the
// SYN,ACK leaves) or an unknown on-link one (dropped at the bound of
// unanswered neighbours) or off-link with no route.
func TestSynCookiePathAllocationFree(t *testing.T) {
	s, f, now := cookieServer(t)
	for _, tc := range []struct {
		name   string
		onLink float64
		src    func() wire.Addr
	}{
		{"known neighbour", 1, func() wire.Addr { return addrA }},
		{"unknown on-link", 1, nil},
		{"off-link", 0, nil},
	} {
		f.onLink = tc.onLink
		sent := s.TCP().Counters().CookiesSent
		allocs := testing.AllocsPerRun(2000, func() {
			if tc.src != nil {
				f.sendFrom(s, now, tc.src())
			} else {
				f.send(s, now)
			}
			s.Output(func([]byte, TxMeta) {})
		})
		if allocs != 0 {
			t.Errorf("%s: %.2f allocations per SYN, want 0", tc.name, allocs)
		}
		if tc.onLink > 0 && s.TCP().Counters().CookiesSent == sent {
			t.Errorf("%s: no cookie sent", tc.name)
		}
	}
}

// BenchmarkSynCookie is the cost of one SYN from a known neighbour answered
// with a cookie, SYN,ACK drained.
func BenchmarkSynCookie(b *testing.B) {
	s, f, now := cookieServer(b)
	b.ReportAllocs()
	for b.Loop() {
		f.sendFrom(s, now, addrA)
		s.Output(func([]byte, TxMeta) {})
	}
}

// BenchmarkSynSpoofedOnLink is the cost of one SYN from a random unknown
// on-link source, the neighbour table at its bound.
func BenchmarkSynSpoofedOnLink(b *testing.B) {
	s, f, now := cookieServer(b)
	b.ReportAllocs()
	for b.Loop() {
		f.send(s, now)
		s.Output(func([]byte, TxMeta) {})
	}
}
