package tcp

import (
	"sort"

	"github.com/netspec/netspec/fsm/seqnum"
)

// txSeg is one transmitted segment: the per-segment state RACK keeps
// (RFC 8985 §5.2 Segment.xmit_ts, Segment.lost, Segment.retransmitted),
// the SACK scoreboard's view of it (RFC 6675 §3) and, for BBR, the
// delivery state when it was last sent (draft-cheng-iccrg-delivery-rate-
// estimation §3.2 P.delivered, P.delivered_time, P.first_sent_time; bbr.go).
type txSeg struct {
	start, end  seqnum.Value // [start, end): the octets (and FIN) it carried
	xmit        int64        // Segment.xmit_ts: when last (re)sent, Unix ns
	tsval       uint32       // the TSval it last carried (RFC 7323), for RFC 8985 §6.2 step 2
	flags       uint8
	delivered   uint64 // BBR: octets delivered when it was sent
	deliveredAt int64  // BBR: when those were (0: not stamped, or already counted delivered)
	firstSentAt int64  // BBR: send time of the segment that began the sampling interval
}

// txSeg flags. A segment counts in the pipe (RFC 6675 §4) once unless lost,
// and once more while a retransmission of it is in flight (as Linux's
// packets_out - sacked_out - lost_out + retrans_out).
const (
	segRtx        uint8 = 1 << iota // Segment.retransmitted: sent more than once
	segRtxOut                       // a retransmission is in flight (not marked lost since)
	segLost                         // deemed lost by RACK or the RTO
	segSacked                       // selectively acknowledged
	segAppLimited                   // BBR: sent while the sender was application-limited (P.is_app_limited)
)

// txQueue is the retransmission queue: one record per segment sent, from
// SND.UNA to SND.NXT, ascending and contiguous in sequence space. The array
// is allocated with the connection's first data segment for its send buffer
// (and again only if the buffer grows); when it is full a new segment is
// merged into the last record (which then carries the later transmit time:
// loss is only detected later, never wrongly). No per-segment allocation.
type txQueue struct {
	s      []txSeg
	lo, hi int // live records are s[lo:hi]
	sacked int // live records with segSacked
	pipe   uint32
	merges uint32 // records merged for want of room (tests)
	hint   int    // absolute index at or below the first lost, unretransmitted record
}

// txQueueLen returns how many records a queue holds for a send buffer of
// sndBuf octets and segments of mss: every full segment of the buffer, and
// room for small ones.
func txQueueLen(sndBuf, mss int) int {
	return min(max(sndBuf/max(mss, 64)+32, 64), 8192)
}

// grow moves the records into an array of n from the layer's pool (taken
// on the first segment after the queue emptied and when the send buffer
// grows, never per segment); the old array goes back to the pool.
func (q *txQueue) grow(p *pool[txSeg], n int) {
	s := p.get(n)
	q.hi = copy(s, q.s[q.lo:q.hi])
	q.hint = max(q.hint-q.lo, 0)
	q.lo = 0
	p.put(q.s)
	q.s = s
}

// release gives the array back to the layer's pool and forgets every record:
// nothing is in flight, or the connection's send side is done.
func (q *txQueue) release(p *pool[txSeg]) {
	p.put(q.s)
	*q = txQueue{}
}

// n is the number of live records.
func (q *txQueue) n() int { return q.hi - q.lo }

// at returns the i-th live record.
func (q *txQueue) at(i int) *txSeg { return &q.s[q.lo+i] }

// weight is what record r adds to the pipe.
func weight(r *txSeg) uint32 {
	if r.flags&segSacked != 0 {
		return 0
	}
	l := uint32(r.end - r.start)
	var w uint32
	if r.flags&segLost == 0 {
		w += l
	}
	if r.flags&segRtxOut != 0 {
		w += l
	}
	return w
}

// setFlags changes record r's flags, keeping the pipe and the SACKed count.
func (q *txQueue) setFlags(r *txSeg, set, clear uint8) {
	q.pipe -= weight(r)
	if r.flags&segSacked != 0 {
		q.sacked--
	}
	r.flags = r.flags&^clear | set
	if r.flags&segSacked != 0 {
		q.sacked++
	}
	q.pipe += weight(r)
}

// push appends a record for octets never sent before.
func (q *txQueue) push(r txSeg) {
	if !q.room() {
		if q.n() == 0 {
			return // no array (cannot happen once allocated)
		}
		last := &q.s[q.hi-1]
		q.pipe -= weight(last)
		last.end, last.xmit, last.tsval = r.end, r.xmit, r.tsval
		last.delivered, last.deliveredAt, last.firstSentAt = r.delivered, r.deliveredAt, r.firstSentAt
		q.pipe += weight(last)
		q.merges++
		return
	}
	q.s[q.hi] = r
	q.hi++
	q.pipe += weight(&r)
}

