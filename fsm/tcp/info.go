package tcp

import (
	"bytes"
	"cmp"
	"slices"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// ConnInfo is a read-only snapshot of one TCP socket, the fields `ss -tani`
// shows for a Linux socket (its struct tcp_info): state, 4-tuple, queues,
// round-trip estimates and the congestion window. Layer.Info fills it; it
// holds no reference into the layer.
type ConnInfo struct {
	State State
	// Local and Remote are the 4-tuple (Remote zero for a listener).
	Local, Remote wire.Addr
	LPort, RPort  uint16
	// ID is the user id given by Listen or Connect (SetID); HasID is false
	// for a connection not accepted yet and for a TIME-WAIT record, which no
	// descriptor holds.
	ID    uint64
	HasID bool
	// RecvQ is the octets received in order that the user has not read
	// (for a listener: connections waiting for Accept). SendQ is the
	// octets in the send buffer, sent and not acknowledged or not sent yet
	// (for a listener: the accept queue's bound), as ss reports them.
	RecvQ, SendQ int
	// SynQ is a listener's embryonic connections (SYN-RECEIVED).
	SynQ int
	// SRTT and RTTVar are the RFC 6298 estimates (zero before a sample);
	// RTO is the retransmission timeout now.
	SRTT, RTTVar, RTO time.Duration
	// Cwnd and Ssthresh are the congestion window and slow-start threshold
	// in octets (RFC 5681 §3.1); MSS is the effective send MSS.
	Cwnd, Ssthresh uint32
	MSS            int
	// SndWnd is the peer's window (SND.WND); RcvWnd the window we last
	// advertised (RCV.WND).
	SndWnd, RcvWnd uint32
	// Retries is how often the oldest unacknowledged segment was
	// retransmitted without progress (the R1/R2 count of RFC 9293 §3.8.3).
	Retries int
	// Rule is the index in Rules of the spec row that last fired for the
	// connection: for a segment the row that decided it, as its journey
	// trace line names it (a drop row, else the last that changed the
	// state, else the last with actions, else the last stage); for a user
	// call or a timer its row (a TIME-WAIT record keeps its connection's).
	// -1 when none fired or the socket is a listener.
	Rule int
}

// Info returns the snapshot of c.
func (c *Conn) Info() ConnInfo {
	t := c.TCB()
	ci := ConnInfo{
		State: c.State(), Local: c.key.laddr, LPort: c.key.lport, Remote: c.key.raddr, RPort: c.key.rport,
		ID: c.id, HasID: c.hasID, SndWnd: t.SndWnd, RcvWnd: t.RcvWnd, Rule: int(c.rule) - 1,
	}
	if c.record() != nil {
		// A TIME-WAIT record keeps sequence variables only.
		ci.HasID = false
		return ci
	}
	s := &c.snd
	ci.RecvQ, ci.SendQ = c.rcv.buf.unread, s.buf.n
	if s.hasRTT {
		ci.SRTT, ci.RTTVar = s.srtt, s.rttvar
	}
	ci.RTO, ci.Cwnd, ci.Ssthresh, ci.MSS, ci.Retries = s.rto, s.cc.cwnd, s.cc.ssthresh, s.mss, int(s.retries)
	return ci
}

// Info appends a snapshot of every socket of the layer to dst and returns
// it: listeners, connections in the table (embryonic ones included) and the
// TIME-WAIT records (timewait.go), sorted by local port, remote address and
// remote port, listeners first. It only reads the layer.
func (l *Layer) Info(dst []ConnInfo) []ConnInfo {
	start := len(dst)
	for _, ln := range l.listeners {
		ci := ConnInfo{State: StateListen, Local: ln.key.addr, LPort: ln.key.port, ID: ln.id, HasID: true, Rule: -1}
		ci.SynQ, ci.RecvQ = ln.QueueLens()
		ci.SendQ = ln.backlog
		dst = append(dst, ci)
	}
	for _, c := range l.conns {
		dst = append(dst, c.Info())
	}
	for _, r := range l.tw {
		dst = append(dst, ConnInfo{State: StateTimeWait, Local: r.key.laddr, LPort: r.key.lport,
			Remote: r.key.raddr, RPort: r.key.rport, SndWnd: r.tcb.SndWnd, Rule: int(r.rule) - 1})
	}
	slices.SortFunc(dst[start:], func(a, b ConnInfo) int {
		if la, lb := a.State == StateListen, b.State == StateListen; la != lb {
			if la {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.LPort, b.LPort), bytes.Compare(a.Remote[:], b.Remote[:]), cmp.Compare(a.RPort, b.RPort),
			bytes.Compare(a.Local[:], b.Local[:]))
	})
	return dst
}
