package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
)

// sender is the sending half of a connection (RFC 9293 §3.7, §3.8, §3.10.7.4
// step 5): the send buffer and the transmit records, the window the peer
// offers, the retransmission timer (RFC 6298), congestion control (RFC 5681,
// cc.go), loss recovery (the SACK scoreboard, RFC 6675; RACK-TLP, RFC 8985;
// undo, undo.go) and the user timeout. Its fields are written only by its
// own methods and by the actions of actions.go that queue user data.
type sender struct {
	c *Conn // the connection that owns it

	buf       sndBuf       // the octets from bufSeq on, sent or not (sndbuf.go)
	bufSeq    seqnum.Value // sequence number of buf's first octet
	locked    bool         // SetSendBuffer fixed buf.limit: no auto-tuning
	full      bool         // a Send found the send buffer full since the last ACK
	finQueued bool         // CLOSE given: FIN follows the queued data
	finSent   bool         // our FIN has been sent (it occupies SND.NXT-1 once sent)
	shift     uint8        // the peer's window scale shift (RFC 7323); zero unless both sides sent WS
	maxWnd    uint32       // the largest window the peer offered (sender SWS avoidance)
	mss       int          // effective send MSS (MUST-15, MUST-16; mss.go)
	peerMSS   int          // the peer's MSS option (536 without one)
	pathMSS   int          // path MTU less 40 from ICMP (RFC 1191); 0: none learnt
	noDelay   bool         // Nagle off (MUST-17)
	smlEnd    seqnum.Value // end of the last sub-MSS segment sent (Minshall's Nagle, §3.7.4)

	// Retransmission (RFC 6298) and the user timeout (RFC 9293 §3.8.3 R2
	// as a time, RFC 5482 semantics).
	rto, srtt, rttvar time.Duration
	hasRTT            bool
	rttValid          bool // a segment is being timed (Karn: never a retransmitted one)
	rttSeq            seqnum.Value
	rttAt             time.Time
	tsRTOFloor        uint32       // our TSval at the last timeout; older echoes give no sample
	rtxMark           seqnum.Value // end of the highest octet ever retransmitted: ACKs below it give no timer sample (Karn)
	rtxAt             time.Time    // retransmission / persist deadline; zero = stopped
	retries           int
	retrying          bool          // R1 reached: retransmissions persist (RFC 9293 §3.8.3, SHLD-9)
	rtxNxt            seqnum.Value  // go-back-N cursor after a timeout
	persist           bool          // rtxAt is the persist timer (zero window, nothing in flight)
	forceOne          bool          // send one octet even into a zero window (probe)
	userTimeout       time.Duration // 0: only MaxRetries limits retransmission
	rtxSince          time.Time     // since when data has waited unacknowledged without progress; zero: none

	// Congestion control (RFC 5681, cc.go) and loss recovery (recovery.go).
	cc      ccState  // cwnd, ssthresh and the algorithm's state (cc.go)
	dupAcks int      // duplicate ACKs in a row (RFC 5681 §3.2)
	rec     recovery // fast recovery and the SACK scoreboard

	// RACK-TLP (RFC 8985, rack.go) and undo (undo.go).
	txq      txQueue    // per-segment transmit records, SND.UNA to SND.NXT
	rack     rackState  // RACK.xmit_ts, RACK.rtt, reordering window
	tlp      tlpState   // the outstanding loss probe
	rackAt   time.Time  // RACK reordering timer; zero = stopped
	tlpAt    time.Time  // probe timeout (PTO); zero = stopped
	tlpArmed bool       // an ACK or new data asks to (re)schedule the PTO
	undo     *undoState // congestion state saved by the loss episode (allocated at the first)
}
