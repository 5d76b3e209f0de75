package tcp

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// linuxPeer is a receiving peer that acknowledges as Linux's TCP does
// (tcp_input.c __tcp_ack_snd_check, tcp_send_delayed_ack, tcp_send_dupack,
// tcp_data_queue), facing one netspec Layer (the sender under test) across a
// link with a fixed one-way delay and no rate limit, in simulated time:
//
//   - Segments that arrive at the same instant are one batch (one softirq
//     pass before the reader wakes), and a batch is acknowledged with one
//     ACK at its end when more than one full segment is unacknowledged.
//   - A duplicate segment is acknowledged at once with a D-SACK block
//     (RFC 2883) and puts the receiver in quick-ACK mode; an out-of-order
//     segment, or one that fills a hole, is acknowledged at once with SACK
//     blocks (RFC 5681 §4.2).
//   - In quick-ACK mode (the first 16 segments, and after a duplicate) every
//     batch is acknowledged at once.
//   - Otherwise, a lone in-order segment waits for the delayed-ACK timer,
//     40 ms (TCP_DELACK_MIN on a short path).
//
// Data and ACKs are dropped by the seeded random loss rates or by the drop
// hooks; the peer's own counters say what it did.
type linuxPeer struct {
	t     testing.TB
	now   time.Time
	l     *Layer
	o     *capture
	srv   *Conn // the connection under test, on l
	rng   *rand.Rand
	delay time.Duration

	dataLoss, ackLoss float64
	dropData          func(seq seqnum.Value, n int) bool // extra drops of our data (nil: none)
	dropAck           func(k int, ack seqnum.Value) bool // extra drops of the peer's k-th ACK (nil: none)

	rcvNxt   seqnum.Value // RCV.NXT
	wup      seqnum.Value // RCV.NXT in the last ACK sent (Linux's rcv_wup)
	ooo      []seqRange   // out-of-order ranges held, in arrival order of their last segment (newest first)
	dsack    *seqRange    // a duplicate to report (RFC 2883)
	delackAt time.Time
	quick    int // quick-ACK segments left (Linux's icsk_ack.quick)
	mss      int

	toPeer, toUs []peerSeg // in transit, in arrival order

	acks, delAcks, lostAcks, dataSegs, dupSegs int
}

type peerSeg struct {
	at time.Time
	b  []byte
}

const (
	peerPort     = 40000
	peerDelack   = 40 * time.Millisecond
	peerQuickMax = 16
	peerWScale   = 7
)

