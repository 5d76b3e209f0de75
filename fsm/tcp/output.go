package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// sendsData reports whether output may send data, FIN or retransmissions in
// st: the synchronized states in which our side is not yet fully acknowledged.
func sendsData(st State) bool {
	switch st {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
		return true
	}
	return false
}

// sendSyn sends our SYN (or SYN,ACK when ack) <SEQ=ISS> (RFC 9293 §3.10.1,
// §3.10.7.2) and starts the retransmission timer if it is not running.
// Only the first transmission of <SEQ=ISS> is timed: a SYN,ACK sent again
// for a retransmitted SYN (oowSynAck), or for the peer's SYN after ours
// (simultaneous open), is a retransmission, and the ACK may answer an
// earlier copy (Karn, MUST-18).
func (snd *sender) sendSyn(now time.Time, ack bool) {
	c := snd.c
	c.emitSyn(ack)
	if c.tcb.SndNxt == c.tcb.Iss {
		c.tcb.SndNxt = c.tcb.Iss + 1
		snd.rttValid, snd.rttSeq, snd.rttAt = true, c.tcb.Iss, snd.c.l.tick(now)
	}
	if snd.rtxAt.IsZero() {
		snd.rtxAt = snd.c.l.tick(now).Add(snd.rto)
	}
}

// emitSyn builds and sends SYN or SYN,ACK with our MSS (MUST-14) and window
// scale (RFC 7323 §2.2: in a SYN,ACK only if the peer's SYN carried it).
func (c *Conn) emitSyn(ack bool) {
	h := &c.l.hdr
	*h = wire.TCPHeader{Flags: wire.FlagSYN}
	h.Opts.MSS, h.Opts.HasMSS = c.l.cfg.MSS, true
	if !ack || c.snd.shift != 0 || c.rcv.shift != 0 {
		h.Opts.WScale, h.Opts.HasWScale = wscaleFor(c.l.cfg.RecvBufMax), true
	}
	// RFC 7323 §3.2, RFC 2018 §2: offered in a SYN, echoed in a SYN,ACK.
	if (!ack && !c.l.cfg.NoTimestamps) || (ack && c.tsOK) {
		h.Opts.HasTimestamps = true
		h.Opts.TSVal = c.tsClock(c.l.now)
		h.Opts.TSEcr = c.rcv.tsRecent // zero in a SYN
	}
	h.Opts.SACKPermitted = (!ack && !c.l.cfg.NoSACK) || (ack && c.sackOK)
	if ack {
		h.Flags |= wire.FlagACK
	}
	h.Flags |= c.ecnSynFlags(ack)
	c.emit(c.tcb.Iss, 0)
}

// emit sends one segment from c: header in c.l.hdr (flags and options set by
// the caller), seq, and n octets of the send buffer starting at seq.
func (c *Conn) emit(seq seqnum.Value, n int) {
	l := c.l
	h := &l.hdr
	t := &c.tcb
	h.SrcPort, h.DstPort = c.key.lport, c.key.rport
	h.Seq = uint32(seq)
	if h.Flags&wire.FlagACK != 0 {
		h.Ack = uint32(t.RcvNxt)
	}
	h.Window = c.rcv.windowField(h.Flags&wire.FlagSYN != 0)
	if h.Flags&wire.FlagSYN == 0 {
		c.rcv.putOptions(h, n, l.now)
	}
	if h.Flags&wire.FlagACK != 0 {
		c.rcv.lastAckSent = t.RcvNxt
	}
	ect := l.sendECT
	l.sendECT = false
	c.rcv.ecnFlags(h)
	hl := h.Put(l.obuf)
	var p1, p2 []byte
	if n > 0 {
		p1, p2 = c.snd.buf.peek(int(seq-c.snd.bufSeq), n)
	}
	l.ctr.SegsOut++
	if h.Flags&wire.FlagRST != 0 {
		l.ctr.RstsSent++
	}
	l.send(c.key.laddr, c.key.raddr, c.meta(ect), l.obuf[:hl], p1, p2)
	if h.Flags&wire.FlagACK != 0 {
		c.rcv.ackSent()
	}
}