// room makes room for one more record at the end of the array if it can:
// by moving the live records down, else by merging two neighbours in the
// same state (reclaim). It reports whether there is room.
func (q *txQueue) room() bool {
	if q.hi < len(q.s) {
		return true
	}
	if q.lo > 0 {
		copy(q.s, q.s[q.lo:q.hi])
		q.hi -= q.lo
		q.hint = max(q.hint-q.lo, 0)
		q.lo = 0
		return true
	}
	return q.reclaim()
}

// reclaim merges two neighbouring records in the same state into one,
// SACKed ones first (their send times no longer matter), else the first
// pair found; the merged record keeps the later send time, so RACK may
// find its loss later but never wrongly. It reports whether it freed a slot.
func (q *txQueue) reclaim() bool {
	pick := -1
	for i := q.lo; i+1 < q.hi; i++ {
		a, b := &q.s[i], &q.s[i+1]
		if a.flags != b.flags {
			continue
		}
		if a.flags&segSacked != 0 {
			pick = i
			break
		}
		if pick < 0 {
			pick = i
		}
	}
	if pick < 0 {
		return false
	}
	a, b := &q.s[pick], &q.s[pick+1]
	if b.xmit > a.xmit {
		a.xmit, a.tsval = b.xmit, b.tsval
		a.delivered, a.deliveredAt, a.firstSentAt = b.delivered, b.deliveredAt, b.firstSentAt
	}
	a.end = b.end
	if a.flags&segSacked != 0 {
		q.sacked--
	}
	copy(q.s[pick+1:q.hi-1], q.s[pick+2:q.hi])
	q.hi--
	if pick < q.hint {
		q.hint-- // the records above moved down one
	}
	q.merges++
	return true
}

// find returns the index of the live record holding seq, or -1.
func (q *txQueue) find(seq seqnum.Value) int {
	live := q.s[q.lo:q.hi]
	i := sort.Search(len(live), func(i int) bool { return seq.LessThan(live[i].end) })
	if i < len(live) && live[i].start.LessThanEq(seq) {
		return i
	}
	return -1
}

// split cuts live record i at seq (inside it) into two records with the same
// state; false when the array has no room (the record stays whole).
func (q *txQueue) split(i int, seq seqnum.Value) bool {
	r := q.s[q.lo+i]
	if !q.room() {
		return false
	}
	// room may have moved or merged records: find the one to cut again.
	if i = q.find(seq); i < 0 || q.s[q.lo+i].start == seq || q.s[q.lo+i].flags != r.flags {
		return i >= 0 && q.s[q.lo+i].start == seq
	}
	a := q.lo + i
	copy(q.s[a+1:q.hi+1], q.s[a:q.hi])
	q.hi++
	q.s[a].end = seq
	q.s[a+1].start = seq
	if q.s[a].flags&segSacked != 0 {
		q.sacked++
	}
	return true
}

// popAcked removes the records wholly below una, calling fn for each (in
// ascending order), and trims a record una falls inside.
func (q *txQueue) popAcked(una seqnum.Value, fn func(r *txSeg)) {
	for q.lo < q.hi && q.s[q.lo].end.LessThanEq(una) {
		r := &q.s[q.lo]
		fn(r)
		q.pipe -= weight(r)
		if r.flags&segSacked != 0 {
			q.sacked--
		}
		q.lo++
	}
	if q.lo == q.hi {
		q.lo, q.hi = 0, 0
	}
	q.hint = max(q.hint, q.lo)
	if q.lo < q.hi && q.s[q.lo].start.LessThan(una) {
		r := &q.s[q.lo]
		q.pipe -= weight(r)
		r.start = una
		q.pipe += weight(r)
	}
}

// nextLost returns the first live record deemed lost and not retransmitted
// since, if any.
func (q *txQueue) nextLost() (*txSeg, bool) {
	q.hint = max(q.hint, q.lo)
	for ; q.hint < q.hi; q.hint++ {
		r := &q.s[q.hint]
		if r.flags&(segLost|segRtxOut|segSacked) == segLost {
			return r, true
		}
	}
	return nil, false
}

// lost marks live record i lost; it reports whether the record carried a
// retransmission (which is now known lost too).
func (q *txQueue) markLost(i int) (rtxLost bool) {
	r := q.at(i)
	rtxLost = r.flags&segRtxOut != 0
	q.setFlags(r, segLost, segRtxOut)
	q.hint = min(q.hint, q.lo+i)
	return rtxLost
}

// reset forgets every record (the connection's send side is done).
func (q *txQueue) reset() {
	q.lo, q.hi, q.sacked, q.pipe, q.hint = 0, 0, 0, 0, 0
}
