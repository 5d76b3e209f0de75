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
	s.Input(now, f.frameFrom(src), RxMeta{Time: now})
}

// frameFrom builds one SYN from src, random port and ISN, in f's buffer.
func (f *synFlood) frameFrom(src wire.Addr) []byte {
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
	return b
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
// one RTO after the flood stops nothing is left half-open, and once the
// timers run out nothing at all.
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
			// Spoofed on-link SYNs stop before TCP once the unanswered
			// neighbours are at their bound (TCPSynNoNeighbour); the
			// off-link ones without a gateway at IP, with one they fill
			// the SYN queue and get cookies.
			if c.TCPSynNoNeighbour == 0 || tc0.CookiesSent == 0 && !tc.gateway.IsUnspecified() || c.IPNoRouteIn == 0 && tc.gateway.IsUnspecified() {
				t.Fatalf("the flood was not one: %d cookies, %d no-neighbour drops, %d no-route drops", tc0.CookiesSent, c.TCPSynNoNeighbour, c.IPNoRouteIn)
			}
			// Off-link sources: never resolved. Without a gateway not even
			// answered; with one, answered through it.
			if *offLinkARPs != 0 {
				t.Fatalf("ARP asked %d times for off-link addresses", *offLinkARPs)
			}
			// Half-open: none once one RTO has passed since the flood's
			// last SYN (the pruned embryos of fsm/tcp synAckLimit).
			n.floodStep(nil, 0, 1100*time.Millisecond, func() {})
			if syn, _ := n.b.fds.socks[ln].ln.QueueLens(); syn != 0 {
				t.Fatalf("%d half-open 1.1 s after the flood (%d pruned)", syn, n.b.TCP().Counters().SynRecvPruned)
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
// full, so that every further SYN it answers is answered with a SYN cookie
// (RFC 4987 §3.6): A is a known neighbour and B's gateway, the queue was
// filled from off-link sources, and the neighbour table is at its bound of
// unanswered entries from on-link ones.
func cookieServer(t testing.TB) (*Stack, *synFlood, time.Time) {
	s := New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 7, Gateway: addrA})
	now := time.Unix(1_700_000_000, 0)
	if _, err := s.Listen(now, 80, 0); err != nil {
		t.Fatal(err)
	}
	learn(s, now, addrA, macA)
	f := &synFlood{rng: rand.New(rand.NewPCG(1, 2)), onLink: 0}
	for i := 0; s.TCP().Counters().CookiesSent < 1000; i++ {
		if i > 10000 {
			t.Fatal("SYN queue never full")
		}
		f.send(s, now)
		s.Output(func([]byte, TxMeta) {})
	}
	f.onLink = 1
	for i := 0; s.Counters().TCPSynNoNeighbour == 0; i++ {
		if i > 10000 {
			t.Fatal("the unanswered neighbours never reached their bound")
		}
		f.send(s, now)
		s.Output(func([]byte, TxMeta) {})
	}
	return s, f, now
}

// TestSynCookiePathAllocationFree: in steady state a SYN allocates
// nothing, whether it is answered with a cookie (from a known neighbour, or
// off-link through the gateway) or dropped before TCP: from an unknown
// on-link source while the unanswered neighbours are at their bound
// (TCPSynNoNeighbour), or from off-link with no gateway (IPNoRouteIn).
func TestSynCookiePathAllocationFree(t *testing.T) {
	s, f, now := cookieServer(t)
	noGW := New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 7})
	if _, err := noGW.Listen(now, 80, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		s      *Stack
		onLink float64
		src    func() wire.Addr
		count  func(s *Stack) uint64 // what most SYNs must move
	}{
		{"known neighbour", s, 1, func() wire.Addr { return addrA }, cookies},
		{"off-link via the gateway", s, 0, nil, cookies},
		{"unknown on-link", s, 1, nil, func(s *Stack) uint64 { return s.Counters().TCPSynNoNeighbour }},
		{"off-link without a gateway", noGW, 0, nil, func(s *Stack) uint64 { return s.Counters().IPNoRouteIn }},
	} {
		f.onLink = tc.onLink
		before := tc.count(tc.s)
		const runs = 2000
		allocs := testing.AllocsPerRun(runs, func() {
			if tc.src != nil {
				f.sendFrom(tc.s, now, tc.src())
			} else {
				f.send(tc.s, now)
			}
			tc.s.Output(func([]byte, TxMeta) {})
		})
		if allocs != 0 {
			t.Errorf("%s: %.2f allocations per SYN, want 0", tc.name, allocs)
		}
		// Most: a random source may be invalid (IP drops it), an
		// on-link one may be among the entries still being resolved.
		if got := tc.count(tc.s) - before; got < runs/2 {
			t.Errorf("%s: %d of %d SYNs counted", tc.name, got, runs+1)
		}
	}
}

