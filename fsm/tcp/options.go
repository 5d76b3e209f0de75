package tcp

import (
	"encoding/binary"
	"time"

	"github.com/netspec/netspec/fsm/siphash"
	"github.com/netspec/netspec/fsm/wire"
)

// tsOptLen is the option space the Timestamps option takes in every segment
// once negotiated (NOP NOP TS, RFC 7323 §3.2); the effective send MSS shrinks
// by as much (RFC 9293 §3.7.1, MUST-16).
const tsOptLen = 12

// pawsIdle is how long TS.Recent stays valid without updates (RFC 7323 §5.5:
// 24 days, so that a 1 ms clock cannot have wrapped past half its space).
const pawsIdle = 24 * 24 * time.Hour

// tsClock returns our TSval at now: a 1 ms clock (RFC 7323 §5.4) plus the
// connection's offset.
func (c *Conn) tsClock(now time.Time) uint32 {
	return uint32(now.UnixMilli()) + c.tsOffset
}

// tsOffsetFor derives the random timestamp offset of a connection from the
// layer's secret and the 4-tuple (RFC 7323 §5.4, §7.1): unpredictable from
// outside, yet the same for every incarnation of one 4-tuple, so a new SYN's
// timestamps are newer than the old incarnation's (RFC 6191).
func (l *Layer) tsOffsetFor(k connKey) uint32 {
	var b [13]byte
	copy(b[0:4], k.laddr[:])
	copy(b[4:8], k.raddr[:])
	binary.BigEndian.PutUint16(b[8:], k.lport)
	binary.BigEndian.PutUint16(b[10:], k.rport)
	b[12] = 't'
	return uint32(siphash.Sum64(l.secret[0], l.secret[1], b[:]))
}

// negotiateOptions records what the peer's SYN (or SYN,ACK) offered: the
// Timestamps option and SACK-permitted are used when both sides sent them
// (RFC 7323 §3.2, RFC 2018 §2). Our SYN offers both unless turned off, and
// our SYN,ACK only echoes what the SYN offered, so "we offered" is the
// configuration.
func (c *Conn) negotiateOptions(s *segment) {
	cfg := &c.l.cfg
	c.tsOK = s.opts.HasTimestamps && !cfg.NoTimestamps
	c.sackOK = s.opts.SACKPermitted && !cfg.NoSACK
	if c.tsOK {
		c.rcv.tsRecent, c.rcv.tsRecentAt = s.opts.TSVal, s.at
		c.snd.mss = max(c.snd.mss-tsOptLen, 64)
	}
}

// pawsReject is the PAWS test (RFC 7323 §5.3 R1): the segment carries a
// timestamp older than a valid TS.Recent.
func (rcv *receiver) pawsReject(s *segment) bool {
	c := rcv.c
	if !c.tsOK || !s.opts.HasTimestamps || int32(s.opts.TSVal-rcv.tsRecent) >= 0 {
		return false // the common case, asked by each PAWS row: no clock read
	}
	// TS.Recent too old to judge by (RFC 7323 §5.5): accept.
	return s.at.Sub(rcv.tsRecentAt) <= pawsIdle
}

// tsReplayHz is the fastest TSval clock the replay window allows for:
// RFC 7323 §5.4 expects 1 ms to 1 s, and some systems (old Linux) tick
// at 1200 Hz (Linux's tcp_tsval_replay).
const tsReplayHz = 1200

// disorderedAck reports whether s, which the PAWS test rejects, is an ACK
// the network reordered rather than an old duplicate (Linux's
// tcp_disordered_ack): a pure ACK (no text, SYN, FIN or RST) at RCV.NXT
// that acknowledges exactly SND.UNA and leaves the window as it is
// (SEG.SEQ = SND.WL1, the same window; Linux's tcp_may_update_window is a
// little wider, below), with a TSval at most one RTO of a tsReplayHz clock
// behind TS.Recent. Such an ACK changes nothing but
// the duplicate-ACK count and the SACK scoreboard, which is what reordered
// ACKs are for; RFC 7323 §5.3 R1 would drop it.
func (c *Conn) disorderedAck(s *segment) bool {
	t := &c.tcb
	if s.flags&(wire.FlagACK|wire.FlagSYN|wire.FlagFIN|wire.FlagRST) != wire.FlagACK || s.textLen() != 0 ||
		s.origSeq != t.RcvNxt || s.ack != t.SndUna {
		return false
	}
	// Linux's test is SEG.SEQ after SND.WL1, or at it with a larger or a
	// zero window; a smaller one passes there and is ignored by its window
	// update. Ours (RFC 9293 §3.10.7.4 step 5's WL1/WL2 test) would take
	// it, so only an unchanged window passes here: the ACK then changes
	// nothing but what a duplicate ACK changes.
	if t.SndWl1 != s.origSeq || c.snd.scaledWnd(s) != t.SndWnd {
		return false
	}
	replay := int64(c.snd.rto/time.Millisecond) * tsReplayHz / 1000
	return int64(int32(c.rcv.tsRecent-s.opts.TSVal)) <= replay
}