// newLinuxPeer connects a Linux-like client to a netspec listener (cfg) and
// returns it with the accepted connection in srv.
func newLinuxPeer(t testing.TB, seed uint64, cfg Config, delay time.Duration) *linuxPeer {
	p := &linuxPeer{t: t, now: epoch, o: &capture{}, delay: delay, mss: 1460, quick: peerQuickMax}
	p.rng = rand.New(rand.NewPCG(seed, 11))
	p.l = NewLayer(cfg, p.o, rand.New(rand.NewPCG(seed, 12)))
	layersUnderTest = append(layersUnderTest, p.l)
	ln, err := p.l.Listen(p.now, addrB, 80, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	const irs = 1_000_000
	p.send(wire.TCPHeader{Seq: irs, Flags: wire.FlagSYN, Window: 0xffff,
		Opts: wire.TCPOptions{MSS: 1460, HasMSS: true, WScale: peerWScale, HasWScale: true, SACKPermitted: true}})
	synack := p.o.take()
	if len(synack) != 1 {
		t.Fatalf("%d segments answer the SYN", len(synack))
	}
	sa, _ := wire.ParseTCP(synack[0].b)
	p.rcvNxt, p.wup = seqnum.Value(sa.Seq()+1), seqnum.Value(sa.Seq()+1)
	p.now = p.now.Add(2 * delay)
	p.ack(irs+1, false)
	if p.srv, err = ln.Accept(p.now); err != nil {
		t.Fatal(err)
	}
	return p
}

// send delivers a segment from the peer to the layer now.
func (p *linuxPeer) send(h wire.TCPHeader) {
	h.SrcPort, h.DstPort = peerPort, 80
	b := make([]byte, h.Len())
	h.Put(b)
	wire.SetTCPChecksum(b, addrA, addrB)
	p.l.Input(p.now, addrA, addrB, b, false)
}

// ack sends (or loses) an ACK of RCV.NXT with the SACK blocks owed; seq is
// the peer's sequence number. direct: at once rather than after the delay.
func (p *linuxPeer) ack(seq seqnum.Value, queued bool) {
	h := wire.TCPHeader{Seq: uint32(seq), Ack: uint32(p.rcvNxt), Flags: wire.FlagACK, Window: 0xffff}
	n := 0
	if p.dsack != nil {
		h.Opts.SACK[n] = wire.SACKBlock{Start: uint32(p.dsack.start), End: uint32(p.dsack.end)}
		n++
		p.dsack = nil
	}
	for _, r := range p.ooo {
		if n == 3 {
			break
		}
		h.Opts.SACK[n] = wire.SACKBlock{Start: uint32(r.start), End: uint32(r.end)}
		n++
	}
	h.Opts.NumSACK = n
	covered := int(p.rcvNxt-p.wup) / p.mss
	p.wup = p.rcvNxt
	p.delackAt = time.Time{}
	p.quick = max(p.quick-max(covered, 1), 0)
	k := p.acks
	p.acks++
	if !queued {
		p.send(h)
		return
	}
	if (p.ackLoss > 0 && p.rng.Float64() < p.ackLoss) || (p.dropAck != nil && p.dropAck(k, p.rcvNxt)) {
		p.lostAcks++
		return
	}
	h.SrcPort, h.DstPort = peerPort, 80
	b := make([]byte, h.Len())
	h.Put(b)
	wire.SetTCPChecksum(b, addrA, addrB)
	p.toUs = append(p.toUs, peerSeg{p.now.Add(p.delay), b})
}

// collect moves what the layer sent onto the link, applying data loss.
func (p *linuxPeer) collect() {
	for _, s := range p.o.take() {
		t, err := wire.ParseTCP(s.b)
		if err != nil {
			p.t.Fatal(err)
		}
		if n := len(t.Payload()); n > 0 {
			seq := seqnum.Value(t.Seq())
			if (p.dataLoss > 0 && p.rng.Float64() < p.dataLoss) || (p.dropData != nil && p.dropData(seq, n)) {
				continue
			}
		}
		p.toPeer = append(p.toPeer, peerSeg{p.now.Add(p.delay), s.b})
	}
}

// receive processes one batch of segments arriving together (Linux's
// tcp_data_queue and __tcp_ack_snd_check over one softirq pass).
func (p *linuxPeer) receive(batch []peerSeg) {
	now := false
	for _, s := range batch {
		t, _ := wire.ParseTCP(s.b)
		seq := seqnum.Value(t.Seq())
		end := seq.Add(seqnum.Size(len(t.Payload())))
		if t.Flags()&wire.FlagFIN != 0 {
			end++
		}
		if seq == end {
			continue
		}
		p.dataSegs++
		switch {
		case end.LessThanEq(p.rcvNxt) || p.held(seq, end):
			p.dupSegs++
			p.dsack = &seqRange{seq, end}
			p.quick = peerQuickMax // tcp_send_dupack: tcp_enter_quickack_mode
			now = true
		case p.rcvNxt.LessThan(seq):
			p.addOOO(seq, end)
			now = true
		default:
			p.rcvNxt = seqnum.Max(p.rcvNxt, end)
			if len(p.ooo) > 0 {
				now = true // a hole (partly) filled
				p.pullOOO()
			}
		}
	}
	switch {
	case p.rcvNxt == p.wup && !now:
	case now || p.quick > 0 || int(p.rcvNxt-p.wup) > p.mss:
		p.ack(p.srvSeq(), true)
	case p.delackAt.IsZero():
		p.delackAt = p.now.Add(peerDelack)
	}
}

// srvSeq is the peer's SND.NXT (it sends no data).
func (p *linuxPeer) srvSeq() seqnum.Value { return p.srv.tcb.RcvNxt }

// held reports whether [seq, end) is already in the out-of-order store.
func (p *linuxPeer) held(seq, end seqnum.Value) bool {
	for _, r := range p.ooo {
		if r.start.LessThanEq(seq) && end.LessThanEq(r.end) {
			return true
		}
	}
	return false
}

// addOOO holds [seq, end), merging it with the ranges it touches; the
// merged range goes first (RFC 2018 §4: the first block reports the most
// recent segment).
func (p *linuxPeer) addOOO(seq, end seqnum.Value) {
	r := seqRange{seq, end}
	keep := p.ooo[:0]
	for _, o := range p.ooo {
		if o.end.LessThan(r.start) || r.end.LessThan(o.start) {
			keep = append(keep, o)
			continue
		}
		r = seqRange{seqnum.Min(o.start, r.start), seqnum.Max(o.end, r.end)}
	}
	p.ooo = slices.Insert(keep, 0, r)
}

// pullOOO moves RCV.NXT over the held ranges it reaches.
func (p *linuxPeer) pullOOO() {
	for moved := true; moved; {
		moved = false
		keep := p.ooo[:0]
		for _, o := range p.ooo {
			if o.start.LessThanEq(p.rcvNxt) {
				p.rcvNxt = seqnum.Max(p.rcvNxt, o.end)
				moved = true
				continue
			}
			keep = append(keep, o)
		}
		p.ooo = keep
	}
}

// step delivers what is due, or advances time to the next event (an
// arrival, the layer's timer or the peer's delayed ACK); false when nothing
// is left.
func (p *linuxPeer) step() bool {
	p.collect()
	next := earliest(p.l.NextDeadline(), p.delackAt, first(p.toPeer), first(p.toUs))
	if next.IsZero() {
		return false
	}
	if next.After(p.now) {
		p.now = next
	}
	var due []peerSeg
	due, p.toUs = splitDue(p.toUs, p.now)
	for _, s := range due {
		p.l.Input(p.now, addrA, addrB, s.b, false)
	}
	p.l.Poll(p.now)
	p.collect()
	due, p.toPeer = splitDue(p.toPeer, p.now)
	if len(due) > 0 {
		p.receive(due)
	}
	if !p.delackAt.IsZero() && !p.delackAt.After(p.now) {
		p.delAcks++
		p.ack(p.srvSeq(), true)
	}
	return true
}

// earliest returns the earliest of the non-zero times ts (zero: none).
func earliest(ts ...time.Time) time.Time {
	var next time.Time
	for _, d := range ts {
		if !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	return next
}

func first(s []peerSeg) time.Time {
	if len(s) == 0 {
		return time.Time{}
	}
	return s[0].at
}

// splitDue returns the segments due at now and those still in transit.
func splitDue(s []peerSeg, now time.Time) (due, rest []peerSeg) {
	i := 0
	for i < len(s) && !s[i].at.After(now) {
		i++
	}
	return slices.Clone(s[:i]), s[i:]
}

// download sends n octets from the layer to the peer and returns the
// simulated time until the peer holds them all.
func (p *linuxPeer) download(n int) time.Duration {
	p.t.Helper()
	start := p.now
	data := pattern(1, n)
	want := p.rcvNxt.Add(seqnum.Size(n))
	for i := 0; p.rcvNxt.LessThan(want); i++ {
		for len(data) > 0 {
			k, _ := p.srv.Send(p.now, data)
			if k == 0 {
				break
			}
			data = data[k:]
		}
		if i > 5_000_000 || !p.step() {
			p.t.Fatalf("download stuck at %d of %d octets (%v simulated)", int(p.rcvNxt-want)+n, n, p.now.Sub(start))
		}
		if err := p.l.CheckInvariants(); err != nil {
			p.t.Fatal(err)
		}
	}
	return p.now.Sub(start)
}

// settle steps until everything sent is acknowledged and nothing is in
// transit or owed by the peer.
func (p *linuxPeer) settle() {
	p.t.Helper()
	srv := p.srv
	for i := 0; srv.tcb.SndUna != srv.tcb.SndNxt || len(p.toPeer)+len(p.toUs) > 0 || !p.delackAt.IsZero(); i++ {
		if i > 100_000 || !p.step() {
			p.t.Fatalf("not settled after %v simulated", p.now.Sub(epoch))
		}
	}
}
