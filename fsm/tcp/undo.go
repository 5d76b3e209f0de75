package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// maxUndoRtx bounds the retransmissions of one episode that D-SACKs are
// matched against; an episode with more is never undone by D-SACK (the
// timestamp test still applies).
const maxUndoRtx = 16

// undoState is what a loss episode (fast recovery or retransmission
// timeout) saved to undo its congestion response if it proves spurious:
// RFC 3522 (Eifel detection by timestamps), RFC 2883 §5 (D-SACK), RFC 4015
// (the response to a spurious timeout).
type undoState struct {
	armed    bool
	rto      bool    // the episode includes a retransmission timeout
	checked  bool    // the timeout's first acceptable ACK was tested
	cc       ccState // the congestion window and algorithm state at the start
	hasTS    bool
	tsval    uint32 // TSval of the episode's first retransmission (RFC 3522 §2)
	rtx      [maxUndoRtx]seqRange
	nrtx     int  // retransmissions not yet reported duplicate by a D-SACK
	total    int  // retransmissions of the episode
	overflow bool // more than maxUndoRtx: no D-SACK undo
}

// undoArm saves the congestion state at the start of a loss episode. A
// timeout inside a running fast recovery belongs to the same episode and
// keeps the state saved when it began.
func (snd *sender) undoArm(rto bool) {
	if snd.undo == nil {
		snd.undo = new(undoState) // once per connection, at its first loss
	}
	u := snd.undo
	if u.armed && (snd.rec.active || (rto && snd.rec.rtoRec)) {
		if rto {
			u.rto, u.checked = true, false
		}
		return
	}
	*u = undoState{armed: true, rto: rto, cc: snd.cc}
}

// undoSent records a retransmission of [seq, end) sent at now.
func (snd *sender) undoSent(now time.Time, seq, end seqnum.Value) {
	c := snd.c
	u := snd.undo
	if u == nil || !u.armed {
		return
	}
	if !u.hasTS && c.tsOK {
		u.hasTS, u.tsval = true, c.tsClock(now)
	}
	u.total++
	if u.nrtx == maxUndoRtx {
		u.overflow = true
		return
	}
	u.rtx[u.nrtx] = seqRange{seq, end}
	u.nrtx++
}

// eifel reports whether s acknowledges an original transmission: its echoed
// timestamp is older than the episode's first retransmission (RFC 3522 §2,
// RFC 7323 §4.3: a hole filled by a retransmission echoes that one's TSval).
func (snd *sender) eifel(s *segment) bool {
	c := snd.c
	u := snd.undo
	return u != nil && c.tsOK && u.hasTS && s.opts.HasTimestamps && s.opts.TSEcr != 0 && int32(s.opts.TSEcr-u.tsval) < 0
}

// undoDSACK matches a D-SACK block against the episode's retransmissions
// (RFC 2883 §5): each one reported duplicate shows its original arrived.
// With timestamps, a D-SACK whose ACK echoes a TSval no older than the
// episode's first retransmission proves nothing (the network may have
// duplicated a retransmission that repaired a real loss) and is not
// counted: undo must never follow a real loss.
func (snd *sender) undoDSACK(s *segment, b seqRange) {
	c := snd.c
	u := snd.undo
	if u == nil || !u.armed || u.overflow {
		return
	}
	if c.tsOK && u.hasTS && s.opts.HasTimestamps && !snd.eifel(s) {
		return
	}
	for i := 0; i < u.nrtx; i++ {
		r := u.rtx[i]
		if r.start.LessThanEq(b.start) && b.end.LessThanEq(r.end) {
			u.nrtx--
			u.rtx[i] = u.rtx[u.nrtx]
			return
		}
	}
}

// undoCheck runs after an ACK is processed: a timeout whose first acceptable
// ACK answers the original transmission was spurious (RFC 3522, RFC 4015);
// an episode over whose every retransmission was D-SACKed was spurious (RFC
// 2883 §5). Either undoes the congestion response.
func (snd *sender) undoCheck(s *segment, advanced bool) {
	c := snd.c
	u := snd.undo
	if u == nil || !u.armed || u.total == 0 {
		return
	}
	if u.rto && !u.checked && advanced {
		u.checked = true
		if snd.eifel(s) {
			snd.undoRTO(s)
			return
		}
	}
	if !snd.rec.active && !snd.rec.rtoRec && !u.overflow && u.nrtx == 0 {
		u.armed = false
		snd.undoCwnd()
		c.l.ctr.UndoDSACK++
	}
}

// undoRecoveryEnd is called when fast recovery ends with a full ACK: the
// Eifel test on it (RFC 3522 §3) undoes a recovery whose retransmissions
// all came too late to matter.
func (snd *sender) undoRecoveryEnd(s *segment) {
	c := snd.c
	u := snd.undo
	if u != nil && u.armed && !u.rto && u.total > 0 && snd.eifel(s) {
		u.armed = false
		snd.undoCwnd()
		c.l.ctr.UndoEifel++
	}
}

// undoCwnd restores the window and threshold saved at the episode's start
// (never lowering the current ones) and the algorithm's state.
func (snd *sender) undoCwnd() {
	c := snd.c
	u := snd.undo
	snd.cc.restore(u.cc)
	c.l.ctr.Undos++
}

// undoRTO is the Eifel response to a spurious timeout (RFC 4015 §2): the
// congestion state comes back, go-back-N stops (transmission resumes with
// new data), the segments the timeout marked lost are not, and the backoff
// ends: the RTO returns to SRTT + 4*RTTVAR. The ACK's echo is not used as
// an RTT sample: when it was the peer's ACKs that were lost, it dates from
// before the whole backoff (RFC 7323 §4.3 case C), so SRTT would swell.
func (snd *sender) undoRTO(s *segment) {
	c := snd.c
	t := &c.tcb
	snd.undo.armed = false
	snd.undoCwnd()
	c.l.ctr.UndoRTO++
	snd.rec.rtoRec = false
	snd.rec.point = t.SndUna - 1 // a later loss may start fast recovery again
	if snd.rtxNxt.LessThan(t.SndNxt) {
		snd.rtxNxt = t.SndNxt
	}
	q := &snd.txq
	for i := 0; i < q.n(); i++ {
		if r := q.at(i); r.flags&(segLost|segRtxOut) == segLost {
			q.setFlags(r, 0, segLost)
		}
	}
	snd.resetRTO()
}

// dsackBlock reports whether the option's first SACK block is a D-SACK
// (RFC 2883 §4): below the cumulative ACK, or inside the second block.
func dsackBlock(o *wire.TCPOptions, ack seqnum.Value) (seqRange, bool) {
	if o.NumSACK == 0 {
		return seqRange{}, false
	}
	s, e := seqnum.Value(o.SACK[0].Start), seqnum.Value(o.SACK[0].End)
	if !s.LessThan(e) {
		return seqRange{}, false
	}
	if e.LessThanEq(ack) {
		return seqRange{s, e}, true
	}
	if o.NumSACK > 1 {
		s2, e2 := seqnum.Value(o.SACK[1].Start), seqnum.Value(o.SACK[1].End)
		if s2.LessThanEq(s) && e.LessThanEq(e2) {
			return seqRange{s, e}, true
		}
	}
	return seqRange{}, false
}
