package model

import "github.com/netspec/netspec/fsm/tcp"

// guardFn evaluates a guard of spec/tcp.fsm on the abstract TCB c of
// endpoint e and the segment context g.
type guardFn func(r *runner, e int, c *TCB, g *segCtx) bool

// actionFn performs the abstract effect of an action of spec/tcp.fsm.
type actionFn func(r *runner, e int, c *TCB, g *segCtx)

// absGuards are the abstract guards, keyed by tcp.Guard. Each mirrors
// fsm/tcp/guards.go on small integers (no wrap-around: every number of a run
// fits the encoding). A guard added to the spec without an entry here stops
// the check (Table.validate).
//
// The models are keyed by name, so this package builds against any version
// of the generated table; absGuards and absActions index them by constant.
var guardModels = map[string]guardFn{
	"HasSYN":  func(r *runner, e int, c *TCB, g *segCtx) bool { return g.flags&fSYN != 0 },
	"HasACK":  func(r *runner, e int, c *TCB, g *segCtx) bool { return g.flags&fACK != 0 },
	"HasRST":  func(r *runner, e int, c *TCB, g *segCtx) bool { return g.flags&fRST != 0 },
	"HasFIN":  func(r *runner, e int, c *TCB, g *segCtx) bool { return g.flags&fFIN != 0 },
	"HasURG":  func(r *runner, e int, c *TCB, g *segCtx) bool { return g.flags&fURG != 0 },
	"HasText": func(r *runner, e int, c *TCB, g *segCtx) bool { return g.text > 0 },
	// RFC 9293 §3.10.7.4 step 1: the four cases of SEG.LEN and RCV.WND.
	"SeqAcceptable": func(r *runner, e int, c *TCB, g *segCtx) bool {
		nxt, wnd, seq := int(c.RcvNxt), max(0, int(c.RcvEdge)-int(c.RcvNxt)), g.origSeq
		in := func(x int) bool { return nxt <= x && x < nxt+wnd }
		switch {
		case g.segLen == 0 && wnd == 0:
			return seq == nxt
		case g.segLen == 0:
			return in(seq)
		case wnd == 0:
			return false
		}
		return in(seq) || in(seq+g.segLen-1)
	},
	// A zero-length segment exactly at the right edge of an open window.
	"SeqAtRightEdge": func(r *runner, e int, c *TCB, g *segCtx) bool {
		return g.segLen == 0 && c.RcvEdge > c.RcvNxt && g.origSeq == int(c.RcvEdge)
	},
	"SeqIsIrs": func(r *runner, e int, c *TCB, g *segCtx) bool { return g.seq == int(c.Irs) },
	// RFC 5961 §3.2: only a RST exactly at RCV.NXT resets.
	"RstExact": func(r *runner, e int, c *TCB, g *segCtx) bool { return g.seq == int(c.RcvNxt) },
	// RFC 9293 §3.10.7.3: SND.UNA < SEG.ACK =< SND.NXT.
	"AckAcceptable": func(r *runner, e int, c *TCB, g *segCtx) bool {
		return int(c.SndUna) < g.ack && g.ack <= int(c.SndNxt)
	},
	"AckTooNew": func(r *runner, e int, c *TCB, g *segCtx) bool { return g.ack > int(c.SndNxt) },
	// RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND (the peer's window is
	// the constant Window).
	"AckTooOld": func(r *runner, e int, c *TCB, g *segCtx) bool { return g.ack < int(c.SndUna)-r.b.Window },
	"OurFinAcked": func(r *runner, e int, c *TCB, g *segCtx) bool {
		return c.has(tFinSent) && (c.SndUna == c.SndNxt || (g.flags&fACK != 0 && g.ack == int(c.SndNxt)))
	},
	"FinInOrder":  func(r *runner, e int, c *TCB, g *segCtx) bool { return g.seq+g.text == int(c.RcvNxt) },
	"PassiveOpen": func(r *runner, e int, c *TCB, g *segCtx) bool { return c.has(tPassive) },
	// One connection per endpoint: the accept queue never fills.
	"BacklogFull": func(r *runner, e int, c *TCB, g *segCtx) bool { return false },
	// One connection per endpoint: neither the SYN queue nor the accept
	// queue fills.
	"SynQueueFull":    func(r *runner, e int, c *TCB, g *segCtx) bool { return false },
	"AcceptQueueFull": func(r *runner, e int, c *TCB, g *segCtx) bool { return false },
	// The SYN queue never fills, so no cookie is ever sent or checked.
	"SynCookies":     func(r *runner, e int, c *TCB, g *segCtx) bool { return true },
	"CookieValid":    func(r *runner, e int, c *TCB, g *segCtx) bool { return false },
	"CookiesPending": func(r *runner, e int, c *TCB, g *segCtx) bool { return false },
	// Data in the send buffer not yet acknowledged: [max(SND.UNA, ISS+1), end of data).
	"SendQueued": func(r *runner, e int, c *TCB, g *segCtx) bool {
		return int(c.DataEnd) > max(int(c.SndUna), int(c.Iss)+1)
	},
	// A closed receive window still takes a plain ACK at RCV.NXT or one past
	// it (the peer's probe octet).
	"ZeroWindowAck": func(r *runner, e int, c *TCB, g *segCtx) bool {
		return int(c.RcvEdge)-int(c.RcvNxt) <= 0 && g.flags&(fACK|fSYN|fRST) == fACK &&
			(g.origSeq == int(c.RcvNxt) || g.origSeq == int(c.RcvNxt)+1)
	},
	// A closed receive window takes a bare FIN at RCV.NXT (linux profile).
	"ZeroWindowFin": func(r *runner, e int, c *TCB, g *segCtx) bool {
		return int(c.RcvEdge)-int(c.RcvNxt) <= 0 && g.flags&(fACK|fSYN|fRST|fFIN) == fACK|fFIN &&
			g.segLen == 1 && g.origSeq == int(c.RcvNxt)
	},
	// RFC 7323 §5.3: only injected segments carry a timestamp older than
	// TS.Recent; the others are not PAWS-checked (or pass).
	"PawsReject": func(r *runner, e int, c *TCB, g *segCtx) bool { return g.flags&fOldTS != 0 },
	"FinQueued":  func(r *runner, e int, c *TCB, g *segCtx) bool { return c.has(tFinQueued) },
	"UserClosed": func(r *runner, e int, c *TCB, g *segCtx) bool { return c.has(tUserClosed) },
	"SynNewer":   func(r *runner, e int, c *TCB, g *segCtx) bool { return g.seq > int(c.RcvNxt) },
	"FinRetransmit": func(r *runner, e int, c *TCB, g *segCtx) bool {
		return c.has(tFinRcvd) && g.flags&fFIN != 0 && g.origSeq+g.segLen == int(c.RcvNxt)
	},
}

