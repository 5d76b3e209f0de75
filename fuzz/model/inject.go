package model

import "github.com/netspec/netspec/fsm/tcp"

// Injected segments: what a conforming peer never sends but the network
// may carry (old duplicates, a confused or off-path sender, options the
// abstraction does not model). With Bounds.Inject > 0 the environment may
// deliver, up to that many times per run, one of these segments straight to
// an endpoint, its sequence numbers chosen from the receiver's live TCB. They
// reach the rows a cooperative pair of endpoints cannot: challenge ACKs for
// in-window SYNs and RSTs (RFC 5961 §3-§5), ACKs beyond SND.NXT or below
// SND.UNA-MAX.SND.WND, PAWS rejects (RFC 7323 §5.3) and the reordered
// ACKs linux lets pass (tcp_disordered_ack), urgent data (§3.8.5),
// text and a second FIN after the peer's FIN (§3.10.7.4 steps 7-8).
const (
	injSyn       uint8 = iota // SYN <SEQ=RCV.NXT>: in-window SYN
	injRst                    // RST <SEQ=RCV.NXT+1>: in-window, not exact
	injFin                    // FIN <SEQ=RCV.NXT>, no ACK
	injAckNew                 // ACK <SEQ=RCV.NXT><ACK=SND.NXT+1>
	injAckOld                 // ACK <SEQ=RCV.NXT><ACK=SND.UNA-window-1>
	injRstBadAck              // RST,ACK <SEQ=RCV.NXT><ACK=SND.NXT+1> (SYN-SENT)
	injPaws                   // ACK <SEQ=RCV.NXT><ACK=SND.UNA> with an old timestamp
	injPawsRst                // RST <SEQ=RCV.NXT> with an old timestamp
	injUrg                    // ACK,URG <SEQ=RCV.NXT><ACK=SND.UNA>
	injText                   // ACK <SEQ=RCV.NXT><ACK=SND.UNA>, one octet, after the peer's FIN
	injFinAck                 // FIN,ACK <SEQ=RCV.NXT><ACK=SND.UNA>, after the peer's FIN
	injFinFar                 // FIN,ACK <SEQ=RCV.NXT+1>, after the peer's FIN (held)
	injOow                    // ACK <SEQ=edge+1>, one octet: out of the window
	injFinOow                 // FIN <SEQ=edge+1>, no ACK: out of the window
	injEdge                   // ACK <SEQ=edge><ACK=SND.UNA>: zero length, at the right edge
	injReorder                // ACK <SEQ=RCV.NXT><ACK=SND.UNA>, timestamp older but within the replay window
	numInject
)

// fOldTS marks an abstract segment whose timestamp is older than the
// receiver's TS.Recent (RFC 7323 §5.3); only injected segments carry it.
const fOldTS uint8 = 1 << 5

// fReorder marks an fOldTS segment whose timestamp lies within one RTO of
// TS.Recent (Linux's replay window): a reordered ACK, not an old duplicate.
const fReorder uint8 = 1 << 6

var injectNames = [numInject]string{"syn", "rst", "fin", "acknew", "ackold", "rstbadack", "paws", "pawsrst", "urg", "text", "finack", "finfar", "oow", "finoow", "edge", "reorder"}

// injectable reports whether kind k applies to endpoint ep: to its
// connection in the states the kind is meant for, or (a bare FIN) to its
// listener when it has no connection.
func injectable(k uint8, ep *Endpoint) bool {
	c := &ep.Conn
	st := c.St
	synced := st != tcp.StateClosed && st != tcp.StateListen && st != tcp.StateSynSent
	switch k {
	case injFin:
		return st != tcp.StateClosed || ep.Lsn == tcp.StateListen
	case injRst, injAckNew:
		return st != tcp.StateClosed
	case injRstBadAck:
		return st == tcp.StateSynSent
	case injSyn, injPaws, injPawsRst, injUrg, injOow, injFinOow, injEdge, injReorder:
		return synced
	case injAckOld:
		return synced && st != tcp.StateSynReceived
	case injText, injFinAck, injFinFar:
		return synced && c.has(tFinRcvd)
	}
	return false
}

// injectSeg builds injected segment k for endpoint ep.
func injectSeg(k uint8, ep *Endpoint, window int) Seg {
	c := &ep.Conn
	nxt, una, snxt := c.RcvNxt, c.SndUna, c.SndNxt
	switch k {
	case injSyn:
		return Seg{Flags: fSYN, Seq: nxt}
	case injRst:
		return Seg{Flags: fRST, Seq: nxt + 1}
	case injFin:
		return Seg{Flags: fFIN, Seq: nxt}
	case injAckNew:
		return Seg{Flags: fACK, Seq: nxt, Ack: snxt + 1}
	case injAckOld:
		return Seg{Flags: fACK, Seq: nxt, Ack: una - int8(window) - 1}
	case injRstBadAck:
		return Seg{Flags: fRST | fACK, Seq: nxt, Ack: snxt + 1}
	case injPaws:
		return Seg{Flags: fACK | fOldTS, Seq: nxt, Ack: una}
	case injPawsRst:
		return Seg{Flags: fRST | fOldTS, Seq: nxt}
	case injReorder:
		return Seg{Flags: fACK | fOldTS | fReorder, Seq: nxt, Ack: una}
	case injUrg:
		return Seg{Flags: fACK | fURG, Seq: nxt, Ack: una}
	case injText:
		return Seg{Flags: fACK, Seq: nxt, Ack: una, Len: 1}
	case injFinAck:
		return Seg{Flags: fFIN | fACK, Seq: nxt, Ack: una}
	case injFinFar:
		return Seg{Flags: fFIN | fACK, Seq: nxt + 1, Ack: una}
	case injFinOow:
		return Seg{Flags: fFIN, Seq: c.RcvEdge + 1}
	case injEdge:
		return Seg{Flags: fACK, Seq: c.RcvEdge, Ack: una}
	}
	return Seg{Flags: fACK, Seq: c.RcvEdge + 1, Ack: una, Len: 1} // injOow
}

// inject delivers injected segment k to endpoint v. If it ends v's
// connection, v counts as having given up (the peer's open connection is
// then a half-open one that only its own next segment resolves).
func (r *runner) inject(v int, k uint8) {
	r.s.Inject++
	ep := &r.s.E[v]
	was := ep.Conn.St
	r.dispatch(v, injectSeg(k, ep, r.b.Window))
	if was != tcp.StateClosed && ep.Conn.St == tcp.StateClosed {
		r.unilateral[v] = true
	}
}
