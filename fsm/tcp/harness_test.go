package tcp

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

var (
	addrA = wire.Addr{198, 18, 0, 1}
	addrB = wire.Addr{198, 18, 0, 2}
	epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// capture is an Output that records what a layer sends.
type capture struct {
	segs  []capSeg
	notes []capNote
}

type capSeg struct {
	src, dst wire.Addr
	b        []byte
	meta     SegMeta
}

type capNote struct {
	id uint64
	ev sock.Readiness
}

func (c *capture) SendSegment(src, dst wire.Addr, meta SegMeta, seg []byte) {
	c.segs = append(c.segs, capSeg{src, dst, bytes.Clone(seg), meta})
}

func (c *capture) Notify(id uint64, ev sock.Readiness) { c.notes = append(c.notes, capNote{id, ev}) }

func (c *capture) take() []capSeg {
	s := c.segs
	c.segs = nil
	return s
}

// faults describes a seeded unreliable link.
type faults struct {
	loss    float64       // probability a segment is dropped
	reorder float64       // probability a segment is held back and sent after the next
	dup     float64       // probability a segment is delivered twice
	corrupt float64       // probability a segment has one octet flipped (the checksum catches it)
	ce      float64       // probability an ECN-capable (ECT) segment is marked CE instead of passing clean
	rate    float64       // link rate in bit/s (0: unlimited); segments queue behind each other
	queue   int           // with rate: segments a direction may hold before tail drop (0: 100)
	delay   time.Duration // one-way delay (0: 1 ms)
}

// wirePair is two layers, A and B, joined by an in-memory link with seeded
// faults and a fixed one-way delay, driven in simulated time.
type wirePair struct {
	t         testing.TB
	now       time.Time
	a, b      *Layer
	oa, ob    *capture
	f         faults
	rng       *rand.Rand
	delay     time.Duration
	flight    []flightSeg  // in transit, in delivery order
	busy      [2]time.Time // per direction (0: to B): when the link is free again
	queued    [2][]time.Time
	tailDrops int
	ceMarks   int // segments the ce fault marked
	// wake, when set, reports the next time an application wants to run
	// (zero: none); step advances to it like to a timer.
	wake func() time.Time
}

type flightSeg struct {
	at   time.Time
	toB  bool
	seg  capSeg
	held bool
}

func newWirePair(t testing.TB, seed uint64, cfg Config, f faults) *wirePair {
	p := &wirePair{t: t, now: epoch, oa: &capture{}, ob: &capture{}, f: f, delay: time.Millisecond}
	if f.delay > 0 {
		p.delay = f.delay
	}
	p.rng = rand.New(rand.NewPCG(seed, 1))
	p.a = NewLayer(cfg, p.oa, rand.New(rand.NewPCG(seed, 2)))
	p.b = NewLayer(cfg, p.ob, rand.New(rand.NewPCG(seed, 3)))
	layersUnderTest = append(layersUnderTest, p.a, p.b)
	return p
}

// collect moves newly sent segments onto the link, applying faults.
func (p *wirePair) collect() {
	for _, side := range []struct {
		o   *capture
		toB bool
	}{{p.oa, true}, {p.ob, false}} {
		for _, s := range side.o.take() {
			if p.f.loss > 0 && p.rng.Float64() < p.f.loss {
				continue
			}
			if p.f.ce > 0 && s.meta.TOS&ECNMask != ECNNotECT && p.rng.Float64() < p.f.ce {
				s.meta.TOS |= ECNCE
				p.ceMarks++
			}
			if p.f.corrupt > 0 && p.rng.Float64() < p.f.corrupt {
				s.b[p.rng.IntN(len(s.b))] ^= byte(1 + p.rng.IntN(255))
			}
			at := p.now.Add(p.delay)
			if p.f.rate > 0 {
				d := 0
				if !side.toB {
					d = 1
				}
				q := p.queued[d][:0]
				for _, x := range p.queued[d] {
					if x.After(p.now) {
						q = append(q, x)
					}
				}
				p.queued[d] = q
				limit := p.f.queue
				if limit == 0 {
					limit = 100
				}
				if len(q) >= limit {
					p.tailDrops++
					continue
				}
				start := p.busy[d]
				if start.Before(p.now) {
					start = p.now
				}
				done := start.Add(time.Duration(float64(len(s.b)+40) * 8 / p.f.rate * float64(time.Second)))
				p.busy[d] = done
				p.queued[d] = append(p.queued[d], done)
				at = done.Add(p.delay)
			}
			if p.f.reorder > 0 && p.rng.Float64() < p.f.reorder {
				at = at.Add(time.Duration(1+p.rng.IntN(3)) * time.Millisecond)
			}
			p.flight = append(p.flight, flightSeg{at: at, toB: side.toB, seg: s})
			if p.f.dup > 0 && p.rng.Float64() < p.f.dup {
				p.flight = append(p.flight, flightSeg{at: at, toB: side.toB, seg: s})
			}
		}
	}
}

// step delivers everything due, or else advances time to the next event
// (a segment arrival or a timer). It reports false when nothing is left.
func (p *wirePair) step() bool {
	p.collect()
	next := time.Time{}
	for _, f := range p.flight {
		if next.IsZero() || f.at.Before(next) {
			next = f.at
		}
	}
	var w time.Time
	if p.wake != nil {
		w = p.wake()
	}
	next = earliest(next, p.a.NextDeadline(), p.b.NextDeadline(), w)
	if next.IsZero() {
		return false
	}
	if next.After(p.now) {
		p.now = next
	}
	keep := p.flight[:0]
	var due []flightSeg
	for _, f := range p.flight {
		if !f.at.After(p.now) {
			due = append(due, f)
		} else {
			keep = append(keep, f)
		}
	}
	p.flight = keep
	for _, f := range due {
		dst := p.a
		if f.toB {
			dst = p.b
		}
		dst.InputIP(p.now, f.seg.src, f.seg.dst, f.seg.meta, f.seg.b, false)
	}
	p.a.Poll(p.now)
	p.b.Poll(p.now)
	p.collect()
	return true
}

// runUntil steps until cond holds; it fails the test after max steps.
func (p *wirePair) runUntil(cond func() bool, max int) {
	p.t.Helper()
	for i := 0; i < max; i++ {
		if cond() {
			return
		}
		if !p.step() && !cond() {
			p.t.Fatalf("link idle and condition not met at %v", p.now.Sub(epoch))
		}
	}
	p.t.Fatalf("condition not met after %d steps (%v simulated)", max, p.now.Sub(epoch))
}

// connect opens a listener on B:80 and connects A to it; it returns the
// client (on A) and the accepted server connection (on B).
func (p *wirePair) connect() (client, server *Conn) {
	p.t.Helper()
	ln, err := p.b.Listen(p.now, addrB, 80, 0, 1)
	if err != nil {
		p.t.Fatal(err)
	}
	client, err = p.a.Connect(p.now, addrA, 0, addrB, 80, 2)
	if err != nil {
		p.t.Fatal(err)
	}
	p.runUntil(func() bool {
		if server == nil {
			server, _ = ln.Accept(p.now)
		}
		return server != nil && client.State() == StateEstablished
	}, 100)
	server.SetID(3)
	return client, server
}

// pattern returns n deterministic pseudo-random octets.
func pattern(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 99))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// streamer moves a byte stream through a Conn: writes what fits, reads what is
// there, half-closes after the last octet and records EOF.
type streamer struct {
	c       *Conn
	out     []byte // still to send
	in      []byte // received so far
	eof     bool
	closed  bool
	err     error
	scratch []byte
}

func (s *streamer) pump(now time.Time) {
	for len(s.out) > 0 {
		n, err := s.c.Send(now, s.out)
		s.out = s.out[n:]
		if err != nil || n == 0 {
			break
		}
	}
	if len(s.out) == 0 && !s.closed {
		s.closed = true
		if err := s.c.CloseWrite(now); err != nil {
			s.err = err
		}
	}
	if s.scratch == nil {
		s.scratch = make([]byte, 64<<10)
	}
	for !s.eof {
		n, err := s.c.Recv(now, s.scratch)
		s.in = append(s.in, s.scratch[:n]...)
		if errors.Is(err, io.EOF) {
			s.eof = true
			break
		}
		if err != nil {
			if !errors.Is(err, sock.ErrWouldBlock) {
				s.err = err
			}
			break
		}
	}
}
