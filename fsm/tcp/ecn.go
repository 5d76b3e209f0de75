package tcp

import (
	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// Explicit Congestion Notification (RFC 3168 §6.1). A router that would
// drop a packet of an ECN-capable transport marks it CE instead; the
// receiver echoes the mark with ECE on its ACKs until the sender says with
// CWR that it reduced its window; the sender reduces once per window of
// data, as for a loss, without retransmitting anything.

// ECNMode selects how a layer uses ECN (Config.ECN).
type ECNMode uint8

// ECN modes; the zero value is the default.
const (
	// ECNAccept negotiates ECN when the peer's SYN asks for it, and never
	// asks in our own SYNs: Linux's default (net.ipv4.tcp_ecn = 2).
	ECNAccept ECNMode = iota
	// ECNOn also asks for ECN in the SYN of an active open (tcp_ecn = 1).
	ECNOn
	// ECNOff never negotiates ECN (tcp_ecn = 0).
	ECNOff
)

var ecnModeNames = [...]string{"accept", "on", "off"}

// String names the mode as the --ecn flag spells it.
func (m ECNMode) String() string {
	if int(m) < len(ecnModeNames) {
		return ecnModeNames[m]
	}
	return "unknown"
}

// ParseECNMode returns the mode named s ("accept", "on", "off").
func ParseECNMode(s string) (ECNMode, bool) {
	for i, n := range ecnModeNames {
		if n == s {
			return ECNMode(i), true
		}
	}
	return 0, false
}

// ecnState is what a connection negotiated for ECN; the sender's reaction
// is in ecnSender, the receiver's echo in receiver.ecnEcho.
type ecnState struct {
	req bool // our SYN asks for ECN (active open, ECNOn)
	ok  bool // ECN negotiated (RFC 3168 §6.1.1)
}

// ecnSender is the sender's ECN state (RFC 3168 §6.1.2).
type ecnSender struct {
	cwr     bool         // the window was reduced: CWR on the next new data (§6.1.2)
	reduced bool         // recover is set: a reduction happened
	recover seqnum.Value // SND.NXT at the last reduction: ECE reduces again only once SEG.ACK passes it
	eceWin  bool         // the last reduction was ECE's and SND.UNA has not passed recover yet
}

// ECNEnabled reports whether ECN was negotiated on the connection.
func (c *Conn) ECNEnabled() bool { return c.ecn.ok }

// ecnSynFlags returns the ECN flags of our SYN or SYN,ACK (RFC 3168
// §6.1.1): an ECN-setup SYN carries ECE and CWR; an ECN-setup SYN,ACK, sent
// only in answer to an ECN-setup SYN, carries ECE alone. Neither is ECT
// (§6.1.1: "A host MUST NOT set ECT on SYN or SYN-ACK packets").
func (c *Conn) ecnSynFlags(ack bool) wire.TCPFlags {
	switch {
	case !ack && c.ecn.req:
		return wire.FlagECE | wire.FlagCWR
	case ack && c.ecn.ok:
		return wire.FlagECE
	}
	return 0
}

// ecnNegotiate records whether the SYN or SYN,ACK s sets ECN up (RFC 3168
// §6.1.1). A SYN to a listener asks for ECN only with both ECE and CWR set
// (a SYN with ECE alone is not an ECN-setup SYN); a SYN,ACK agrees only with
// ECE set and CWR clear, and only if our SYN asked (an ECE on a SYN,ACK to a
// non-ECN SYN is ignored). A simultaneous open runs without ECN.
func (c *Conn) ecnNegotiate(s *segment) {
	f := s.flags & (wire.FlagECE | wire.FlagCWR)
	switch {
	case s.flags&wire.FlagACK != 0:
		c.ecn.ok = c.ecn.req && f == wire.FlagECE
	case c.state == StateListen:
		c.ecn.ok = f == wire.FlagECE|wire.FlagCWR && c.l.cfg.ECN != ECNOff
	default:
		c.ecn.ok = false
	}
}

// ecnFlags sets ECE on a non-SYN ACK while a CE mark waits for the
// sender's CWR (RFC 3168 §6.1.3).
func (rcv *receiver) ecnFlags(h *wire.TCPHeader) {
	if rcv.ecnEcho && h.Flags&(wire.FlagACK|wire.FlagSYN|wire.FlagRST) == wire.FlagACK {
		h.Flags |= wire.FlagECE
	}
}

// ecnData marks the data segment about to be sent with n octets: new data
// of an ECN-capable connection is ECT(0) and carries CWR after a window
// reduction (RFC 3168 §6.1.2). Retransmissions and window probes are not
// ECT (§6.1.5, §6.1.6), nor are pure ACKs (§6.1.4: n == 0).
func (snd *sender) ecnData(h *wire.TCPHeader, n int, rtxOrProbe bool) {
	c := snd.c
	if !c.ecn.ok || n == 0 || rtxOrProbe {
		return
	}
	c.l.sendECT = true
	if snd.ecn.cwr {
		snd.ecn.cwr = false
		h.Flags |= wire.FlagCWR
	}
}

// ecnRcv is the receiver side of RFC 3168 §6.1.3 for a data segment: CWR
// stops the echo; a CE mark (re)starts it, and the first ACK carrying ECE
// goes at once rather than after the delayed-ACK timer. CWR is taken first,
// so a CE-marked CWR segment keeps the echo going.
func (rcv *receiver) ecnRcv(s *segment) {
	c := rcv.c
	if !c.ecn.ok {
		return
	}
	if s.flags&wire.FlagCWR != 0 {
		rcv.ecnEcho = false
	}
	if s.tos&ECNMask == ECNCE {
		c.l.ctr.ECNCEReceived++
		if !rcv.ecnEcho {
			rcv.ecnEcho = true
			rcv.ackNow = true
		}
	}
}

// ecnAck is the sender side of RFC 3168 §6.1.2 for an arriving ACK: ECE
// reduces the congestion window through the congestion controller, as a
// fast retransmit would (ssthresh from the algorithm, cwnd = ssthresh) but
// retransmitting nothing, at most once per window of data: not again until
// SEG.ACK passes SND.NXT of the last reduction (a loss's reduction counts
// too), and not during loss recovery, which already reduced. An ECE also
// forbids undoing a loss episode's reduction (RFC 4015 §3.4: congestion
// was signalled, so the retransmissions were not all spurious).
func (snd *sender) ecnAck(s *segment) {
	c := snd.c
	if !c.ecn.ok || s.flags&(wire.FlagECE|wire.FlagSYN) != wire.FlagECE {
		return
	}
	c.l.ctr.ECNECEReceived++
	if snd.undo != nil {
		snd.undo.armed = false
	}
	if snd.rec.active || (snd.ecn.reduced && !s.ack.GreaterThan(snd.ecn.recover)) || !sendsData(c.state) {
		return
	}
	snd.ecn.eceWin = false
	snd.ccLoss(s.now)
	snd.ecn.eceWin = true
	snd.cc.ecnReduce(snd.mss)
	c.l.ctr.ECNCwndReductions++
}

// ecnWindowReduced reports whether a loss detected now falls in the window
// of data an ECE already reduced for: then ssthresh is not reduced again
// (RFC 3168 §6.1.2: "the TCP source should not decrease the slow-start
// threshold, ssthresh, if it has been decreased within the last round trip
// time"); the loss is still repaired. A retransmission lost later is a new
// instance of congestion, outside the window.
func (snd *sender) ecnWindowReduced() bool {
	c := snd.c
	e := &snd.ecn
	if !e.eceWin {
		return false
	}
	if c.tcb.SndUna.GreaterThan(e.recover) {
		e.eceWin = false
		return false
	}
	return true
}

// ecnHold reports whether the ACK s may not raise the congestion window: it
// carries ECE on an ECN connection. Linux's CWR state likewise never grows
// cwnd on an ECE ACK (tcp_may_raise_cwnd), so a stream of marks holds the
// window down between the once-per-window reductions.
func (snd *sender) ecnHold(s *segment) bool {
	c := snd.c
	return c.ecn.ok && s.flags&wire.FlagECE != 0
}

// ecnReduced notes a window reduction of any cause (ECE, fast retransmit,
// timeout): the next new data segment carries CWR (RFC 3168 §6.1.2), and
// ECE reduces again only for data sent after now.
func (snd *sender) ecnReduced() {
	c := snd.c
	if !c.ecn.ok {
		return
	}
	snd.ecn.cwr = true
	snd.ecn.reduced = true
	snd.ecn.recover = c.tcb.SndNxt
}

// ecnEstablished counts a connection reaching ESTABLISHED with ECN.
func (c *Conn) ecnEstablished() {
	if c.ecn.ok {
		c.l.ctr.ECNNegotiated++
	}
}