func cookies(s *Stack) uint64 { return s.TCP().Counters().CookiesSent }

// TestSynNoNeighbourDropsOnlyWhatARPWould: a bare SYN is dropped before TCP
// exactly when ARP would drop TCP's answer unsent (link.ARP.WouldDrop): from
// an unknown on-link source at the bound of unanswered neighbours, or from
// one that failed; never from a known neighbour or one still being
// resolved with room in its queue, and never a segment that is not a bare
// SYN (an ACK from the same source reaches TCP). The SYN dropped is as if
// lost: once the neighbour answers ARP, its retransmission is answered.
func TestSynNoNeighbourDropsOnlyWhatARPWould(t *testing.T) {
	s, f, now := cookieServer(t)
	if e, _ := s.ARP().Unresolved(); e != 256/4 {
		t.Fatalf("%d unresolved entries, want the bound (64)", e)
	}
	stranger := unknownOnLink(t, s)
	drops := func() uint64 { return s.Counters().TCPSynNoNeighbour }
	d0, c0 := drops(), cookies(s)
	f.sendFrom(s, now, stranger)
	if drops() != d0+1 || cookies(s) != c0 {
		t.Fatalf("SYN from an unknown on-link source at the bound: %d drops, %d cookies; want 1, 0", drops()-d0, cookies(s)-c0)
	}
	if _, ok := s.ARP().State(stranger); ok {
		t.Fatal("the dropped SYN created a neighbour entry")
	}
	d0 = drops()
	f.sendFrom(s, now, addrA)
	if drops() != d0 || cookies(s) != c0+1 {
		t.Fatal("a known neighbour's SYN was not answered")
	}
	// The stranger speaks up (asks for us): it is learned, and its SYN is
	// answered.
	learn(s, now, stranger, wire.MAC{2, 0, 0, 0, 7, 7})
	c0, d0 = cookies(s), drops()
	f.sendFrom(s, now, stranger)
	if drops() != d0 || cookies(s) != c0+1 {
		t.Fatalf("after ARP: %d drops, %d cookies; want 0, 1", drops()-d0, cookies(s)-c0)
	}
	// Not a bare SYN: reaches TCP whatever ARP would do.
	other := unknownOnLink(t, s)
	seg0 := s.TCP().Counters().SegsIn
	d0 = drops()
	sendSeg(s, now, other, wire.FlagACK)
	if drops() != d0 || s.TCP().Counters().SegsIn != seg0+1 {
		t.Fatal("an ACK from an unresolvable source did not reach TCP")
	}
}

// unknownOnLink returns an address of B's /24 that B's neighbour table has
// no entry for.
func unknownOnLink(t *testing.T, s *Stack) wire.Addr {
	for h := byte(3); h < 255; h++ {
		a := wire.Addr{198, 18, 0, h}
		if _, ok := s.ARP().State(a); !ok {
			return a
		}
	}
	t.Fatal("every on-link address has a neighbour entry")
	return wire.Addr{}
}

// sendSeg hands s one segment with flags from src to port 80.
func sendSeg(s *Stack, now time.Time, src wire.Addr, flags wire.TCPFlags) {
	var b [wire.EthernetHeaderLen + wire.IPv4MinHeaderLen + wire.TCPMinHeaderLen]byte
	wire.PutEthernet(b[:], macB, wire.MAC{2, 0, 0, 0, 9, 9}, wire.EtherTypeIPv4)
	ipb := b[wire.EthernetHeaderLen:]
	h := wire.IPv4Header{TotalLen: len(ipb), TTL: 64, Protocol: wire.ProtoTCP, Src: src, Dst: addrB}
	h.Put(ipb)
	th := wire.TCPHeader{SrcPort: 40000, DstPort: 80, Seq: 1, Ack: 1, Flags: flags, Window: 64240}
	seg := ipb[wire.IPv4MinHeaderLen:]
	th.Put(seg)
	wire.SetTCPChecksum(seg, src, addrB)
	s.Input(now, b[:], RxMeta{Time: now})
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
// on-link source, the neighbour table at its bound of unanswered entries:
// dropped before TCP (TCPSynNoNeighbour) or, when its source is one of
// those entries, its answer dropped by ARP.
func BenchmarkSynSpoofedOnLink(b *testing.B) {
	s, f, now := cookieServer(b)
	f.onLink = 1
	b.ReportAllocs()
	for b.Loop() {
		f.send(s, now)
		s.Output(func([]byte, TxMeta) {})
	}
}