// updateTSRecent keeps TS.Recent (RFC 7323 §4.3): the timestamp of the
// segment that starts at or before the last ACK we sent, if it is not older.
func (rcv *receiver) updateTSRecent(s *segment) {
	c := rcv.c
	if !c.tsOK || !s.opts.HasTimestamps {
		return
	}
	if int32(s.opts.TSVal-rcv.tsRecent) >= 0 && s.origSeq.LessThanEq(rcv.lastAckSent) {
		rcv.tsRecent, rcv.tsRecentAt = s.opts.TSVal, s.at
	}
}

// tsRTT takes an RTT sample from the echoed timestamp of every ACK that
// advances SND.UNA (RFC 7323 §4.1), weighted by the samples expected per
// round trip, ExpectedSamples = ceil(FlightSize / (2*SMSS)) for the flight
// before the ACK (RFC 7323 Appendix G). Timestamps are exact for
// retransmitted segments too, so Karn's rule is not needed. Sampling once per
// window of sequence space instead starved the estimate during SACK
// recovery, where SND.NXT runs far ahead of SND.UNA: an early bad sample
// then ruled the RTO for tens of seconds. It reports whether a sample was
// taken.
func (snd *sender) tsRTT(s *segment, flight uint32) bool {
	c := snd.c
	if !c.tsOK || !s.opts.HasTimestamps || s.opts.TSEcr == 0 {
		return false
	}
	// An echo older than the last timeout is the peer's TS.Recent answering
	// a retransmission of data it already had (its ACKs were lost): it
	// would inflate the RTT by the whole backoff (RFC 7323 §4.3 case C).
	if snd.tsRTOFloor != 0 && int32(s.opts.TSEcr-snd.tsRTOFloor) < 0 {
		return false
	}
	d := int32(c.tsClock(s.now) - s.opts.TSEcr)
	if d < 0 {
		return false
	}
	k := int((flight + 2*uint32(snd.mss) - 1) / (2 * uint32(snd.mss)))
	snd.rttSample(time.Duration(d)*time.Millisecond, k)
	return true
}

// putOptions adds the per-segment options to h for a segment with n octets
// of text: Timestamps when negotiated, and SACK blocks (RFC 2018 §4) when
// out-of-order data is held, as many as fit beside the text in the MSS.
func (rcv *receiver) putOptions(h *wire.TCPHeader, n int, now time.Time) {
	c := rcv.c
	if c.tsOK && h.Flags&wire.FlagRST == 0 {
		h.Opts.HasTimestamps = true
		h.Opts.TSVal = c.tsClock(now)
		h.Opts.TSEcr = rcv.tsRecent
	}
	if !c.sackOK || h.Flags&wire.FlagACK == 0 || (len(rcv.buf.ooo) == 0 && !rcv.dsackOut) || h.Flags&wire.FlagSYN != 0 {
		return
	}
	room := c.snd.mss - n - 4 // SACK option header with its NOPs
	k, base := 0, 0
	add := func(r seqRange) {
		if room < 8 || k == wire.MaxSACKBlocks {
			return
		}
		for i := base; i < k; i++ {
			if h.Opts.SACK[i].Start == uint32(r.start) {
				return
			}
		}
		h.Opts.SACK[k] = wire.SACKBlock{Start: uint32(r.start), End: uint32(r.end)}
		k++
		room -= 8
	}
	// A D-SACK goes first, once (RFC 2883 §4), with the block holding it
	// when it lies above RCV.NXT.
	if rcv.dsackOut {
		add(rcv.dsack)
		if k == 1 { // else no room beside the text: the next ACK carries it
			rcv.dsackOut = false
			base = 1
			c.l.ctr.DSACKsSent++
			if rcv.dsackIn.start != rcv.dsackIn.end {
				add(rcv.dsackIn)
			}
		}
	}
	// The first block holds the most recently received segment (RFC 2018 §4).
	for _, r := range rcv.buf.ooo {
		if !rcv.sackLast.start.LessThan(r.start) && !r.end.LessThan(rcv.sackLast.end) {
			add(r)
			break
		}
	}
	for _, r := range rcv.buf.ooo {
		add(r)
	}
	h.Opts.NumSACK = k
}