// windowField returns the window to advertise, in the header's units, and
// moves the right edge RCV.NXT+RCV.WND.
//
// The edge moves right only to cover free buffer space, rounded up to the
// scale unit (RFC 7323 §2.4), so what is promised never exceeds the buffer by
// a unit or more: unread data plus the window always fits the ring. It moves
// only when it gains at least min(RCV.BUFF/2, MSS) (receiver silly-window
// avoidance, RFC 9293 §3.8.6.2.2, MUST-39). It never moves left (SHLD-14); when the unit cannot express the
// remaining window exactly, the field rounds down and the receiver still
// accepts up to the edge it promised.
func (rcv *receiver) windowField(syn bool) uint16 {
	c := rcv.c
	nxt := c.tcb.RcvNxt
	free := uint32(max(rcv.free(), 0))
	if syn {
		return uint16(min(free, 0xffff)) // setIRS already holds this edge
	}
	unit := uint32(1) << rcv.shift
	cur := rcv.wnd()
	want := min((free+unit-1)&^(unit-1), 0xffff<<rcv.shift)
	if want > cur && (want-cur >= min(uint32(rcv.limit/2), uint32(c.l.cfg.MSS))) {
		rcv.edge = nxt.Add(seqnum.Size(want))
		cur = want
	}
	return uint16(min(cur>>rcv.shift, 0xffff))
}

// free returns the window the receive buffer allows: the buffer limit,
// less the unread octets beyond the headroom (headroom). While the reader
// is behind by at most the headroom the window stays whole.
func (rcv *receiver) free() int {
	return rcv.limit - max(rcv.buf.unread-rcv.headroom(rcv.limit), 0)
}

// headroom is the room an auto-tuned receive buffer of limit octets keeps
// beyond its limit for octets the application has not read yet:
// Config.RecvBuf, at most the limit itself. Linux's receive buffer is
// likewise larger than the window it advertises (tcp_rmem[1], 128 KiB,
// behind a first window of ~64 KiB), so a window the peer filled before
// the reader woke does not close the window: the ACK of that data still
// offers the whole window, and the reader has until a second one arrives
// to take the first. An idle connection holds no ring, so the headroom
// costs memory only while data waits for the reader. A fixed buffer
// (Config.RecvBuf without RecvBufMax, Conn.SetRecvBuffer) has none: its
// window closes when it holds its size, as set.
func (rcv *receiver) headroom(limit int) int {
	cfg := &rcv.c.l.cfg
	if rcv.locked || cfg.RecvBufMax <= cfg.RecvBuf {
		return 0
	}
	return min(cfg.RecvBuf, limit)
}

// ringSize is the capacity the receive ring needs for a buffer limit of
// limit octets with window scale shift: the limit, its headroom, and one
// scale unit of slack for a window rounded up to the unit (windowField).
func (rcv *receiver) ringSize(limit int, shift uint8) int {
	return limit + rcv.headroom(limit) + 1<<shift
}

// offer returns the window the free space allows, at most what the window
// field can express (65535 units of the scale).
func (rcv *receiver) offer() int { return min(rcv.free(), 0xffff<<rcv.shift) }

// sendRst sends a RST for the 4-tuple k (R1, R2 and ABORT forms) with the
// IP metadata m.
func (l *Layer) sendRst(k connKey, m SegMeta, seq, ack seqnum.Value, flags wire.TCPFlags) {
	h := &l.hdr
	*h = wire.TCPHeader{SrcPort: k.lport, DstPort: k.rport, Seq: uint32(seq), Ack: uint32(ack), Flags: flags}
	hl := h.Put(l.obuf)
	l.ctr.SegsOut++
	l.ctr.RstsSent++
	l.send(k.laddr, k.raddr, m, l.obuf[:hl], nil, nil)
}

// send hands a segment (header hdr, payload p1 then p2) to the output: in
// pieces to a PartsOutput, which builds it in its frame, else built whole
// and checksummed in the scratch buffer behind hdr.
func (l *Layer) send(src, dst wire.Addr, m SegMeta, hdr, p1, p2 []byte) {
	if po, ok := l.out.(PartsOutput); ok {
		po.SendParts(src, dst, m, hdr, p1, p2)
		return
	}
	w := len(hdr) + copy(l.obuf[len(hdr):], p1)
	w += copy(l.obuf[w:], p2)
	seg := l.obuf[:w]
	wire.SetTCPChecksum(seg, src, dst)
	l.out.SendSegment(src, dst, m, seg)
}

