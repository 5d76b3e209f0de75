package tcp

import (
	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// The guards of spec/tcp.fsm, methods of tcpRun (Impl): each reads the TCB
// x.c and the segment x.s and changes nothing. One the spec names without a
// method here does not compile.

func (x tcpRun) GuardHasSYN() bool { return x.s.flags&wire.FlagSYN != 0 }

func (x tcpRun) GuardHasACK() bool { return x.s.flags&wire.FlagACK != 0 }

func (x tcpRun) GuardHasRST() bool { return x.s.flags&wire.FlagRST != 0 }

func (x tcpRun) GuardHasFIN() bool { return x.s.flags&wire.FlagFIN != 0 }

func (x tcpRun) GuardHasURG() bool { return x.s.flags&wire.FlagURG != 0 }

func (x tcpRun) GuardHasText() bool { return x.s.textLen() > 0 }

func (x tcpRun) GuardSeqAtRightEdge() bool { return seqAtRightEdge(x.c, x.s) }

func (x tcpRun) GuardSeqIsIrs() bool { return x.s.seq == x.c.tcb.Irs }

// GuardRstExact: RFC 5961 §3.2: only a RST exactly at RCV.NXT resets.
func (x tcpRun) GuardRstExact() bool { return x.s.seq == x.c.tcb.RcvNxt }

// GuardAckAcceptable: RFC 9293 §3.10.7.3: SND.UNA < SEG.ACK =< SND.NXT.
func (x tcpRun) GuardAckAcceptable() bool {
	return x.c.tcb.SndUna.LessThan(x.s.ack) && x.s.ack.LessThanEq(x.c.tcb.SndNxt)
}

// GuardAckTooNew: RFC 9293 §3.10.7.4 step 5: SEG.ACK > SND.NXT acknowledges
// something not yet sent.
func (x tcpRun) GuardAckTooNew() bool { return x.s.ack.GreaterThan(x.c.tcb.SndNxt) }

// GuardAckTooOld: RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND.
func (x tcpRun) GuardAckTooOld() bool {
	return x.s.ack.LessThan(x.c.tcb.SndUna - seqnum.Value(x.c.snd.maxWnd))
}

func (x tcpRun) GuardOurFinAcked() bool {
	return x.c.snd.finSent && (x.c.tcb.SndUna == x.c.tcb.SndNxt || (x.s.flags&wire.FlagACK != 0 && x.s.ack == x.c.tcb.SndNxt))
}

func (x tcpRun) GuardFinInOrder() bool {
	return x.s.seq.Add(seqnum.Size(x.s.textLen())) == x.c.tcb.RcvNxt
}

func (x tcpRun) GuardPassiveOpen() bool { return x.c.passive }

// GuardBacklogFull: The accept queue is full, or the listener is gone.
func (x tcpRun) GuardBacklogFull() bool {
	ln := x.c.ln
	return ln == nil || ln.closed || len(ln.queue) >= ln.backlog
}

// GuardSynQueueFull: The SYN queue (embryonic connections) is at
// Config.SynBacklog.
func (x tcpRun) GuardSynQueueFull() bool {
	ln := x.c.ln
	return ln == nil || len(ln.embryos) >= ln.synBacklog
}

// GuardPeerUnresolved: The segment's source is an on-link neighbour whose
// link-layer address is still being resolved (SegMeta.Unresolved).
func (x tcpRun) GuardPeerUnresolved() bool { return x.s.unres }

// GuardAcceptQueueFull: An acceptable ACK would complete an embryo's handshake
// (RFC 9293 §3.10.7.4 step 5: SND.UNA < SEG.ACK =< SND.NXT) but its listener's
// accept queue is full (or the listener is gone).
func (x tcpRun) GuardAcceptQueueFull() bool {
	ln := x.c.ln
	return ln != nil && (ln.closed || len(ln.queue) >= ln.backlog) &&
		x.c.tcb.SndUna.LessThan(x.s.ack) && x.s.ack.LessThanEq(x.c.tcb.SndNxt)
}

func (x tcpRun) GuardFinQueued() bool { return x.c.snd.finQueued }

func (x tcpRun) GuardUserClosed() bool { return x.c.userClosed }

// GuardFinRetransmit: The peer's FIN again, at RCV.NXT-1, with no new text
// (TIME-WAIT, §3.10.7.4 step 8).
func (x tcpRun) GuardFinRetransmit() bool {
	return x.c.rcv.finRcvd && x.s.flags&wire.FlagFIN != 0 && x.s.origSeq.Add(seqnum.Size(x.s.segLen)) == x.c.tcb.RcvNxt
}

// GuardSynNewer: RFC 9293 §3.6.1 (MAY-2): the new SYN is beyond anything the
// old incarnation received (by timestamp when both used them, else by SEQ).
func (x tcpRun) GuardSynNewer() bool {
	if x.c.tsOK && x.s.opts.HasTimestamps { // SHLD-4, RFC 6191 §2
		return int32(x.s.opts.TSVal-x.c.rcv.tsRecent) > 0
	}
	return x.s.seq.GreaterThan(x.c.tcb.RcvNxt)
}

func (x tcpRun) GuardPawsReject() bool { return x.c.rcv.pawsReject(x.s) }

// GuardDisorderedAck: the segment PAWS rejects is an ACK the network
// reordered (Linux's tcp_disordered_ack): a pure ACK at RCV.NXT, SEG.ACK =
// SND.UNA, that leaves the window as it is, its TSval within the replay
// window of TS.Recent (Conn.disorderedAck).
func (x tcpRun) GuardDisorderedAck() bool { return x.c.disorderedAck(x.s) }

// GuardZeroWindowAck: RFC 9293 §3.10.7.4 step 1: our window is zero and the
// segment, with ACK and without SYN or RST, starts at RCV.NXT or one past it
// (the peer's probe octet); its ACK is valid input.
func (x tcpRun) GuardZeroWindowAck() bool {
	return x.c.rcv.wnd() == 0 && x.s.flags&(wire.FlagACK|wire.FlagSYN|wire.FlagRST) == wire.FlagACK &&
		(x.s.origSeq == x.c.tcb.RcvNxt || x.s.origSeq == x.c.tcb.RcvNxt+1)
}

// GuardZeroWindowFin: Our window is zero and the segment is a bare FIN: ACK
// and FIN, no text, SYN or RST, at RCV.NXT (the linux profile's row: Linux's
// tcp_data_queue accepts it since 6.10).
func (x tcpRun) GuardZeroWindowFin() bool {
	return x.c.rcv.wnd() == 0 && x.s.textLen() == 0 && x.s.origSeq == x.c.tcb.RcvNxt &&
		x.s.flags&(wire.FlagACK|wire.FlagSYN|wire.FlagRST|wire.FlagFIN) == wire.FlagACK|wire.FlagFIN
}

// GuardSynCookies: SYN cookies are on (RFC 4987 §3.6; Config.NoSynCookies
// turns them off).
func (x tcpRun) GuardSynCookies() bool { return !x.c.l.cfg.NoSynCookies }

// GuardCookieValid: The ACK echoes a valid SYN cookie (cookie.go).
func (x tcpRun) GuardCookieValid() bool { return cookieValid(x.c, x.s) }

// GuardCookiesPending: The listener sent SYN cookies within their lifetime.
func (x tcpRun) GuardCookiesPending() bool { return cookiesPending(x.c, x.s) }

// GuardSendQueued: Data accepted by SEND is waiting in the send buffer.
func (x tcpRun) GuardSendQueued() bool { return x.c.snd.buf.n > 0 }

// seqAtRightEdge reports a zero-length segment exactly at the right edge
// RCV.NXT+RCV.WND of an open window: not acceptable under RFC 9293
// §3.10.7.4 step 1 (SEG.SEQ must lie below the edge), accepted by Linux's
// tcp_sequence (!after(seq, rcv_nxt + window)); the linux profile's row.
func seqAtRightEdge(c *Conn, s *segment) bool {
	wnd := seqnum.Size(c.rcv.wnd())
	return s.segLen == 0 && wnd > 0 && s.origSeq == c.tcb.RcvNxt.Add(wnd)
}

// GuardSeqAcceptable is the segment acceptability test of RFC 9293
// §3.10.7.4 step 1 (the four cases of SEG.LEN and RCV.WND), on the segment as
// received.
func (x tcpRun) GuardSeqAcceptable() bool {
	c, s := x.c, x.s
	nxt, wnd := c.tcb.RcvNxt, seqnum.Size(c.rcv.wnd())
	seq := s.origSeq
	if s.segLen == 0 {
		if wnd == 0 {
			return seq == nxt
		}
		return seq.InWindow(nxt, wnd)
	}
	if wnd == 0 {
		return false
	}
	last := seq.Add(seqnum.Size(s.segLen - 1))
	return seq.InWindow(nxt, wnd) || last.InWindow(nxt, wnd)
}