func noop(r *runner, e int, c *TCB, g *segCtx) {}

// absActions are the abstract actions, keyed by tcp.Action; each mirrors
// fsm/tcp/actions.go on the abstract TCB. Effects the abstraction drops (the
// windows are constant, data is read at once, signals to the user change no
// protocol state) are explicit no-ops, so an action added to the spec
// without a model here stops the check (Table.validate).
var actionModels = map[string]actionFn{
	// RFC 9293 §3.4.1: each incarnation's ISS lies beyond the last one's space.
	"ChooseISS": func(r *runner, e int, c *TCB, g *segCtx) {
		ep := &r.s.E[e]
		if ep.NextISS > maxISS {
			r.trunc = "incarnations beyond the encoding"
			return
		}
		c.Iss = ep.NextISS
		ep.NextISS += issStep
		c.SndUna, c.SndNxt, c.RtxNxt, c.DataEnd = c.Iss, c.Iss, c.Iss, c.Iss+1
	},
	"SendSyn":    func(r *runner, e int, c *TCB, g *segCtx) { sendSyn(r, e, c, fSYN) },
	"SendSynAck": func(r *runner, e int, c *TCB, g *segCtx) { sendSyn(r, e, c, fSYN|fACK) },
	"SendAck":    func(r *runner, e int, c *TCB, g *segCtx) { c.set(tAckNow, true) },
	// A challenge ACK (RFC 5961); its per-connection rate limit depends on
	// time, which the abstraction does not have: modelled as always sent.
	"ChallengeAck": func(r *runner, e int, c *TCB, g *segCtx) { c.set(tAckNow, true) },
	// The ACK of an unacceptable segment. With Bounds.OowLimit, the rate
	// limit of Config.OOWAckInterval: a segment with SEG.LEN = 0 (no text,
	// no FIN), or with SYN, gets at most one such ACK until the
	// connection's next timer fires (the abstraction's stand-in for the
	// interval passing).
	"OowAck": func(r *runner, e int, c *TCB, g *segCtx) {
		if r.b.OowLimit > 0 && (g.segLen == 0 || g.flags&fSYN != 0) {
			if c.has(tOowSent) {
				return
			}
			c.set(tOowSent, true)
		}
		c.set(tAckNow, true)
	},
	// The SYN,ACK again for a retransmitted SYN in SYN-RECEIVED (linux),
	// under the same rate limit as OowAck (a SYN is always subject to it).
	"OowSynAck": func(r *runner, e int, c *TCB, g *segCtx) {
		if r.b.OowLimit > 0 {
			if c.has(tOowSent) {
				return
			}
			c.set(tOowSent, true)
		}
		sendSyn(r, e, c, fSYN|fACK)
	},
	// SYN cookies: never reached (the SYN queue never fills, CookieValid is false).
	"SendCookieSynAck": noop,
	"CookieAccept":     noop,
	// RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST> (with ACK, as fsm/tcp).
	"SendRst": func(r *runner, e int, c *TCB, g *segCtx) {
		r.emit(e, fRST|fACK, int(c.SndNxt), int(c.RcvNxt), 0)
		r.unilateral[e] = true
	},
	// RFC 9293 §3.10.7.1 R1: <SEQ=SEG.ACK><CTL=RST>.
	"SendRstR1": func(r *runner, e int, c *TCB, g *segCtx) { r.emit(e, fRST, g.ack, 0, 0) },
	// R2: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
	"SendRstR2": func(r *runner, e int, c *TCB, g *segCtx) { r.emit(e, fRST|fACK, 0, g.origSeq+g.segLen, 0) },
	"SetIRS": func(r *runner, e int, c *TCB, g *segCtx) {
		c.Irs = int8(g.seq)
		c.RcvNxt = int8(g.seq + 1)
		c.RcvEdge = int8(min(127, g.seq+1+r.b.Window))
	},
	"TrimSyn": func(r *runner, e int, c *TCB, g *segCtx) { g.seq++; g.flags &^= fSYN },
	// RFC 9293 §3.10.7.4 step 1: cut the text to [RCV.NXT, edge).
	"TrimToWindow": func(r *runner, e int, c *TCB, g *segCtx) {
		start := g.origSeq
		if g.flags&fSYN != 0 {
			start++
		}
		nxt := int(c.RcvNxt)
		if start < nxt {
			cut := min(nxt-start, g.text)
			g.text -= cut
			start += cut
		}
		g.seq = start
		edge := int(c.RcvEdge)
		if start >= edge {
			if g.text > 0 {
				g.text = 0
				g.flags &^= fFIN
			}
			return
		}
		if room := edge - start; g.text > room {
			g.text = room
			g.flags &^= fFIN
		}
	},
	"WindowInit":   noop, // SND.WND is the constant Window
	"WindowUpdate": noop,
	// RFC 9293 §3.10.7.4 step 5: SND.UNA advances; the retransmission timer
	// restarts or stops (RFC 6298 §5.2-5.3). Duplicate ACKs are not modelled.
	"AckAdvance": func(r *runner, e int, c *TCB, g *segCtx) {
		if g.ack <= int(c.SndUna) {
			return
		}
		c.SndUna = int8(g.ack)
		if c.RtxNxt < c.SndUna {
			c.RtxNxt = c.SndUna
		}
		c.Retries = 0
		c.set(tRtx, c.SndUna != c.SndNxt)
	},
	// RFC 9293 §3.10.7.4 step 7: in order, RCV.NXT advances (through a held
	// range it reaches); early, the range is held (one range; a second one
	// that does not touch it is dropped, as a full out-of-order queue).
	"Deliver": func(r *runner, e int, c *TCB, g *segCtx) {
		seq, end := g.seq, g.seq+g.text
		if seq == int(c.RcvNxt) {
			c.RcvNxt = int8(end)
			if c.has(tOOO) && int(c.OooBeg) <= end {
				c.RcvNxt = max(c.RcvNxt, c.OooEnd)
				c.set(tOOO, false)
				c.OooBeg, c.OooEnd = 0, 0
			}
		} else {
			switch {
			case !c.has(tOOO):
				c.set(tOOO, true)
				c.OooBeg, c.OooEnd = int8(seq), int8(end)
			case seq <= int(c.OooEnd) && end >= int(c.OooBeg):
				c.OooBeg, c.OooEnd = min(c.OooBeg, int8(seq)), max(c.OooEnd, int8(end))
			default:
				g.flags &^= fFIN
			}
		}
		c.set(tAckNow, true)
	},
	"UrgentAdvance": noop, // RCV.UP is not modelled (only injected segments carry URG)
	"RcvFin": func(r *runner, e int, c *TCB, g *segCtx) {
		c.RcvNxt++
		c.set(tFinRcvd, true)
	},
	"QueueSend": func(r *runner, e int, c *TCB, g *segCtx) {
		c.DataEnd++
		r.s.E[e].Sends++
	},
	"QueueFin":        func(r *runner, e int, c *TCB, g *segCtx) { c.set(tFinQueued, true) },
	"RecvData":        noop, // data is read as it arrives
	"QueueAccept":     noop, // accepted at once
	"SignalConnected": noop,
	"SignalReset":     noop,
	"SignalRefused":   noop,
	"SignalTimeout":   func(r *runner, e int, c *TCB, g *segCtx) { r.unilateral[e] = true },
	// RFC 9293 §3.10.7.4 step 8: TIME-WAIT runs (MUST-13); other timers stop.
	"StartTimeWait": func(r *runner, e int, c *TCB, g *segCtx) {
		c.set(tTW, true)
		c.set(tRtx, false)
	},
	// RFC 6298 §5.4-5.6: count the timeout, resend the SYN (or SYN,ACK), or
	// go back to SND.UNA.
	"Retransmit": func(r *runner, e int, c *TCB, g *segCtx) {
		c.Retries++
		switch c.St {
		case tcp.StateSynSent:
			r.emitTCB(c, e, fSYN, int(c.Iss), 0)
		case tcp.StateSynReceived:
			r.emitTCB(c, e, fSYN|fACK, int(c.Iss), 0)
		default:
			c.RtxNxt = c.SndUna
		}
	},
	"Release": func(r *runner, e int, c *TCB, g *segCtx) { c.set(tRtx|tTW, false) },
	"Reopen": func(r *runner, e int, c *TCB, g *segCtx) {
		c.set(tRtx|tTW, false)
		g.reopen = true
	},
	"HoldFin": func(r *runner, e int, c *TCB, g *segCtx) {
		c.set(tFinHeld, true)
		c.FinSeq = int8(g.seq + g.text)
	},
	"FailExists":     noop,
	"FailNotExist":   noop,
	"FailClosing":    noop,
	"UpdateTSRecent": noop, // no timestamps in the abstraction
	// The text (and FIN) of a segment taken into a zero window is discarded
	// and ACKed; its ACK is processed.
	"ZeroWindowTrim": func(r *runner, e int, c *TCB, g *segCtx) {
		if g.text > 0 || g.flags&fFIN != 0 {
			c.set(tAckNow, true)
		}
		g.text = 0
		g.flags &^= fFIN
		g.seq = g.origSeq
	},
}

// absGuards and absActions index the models by the generated constants; a
// nil entry is a guard or action with no model (Table.validate reports it).
var (
	absGuards  [tcp.NumGuards]guardFn
	absActions [tcp.NumActions]actionFn
)

func init() {
	for g := range tcp.NumGuards {
		absGuards[g] = guardModels[tcp.Guard(g).String()]
	}
	for a := range tcp.NumActions {
		absActions[a] = actionModels[tcp.Action(a).String()]
	}
}

// sendSyn sends SYN or SYN,ACK <SEQ=ISS> and starts the retransmission timer.
func sendSyn(r *runner, e int, c *TCB, flags uint8) {
	r.emitTCB(c, e, flags, int(c.Iss), 0)
	if c.SndNxt == c.Iss {
		c.SndNxt = c.Iss + 1
	}
	c.set(tRtx, true)
}
