package tcp

import (
	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// guards holds the named predicates of spec/tcp.fsm. They read the TCB and the
// segment and change nothing.
var guards = [NumGuards]func(c *Conn, s *segment) bool{
	GHasSYN:         func(c *Conn, s *segment) bool { return s.flags&wire.FlagSYN != 0 },
	GHasACK:         func(c *Conn, s *segment) bool { return s.flags&wire.FlagACK != 0 },
	GHasRST:         func(c *Conn, s *segment) bool { return s.flags&wire.FlagRST != 0 },
	GHasFIN:         func(c *Conn, s *segment) bool { return s.flags&wire.FlagFIN != 0 },
	GHasURG:         func(c *Conn, s *segment) bool { return s.flags&wire.FlagURG != 0 },
	GHasText:        func(c *Conn, s *segment) bool { return len(s.text) > 0 },
	GSeqAcceptable:  seqAcceptable,
	GSeqAtRightEdge: seqAtRightEdge,
	GSeqIsIrs:       func(c *Conn, s *segment) bool { return s.seq == c.tcb.Irs },
	// RFC 5961 §3.2: only a RST exactly at RCV.NXT resets.
	GRstExact: func(c *Conn, s *segment) bool { return s.seq == c.tcb.RcvNxt },
	// RFC 9293 §3.10.7.3: SND.UNA < SEG.ACK =< SND.NXT.
	GAckAcceptable: func(c *Conn, s *segment) bool {
		return c.tcb.SndUna.LessThan(s.ack) && s.ack.LessThanEq(c.tcb.SndNxt)
	},
	// RFC 9293 §3.10.7.4 step 5: SEG.ACK > SND.NXT acknowledges something not yet sent.
	GAckTooNew: func(c *Conn, s *segment) bool { return s.ack.GreaterThan(c.tcb.SndNxt) },
	// RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND.
	GAckTooOld: func(c *Conn, s *segment) bool {
		return s.ack.LessThan(c.tcb.SndUna - seqnum.Value(c.snd.maxWnd))
	},
	GOurFinAcked: func(c *Conn, s *segment) bool {
		return c.snd.finSent && (c.tcb.SndUna == c.tcb.SndNxt || (s.flags&wire.FlagACK != 0 && s.ack == c.tcb.SndNxt))
	},
	GFinInOrder: func(c *Conn, s *segment) bool {
		return s.seq.Add(seqnum.Size(len(s.text))) == c.tcb.RcvNxt
	},
	GPassiveOpen: func(c *Conn, s *segment) bool { return c.passive },
	// The accept queue is full, or the listener is gone.
	GBacklogFull: func(c *Conn, s *segment) bool {
		ln := c.ln
		return ln == nil || ln.closed || len(ln.queue) >= ln.backlog
	},
	// The SYN queue (embryonic connections) is at Config.SynBacklog.
	GSynQueueFull: func(c *Conn, s *segment) bool {
		ln := c.ln
		return ln == nil || len(ln.embryos) >= ln.synBacklog
	},
	// An acceptable ACK would complete an embryo's handshake (RFC 9293
	// §3.10.7.4 step 5: SND.UNA < SEG.ACK =< SND.NXT) but its listener's
	// accept queue is full (or the listener is gone).
	GAcceptQueueFull: func(c *Conn, s *segment) bool {
		ln := c.ln
		return ln != nil && (ln.closed || len(ln.queue) >= ln.backlog) &&
			c.tcb.SndUna.LessThan(s.ack) && s.ack.LessThanEq(c.tcb.SndNxt)
	},
	GFinQueued:  func(c *Conn, s *segment) bool { return c.snd.finQueued },
	GUserClosed: func(c *Conn, s *segment) bool { return c.userClosed },
	// The peer's FIN again, at RCV.NXT-1, with no new text (TIME-WAIT, §3.10.7.4 step 8).
	GFinRetransmit: func(c *Conn, s *segment) bool {
		return c.rcv.finRcvd && s.flags&wire.FlagFIN != 0 && s.origSeq.Add(seqnum.Size(s.segLen)) == c.tcb.RcvNxt
	},
	// RFC 9293 §3.6.1 (MAY-2): the new SYN is beyond anything the old
	// incarnation received (by timestamp when both used them, else by SEQ).
	GSynNewer: func(c *Conn, s *segment) bool {
		if c.tsOK && s.opts.HasTimestamps { // SHLD-4, RFC 6191 §2
			return int32(s.opts.TSVal-c.rcv.tsRecent) > 0
		}
		return s.seq.GreaterThan(c.tcb.RcvNxt)
	},
	GPawsReject: func(c *Conn, s *segment) bool { return c.rcv.pawsReject(s) },
	// RFC 9293 §3.10.7.4 step 1: our window is zero and the segment, with
	// ACK and without SYN or RST, starts at RCV.NXT or one past it (the
	// peer's probe octet); its ACK is valid input.
	GZeroWindowAck: func(c *Conn, s *segment) bool {
		return c.rcv.wnd() == 0 && s.flags&(wire.FlagACK|wire.FlagSYN|wire.FlagRST) == wire.FlagACK &&
			(s.origSeq == c.tcb.RcvNxt || s.origSeq == c.tcb.RcvNxt+1)
	},
	// Our window is zero and the segment is a bare FIN: ACK and FIN, no
	// text, SYN or RST, at RCV.NXT (the linux profile's row: Linux's
	// tcp_data_queue accepts it since 6.10).
	GZeroWindowFin: func(c *Conn, s *segment) bool {
		return c.rcv.wnd() == 0 && len(s.text) == 0 && s.origSeq == c.tcb.RcvNxt &&
			s.flags&(wire.FlagACK|wire.FlagSYN|wire.FlagRST|wire.FlagFIN) == wire.FlagACK|wire.FlagFIN
	},
	// SYN cookies are on (RFC 4987 §3.6; Config.NoSynCookies turns them off).
	GSynCookies: func(c *Conn, s *segment) bool { return !c.l.cfg.NoSynCookies },
	// The ACK echoes a valid SYN cookie (cookie.go).
	GCookieValid: cookieValid,
	// The listener sent SYN cookies within their lifetime.
	GCookiesPending: cookiesPending,
	// Data accepted by SEND is waiting in the send buffer.
	GSendQueued: func(c *Conn, s *segment) bool { return c.snd.buf.n > 0 },
}

// seqAcceptable is the segment acceptability test of RFC 9293 §3.10.7.4
// step 1 (the four cases of SEG.LEN and RCV.WND), on the segment as received.
// seqAtRightEdge reports a zero-length segment exactly at the right edge
// RCV.NXT+RCV.WND of an open window: not acceptable under RFC 9293
// §3.10.7.4 step 1 (SEG.SEQ must lie below the edge), accepted by Linux's
// tcp_sequence (!after(seq, rcv_nxt + window)); the linux profile's row.
func seqAtRightEdge(c *Conn, s *segment) bool {
	wnd := seqnum.Size(c.rcv.wnd())
	return s.segLen == 0 && wnd > 0 && s.origSeq == c.tcb.RcvNxt.Add(wnd)
}

func seqAcceptable(c *Conn, s *segment) bool {
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