// output sends what the connection may send now (RFC 9293 §3.7, §3.8): first
// retransmissions from the go-back-N cursor, then new data, each segment at
// most the send MSS and inside min(SND.WND, cwnd); the FIN after the last
// octet once CLOSE was given; and finally any ACK still owed.
func (c *Conn) output(now time.Time) {
	if sendsData(c.state) {
		c.snd.sendData(now)
		if c.snd.tlpArmed {
			c.snd.tlpArmed = false
			c.snd.tlpArm(now)
		}
	}
	if c.rcv.ackNow && c.state != StateClosed && c.state != StateListen && c.state != StateSynSent && !c.l.holdAck(c) {
		h := &c.l.hdr
		*h = wire.TCPHeader{Flags: wire.FlagACK}
		c.emit(c.tcb.SndNxt, 0)
	}
}

func (snd *sender) sendData(now time.Time) {
	c := snd.c
	t := &c.tcb
	rec := snd.lossRecovery()
	for {
		dataEnd := snd.bufSeq.Add(seqnum.Size(snd.buf.n))
		var p sendPlan
		if snd.rec.active {
			p = snd.planRecovery(rec, dataEnd)
		} else {
			p = snd.planOpen()
		}
		seq, rtx, room := p.seq, p.rtx, p.room
		avail := 0
		if seq.LessThan(dataEnd) {
			avail = int(dataEnd - seq)
		}
		n := max(min(avail, room, snd.mss, p.maxN), 0)
		probe := false
		if n == 0 && avail > 0 && snd.forceOne {
			n, probe = 1, true // window probe (RFC 9293 §3.8.6.1)
		}
		fin := snd.finQueued && seq.Add(seqnum.Size(n)) == dataEnd && (rtx || !snd.finSent) && (rtx || room > 0 || !snd.rec.active)
		if (n == 0 && !fin) || (!rtx && !fin && !snd.forceOne && snd.holdRunt(n, avail)) {
			if avail == 0 && !rtx {
				snd.rateAppLimited() // nothing to send: BBR's samples do not measure the path
			}
			if avail > 0 && t.SndUna == t.SndNxt && snd.rtxAt.IsZero() {
				// Nothing in flight, so no ACK will restart us: MUST-36
				// probes a zero window after one RTO; the same timer is the
				// SWS override timeout of §3.8.6.2.1 for a small window.
				snd.persist = true
				snd.rtxAt = snd.c.l.tick(now).Add(snd.rto)
			}
			return
		}
		if snd.paceHold(now) {
			return // the pacing timer sends it (pacing.go)
		}
		end := snd.transmit(now, seq, n, fin, rtx, probe)
		if snd.rec.active {
			if rtx {
				snd.rec.force = false
				snd.rec.highRxt = seqnum.Max(snd.rec.highRxt, end)
			}
		} else if !rtx || p.goBack {
			snd.rtxNxt = end
		}
		if snd.rec.active && !rtx {
			snd.rtxNxt = t.SndNxt
		}
	}
}

// sendPlan is where sendData's next segment starts and what bounds it.
type sendPlan struct {
	seq    seqnum.Value
	rtx    bool // a retransmission
	goBack bool // from the go-back-N cursor
	maxN   int  // octets before a SACKed range (or the segment's end)
	room   int  // octets the window (and congestion window) allow from seq
}

// planRecovery is RFC 6675 §5 step (C) in fast recovery: while cwnd - pipe
// >= 1 SMSS, send NextSeg: a lost hole (chosen by the loss recovery, rec),
// else new data.
func (snd *sender) planRecovery(rec lossRecovery, dataEnd seqnum.Value) sendPlan {
	t := &snd.c.tcb
	p := sendPlan{seq: t.SndNxt, maxN: snd.mss}
	newData := t.SndNxt.LessThan(dataEnd) && t.SndNxt.LessThan(t.SndUna.Add(seqnum.Size(t.SndWnd)))
	if h, hn, ok := rec.nextSeg(snd, newData); ok {
		p.seq, p.rtx, p.maxN = h, true, hn
	}
	p.room = int(snd.cc.cwnd) - int(rec.pipe(snd))
	if p.rtx && snd.rec.force {
		p.room = snd.mss
	}
	if !p.rtx {
		// New data stays inside the window, even one the peer shrank
		// below SND.NXT (SHLD-15): the distance is signed.
		p.room = min(p.room, int(int32(t.SndUna.Add(seqnum.Size(t.SndWnd))-p.seq)))
	}
	return p
}

