package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/sock"
)

// receiver is the receiving half of a connection (RFC 9293 §3.10.7.4 steps
// 6-8, §3.8.6.2.2, §3.8.6.3): the receive ring and the out-of-order store,
// the window advertised, the SACK and D-SACK blocks to send (RFC 2018, RFC
// 2883), the delayed ACK, receive-buffer auto-tuning (autotune.go) and
// TS.Recent for PAWS (RFC 7323 §4.3, §5). Its fields are written only by
// its own methods and by the actions of actions.go that deliver data.
type receiver struct {
	c *Conn // the connection that owns it

	buf        rcvBuf       // the ring and the out-of-order ranges (rcvbuf.go)
	oooHeld    int          // octets in buf.ooo, as counted in Layer.oooBytes
	edge       seqnum.Value // RCV.NXT + RCV.WND as last advertised; never moves left
	shift      uint8        // our window scale shift (RFC 7323); zero unless both sides sent WS
	finRcvd    bool         // the peer's FIN has been consumed
	finHeld    bool         // a FIN arrived beyond a hole
	finHeldSeq seqnum.Value
	tos        uint8 // TOS octet of the last segment received (MAY-9)
	ecnEcho    bool  // a CE mark arrived: ECE on every ACK until CWR (RFC 3168 §6.1.3)

	// Acknowledgments: delayed ACK (RFC 9293 §3.8.6.3), SACK (RFC 2018)
	// and D-SACK (RFC 2883) blocks.
	ackNow   bool     // an ACK is owed; sent (or piggybacked) at the end of processing
	delackAt tick     // deadline of a delayed ACK; zero = none owed
	unacked  int32    // in-order octets received since our last ACK
	mss      int32    // largest segment text seen, at most our MSS: "full-sized"
	sackLast seqRange // the out-of-order range most recently added (RFC 2018 §4: first block)
	dsack    seqRange // a duplicate segment to report in the next ACK (RFC 2883 §4)
	dsackOut bool     // dsack is pending
	dsackIn  seqRange // the containing block for a duplicate above RCV.NXT (second block)

	// Timestamps (RFC 7323 §4.3, §5).
	tsRecent    uint32       // TS.Recent: the timestamp to echo
	tsRecentAt  tick         // when TS.Recent was set (PAWS validity, §5.5)
	lastAckSent seqnum.Value // Last.ACK.sent
	rttSeq      seqnum.Value // autotune.go: a window-based RTT sample ends when RCV.NXT reaches this (here to pack)

	// Buffer auto-tuning (autotune.go).
	limit     int           // receive buffer limit now (RCV.BUFF), octets
	locked    bool          // SetRecvBuffer fixed it: no auto-tuning
	copied    uint64        // octets the user has read
	space     int           // most octets read in one receiver round trip so far
	spaceAt   tick          // start of the current measurement; zero: none yet
	spaceMark uint64        // copied at spaceAt
	rtt       time.Duration // the receiver's RTT estimate; zero: none yet
	rttAt     tick          // when that sample started; zero: none running
}

// finArrived takes the peer's FIN (RFC 9293 §3.10.7.4 step 8): RCV.NXT
// advances over it, and RECEIVE returns end of file once the data before it
// is read (MUST-12).
func (rcv *receiver) finArrived() {
	c := rcv.c
	c.tcb.RcvNxt++
	rcv.finRcvd = true
	rcv.dropBeyondFin()
	c.notify(sock.Readable)
}

// holdFin keeps a FIN that arrived beyond a hole until RCV.NXT reaches it.
func (rcv *receiver) holdFin(s *segment) {
	rcv.finHeld = true
	rcv.finHeldSeq = s.seq.Add(seqnum.Size(s.textLen()))
}

// flush drops the data received, read or not, and an end of file not yet
// read: the connection failed (RFC 9293 §3.10.7.4 step 2).
func (rcv *receiver) flush() {
	rcv.buf.reset()
	rcv.syncOOO()
	rcv.finRcvd = false
}
