package tcp

import (
	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// maxSACKRanges bounds the sender's scoreboard; a range beyond it is
// forgotten (only the highest, which matters least for finding holes).
const maxSACKRanges = 16

// scoreboard holds the SACKed ranges above SND.UNA, sorted and disjoint
// (RFC 6675 §3). Its array (room for maxSACKRanges) is taken from the
// layer's range pool with the first SACK block and given back when the board
// empties (giveBackBuffers), so a connection without loss holds none.
type scoreboard struct {
	r []seqRange
}

// update merges the valid blocks of a received SACK option: a block must lie
// within (una, nxt]; others (bogus) are ignored (RFC 2018 §4), and so is the
// first block when it is a D-SACK (dsack, RFC 2883 §4: it reports a
// duplicate, not new data). It reports whether the option SACKed octets the
// board did not hold yet (what makes an ACK a duplicate ACK under RFC 6675
// §2). p lends the array.
func (b *scoreboard) update(p *pool[seqRange], o *wire.TCPOptions, una, nxt seqnum.Value, dsack bool) bool {
	before := b.octets()
	first := 0
	if dsack {
		first = 1
	}
	for i := first; i < o.NumSACK && i < wire.MaxSACKBlocks; i++ {
		s, e := seqnum.Value(o.SACK[i].Start), seqnum.Value(o.SACK[i].End)
		if !s.LessThan(e) || !una.LessThan(e) || nxt.LessThan(e) {
			continue
		}
		if s.LessThan(una) {
			s = una
		}
		if b.r == nil {
			b.r = p.get(maxOOO)[:0]
		}
		b.add(s, e)
	}
	return b.octets() > before
}

// octets is how many octets the board holds.
func (b *scoreboard) octets() uint32 {
	var n uint32
	for _, r := range b.r {
		n += uint32(r.end - r.start)
	}
	return n
}

// add merges [s, e) into the board.
func (b *scoreboard) add(s, e seqnum.Value) {
	n := len(b.r)
	i := 0
	for i < n && b.r[i].end.LessThan(s) {
		i++
	}
	j := i
	for j < n && b.r[j].start.LessThanEq(e) {
		s = seqnum.Min(s, b.r[j].start)
		e = seqnum.Max(e, b.r[j].end)
		j++
	}
	switch {
	case i == j: // insert at i
		if n == maxSACKRanges {
			if i == n {
				return
			}
			n-- // forget the highest
		}
		b.r = b.r[:n+1]
		copy(b.r[i+1:], b.r[i:n])
	case j > i+1: // collapse i..j-1 into i
		k := copy(b.r[i+1:], b.r[j:n])
		b.r = b.r[:i+1+k]
	}
	b.r[i] = seqRange{s, e}
}

// trim drops what lies below una (cumulatively acknowledged).
func (b *scoreboard) trim(una seqnum.Value) {
	k := 0
	for k < len(b.r) && b.r[k].end.LessThanEq(una) {
		k++
	}
	if k > 0 {
		b.r = b.r[:copy(b.r, b.r[k:])]
	}
	if len(b.r) > 0 && b.r[0].start.LessThan(una) {
		b.r[0].start = una
	}
}

// reset forgets every range.
func (b *scoreboard) reset() { b.r = b.r[:0] }

// release gives the array back to p once the board is empty.
func (b *scoreboard) release(p *pool[seqRange]) {
	if b.r != nil && len(b.r) == 0 {
		p.put(b.r)
		b.r = nil
	}
}

// sacked reports whether seq lies in a SACKed range, and that range's end.
func (b *scoreboard) sacked(seq seqnum.Value) (bool, seqnum.Value) {
	for _, r := range b.r {
		if r.start.LessThanEq(seq) && seq.LessThan(r.end) {
			return true, r.end
		}
	}
	return false, 0
}

// nextSacked returns the start of the first SACKed range above seq, if any.
func (b *scoreboard) nextSacked(seq seqnum.Value) (seqnum.Value, bool) {
	for _, r := range b.r {
		if seq.LessThan(r.start) {
			return r.start, true
		}
	}
	return 0, false
}

// lostFrom reports whether the hole before range i is lost by RFC 6675's
// IsLost: at least DupThresh (3) SACKed ranges above it, or more than
// (DupThresh-1)*SMSS SACKed octets above it.
func (b *scoreboard) lostFrom(i int, mss int) bool {
	if len(b.r)-i >= 3 {
		return true
	}
	var octets uint32
	for _, r := range b.r[i:] {
		octets += uint32(r.end - r.start)
	}
	return octets > uint32(2*mss)
}

// sackRecovery is SACK-based loss recovery (RFC 6675) for a connection
// that uses SACK without RACK (Config.NoRACK).
type sackRecovery struct{}

// lost: DupThresh duplicate ACKs, or IsLost(SND.UNA) (RFC 6675 §5 step 4).
func (sackRecovery) lost(snd *sender) bool {
	b := &snd.rec.sb
	return snd.dupAcks >= dupThresh || len(b.r) > 0 && b.r[0].start != snd.c.tcb.SndUna && b.lostFrom(0, snd.mss)
}

// nextSeg is RFC 6675 §4 NextSeg: by rule 1 the first lost, un-SACKed
// octet at or above HighRxt, and how many octets follow it before a SACKed
// range; when no hole is lost yet and no new data can go (newData false:
// nothing queued, or the peer's window is full), rule 3 takes the first
// un-SACKed octet above HighRxt below the highest SACKed one, so the ACK
// clock keeps running instead of waiting for the retransmission timer.
func (sackRecovery) nextSeg(snd *sender, newData bool) (seqnum.Value, int, bool) {
	t := &snd.c.tcb
	una, rec := t.SndUna, &snd.rec
	b := &rec.sb
	cur := una
	for i, r := range b.r {
		if cur.LessThan(r.start) && (rec.force || b.lostFrom(i, snd.mss)) {
			start := seqnum.Max(cur, rec.highRxt)
			if start.LessThan(r.start) {
				return start, int(r.start - start), true
			}
		}
		cur = seqnum.Max(cur, r.end)
	}
	if rec.force && !rec.highRxt.GreaterThan(una) && len(b.r) == 0 {
		return una, int(t.SndNxt - una), una.LessThan(t.SndNxt)
	}
	if !newData { // rule 3
		cur = una
		for _, r := range b.r {
			if start := seqnum.Max(cur, rec.highRxt); start.LessThan(r.start) {
				return start, int(r.start - start), true
			}
			cur = seqnum.Max(cur, r.end)
		}
	}
	return 0, 0, false
}

// pipe is RFC 6675 §4 SetPipe: every octet not SACKed and not lost, plus
// every retransmitted octet not yet SACKed.
func (sackRecovery) pipe(snd *sender) uint32 {
	t := &snd.c.tcb
	una, nxt, highRxt := t.SndUna, t.SndNxt, snd.rec.highRxt
	b := &snd.rec.sb
	var p uint32
	cur := una
	for i, r := range b.r {
		if cur.LessThan(r.start) {
			hole := uint32(r.start - cur)
			if !b.lostFrom(i, snd.mss) {
				p += hole
			}
			if cur.LessThan(highRxt) { // retransmitted part of the hole
				p += min(hole, uint32(highRxt-cur))
			}
		}
		cur = seqnum.Max(cur, r.end)
	}
	if cur.LessThan(nxt) {
		p += uint32(nxt - cur)
		if cur.LessThan(highRxt) {
			p += min(uint32(nxt-cur), uint32(highRxt-cur))
		}
	}
	return p
}

// partialAck: the scoreboard already tells what to resend.
func (sackRecovery) partialAck(*sender) {}

// noteDuplicate records a D-SACK (RFC 2883 §4) for a segment whose text
// lies, wholly or in part, below RCV.NXT: the duplicate octets become the
// first SACK block of the next ACK we send, reported once.
func (rcv *receiver) noteDuplicate(s *segment) {
	c := rcv.c
	if !c.sackOK || unsynchronized(c.state) || s.textLen() == 0 || s.flags&(wire.FlagSYN|wire.FlagRST) != 0 {
		return
	}
	nxt := c.tcb.RcvNxt
	if !s.seq.LessThan(nxt) {
		return
	}
	end := s.seq.Add(seqnum.Size(s.textLen()))
	rcv.dsack, rcv.dsackIn, rcv.dsackOut = seqRange{s.seq, seqnum.Min(end, nxt)}, seqRange{}, true
}

// noteDuplicateOOO records a D-SACK for a segment above RCV.NXT that
// out-of-order data already holds whole: the duplicate first, then the
// block holding it (RFC 2883 §4.2.3).
func (rcv *receiver) noteDuplicateOOO(start, end seqnum.Value) {
	c := rcv.c
	if !c.sackOK || !start.LessThan(end) {
		return
	}
	for _, r := range rcv.buf.ooo {
		if r.start.LessThanEq(start) && end.LessThanEq(r.end) {
			rcv.dsack, rcv.dsackIn, rcv.dsackOut = seqRange{start, end}, r, true
			return
		}
	}
}