// planOpen chooses the next segment outside fast recovery: segments RACK
// or a timeout marked lost first, in order; else go-back-N from the cursor
// after a timeout, skipping SACKed octets; else new data. The room is
// min(SND.WND, cwnd) from SND.UNA.
func (snd *sender) planOpen() sendPlan {
	t := &snd.c.tcb
	p := sendPlan{seq: t.SndNxt, maxN: snd.mss}
	lostRtx := false
	if snd.rackOn() {
		if r, ok := snd.txq.nextLost(); ok {
			p.seq, p.rtx, p.maxN, lostRtx = r.start, true, int(r.end-r.start), true
		}
	}
	if !lostRtx && snd.rtxNxt.LessThan(t.SndNxt) {
		seq := snd.rtxNxt
		for {
			in, end := snd.rec.sb.sacked(seq)
			if !in {
				break
			}
			seq = end
		}
		if seq.LessThan(t.SndNxt) {
			p.seq, p.rtx, p.goBack = seq, true, true
			if nx, ok := snd.rec.sb.nextSacked(seq); ok {
				p.maxN = int(nx - seq)
			}
		} else {
			snd.rtxNxt = t.SndNxt
		}
	}
	limit := t.SndUna.Add(seqnum.Size(min(t.SndWnd, snd.cc.cwnd)))
	if p.seq.LessThan(limit) {
		p.room = int(limit - p.seq)
	}
	return p
}

// transmit sends n octets from seq (and the FIN when fin), as a
// retransmission when rtx (a window probe when probe: neither is ECN-capable,
// RFC 3168 §6.1.5), and does the bookkeeping every transmission
// needs: SND.NXT, the RTT timing (never of a retransmission, Karn), the
// retransmission timer, the per-segment records of RACK (RFC 8985 §6.1) and
// the loss episode's retransmissions (undo.go). It returns the end of what
// was sent.
func (snd *sender) transmit(now time.Time, seq seqnum.Value, n int, fin, rtx, probe bool) seqnum.Value {
	c := snd.c
	t := &c.tcb
	dataEnd := snd.bufSeq.Add(seqnum.Size(snd.buf.n))
	h := &c.l.hdr
	*h = wire.TCPHeader{Flags: wire.FlagACK}
	if fin {
		h.Flags |= wire.FlagFIN
	}
	if n > 0 && seq.Add(seqnum.Size(n)) == dataEnd {
		h.Flags |= wire.FlagPSH // MUST-61
	}
	c.snd.ecnData(h, n, rtx || probe)
	c.emit(seq, n)
	snd.paceSent(now, n)
	snd.forceOne = false
	if n < snd.mss && !rtx {
		snd.smlEnd = seq.Add(seqnum.Size(n))
	}
	end := seq.Add(seqnum.Size(n))
	if fin {
		end++
	}
	if rtx {
		c.l.ctr.Retransmits++
		snd.rtxMark = seqnum.Max(snd.rtxMark, end)
		snd.undoSent(now, seq, end)
	} else if !snd.rttValid {
		snd.rttValid, snd.rttSeq, snd.rttAt = true, seq, snd.c.l.tick(now)
	}
	oldNxt := t.SndNxt
	if t.SndNxt.LessThan(end) { // a retransmission may run past SND.NXT
		t.SndNxt = end
	}
	if snd.rackOn() {
		snd.txRecord(now, seq, end, oldNxt)
		if !rtx || snd.rec.active {
			snd.tlpArmed = true // a recovery probe counts from the last retransmission too
		}
	}
	if fin {
		snd.finSent = true
	}
	if snd.rtxAt.IsZero() || snd.persist {
		snd.persist = false
		snd.rtxAt = snd.c.l.tick(now).Add(snd.rto)
	}
	if snd.rtxSince.IsZero() {
		snd.rtxSince = snd.c.l.tick(now)
		snd.clampUserTimeout()
	}
	return end
}

// holdRunt decides whether a new segment of n < MSS octets (of avail queued)
// waits. Sender SWS avoidance (RFC 9293 §3.8.6.2.1, MUST-38): a segment cut
// short by the window goes only if it is at least half the largest window the
// peer offered (Fs = 1/2). Nagle (§3.7.4, SHLD-7) in Minshall's form, as
// Linux: the last, short piece of the queued data waits while an earlier
// short segment is unacknowledged, unless SetNoDelay (MUST-17). A full
// segment never waits.
func (snd *sender) holdRunt(n, avail int) bool {
	c := snd.c
	if n >= snd.mss || n == 0 {
		return false
	}
	if n < avail { // limited by the window or cwnd
		return uint32(n) < snd.maxWnd/2 || c.tcb.SndUna != c.tcb.SndNxt
	}
	return !snd.noDelay && c.tcb.SndUna.LessThan(snd.smlEnd)
}
