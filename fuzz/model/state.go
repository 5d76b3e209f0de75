package model

import (
	"fmt"
	"strings"

	"github.com/netspec/netspec/fsm/tcp"
)

// MaxCap is the largest channel capacity (segments per direction) the state
// encoding holds.
const MaxCap = 6

// issStep separates the ISS of successive incarnations of an endpoint: each
// incarnation's sequence numbers stay below the next one's ISS (RFC 9293
// §3.4.1: a new ISS lies beyond the old connection's sequence space).
const issStep = 16

// maxISS bounds the ISS so that every sequence number fits an int8.
const maxISS = 96

// Segment flag bits of the abstract segment record.
const (
	fSYN uint8 = 1 << iota
	fACK
	fFIN
	fRST
	fURG
)

// Seg is an abstract segment: flags, SEG.SEQ in the sender's sequence space,
// SEG.ACK in the receiver's, and the number of data units it carries.
type Seg struct {
	Flags uint8
	Len   uint8
	Seq   int8
	Ack   int8
}

// segLen is SEG.LEN: text plus SYN and FIN (RFC 9293 §3.4).
func (s Seg) segLen() int {
	n := int(s.Len)
	if s.Flags&fSYN != 0 {
		n++
	}
	if s.Flags&fFIN != 0 {
		n++
	}
	return n
}

// String renders the segment as "SYN,ACK seq=0 ack=17 len=0".
func (s Seg) String() string {
	var f []string
	for _, x := range []struct {
		b uint8
		n string
	}{{fSYN, "SYN"}, {fRST, "RST"}, {fFIN, "FIN"}, {fACK, "ACK"}, {fURG, "URG"}, {fOldTS, "OLDTS"}, {fReorder, "REORDER"}} {
		if s.Flags&x.b != 0 {
			f = append(f, x.n)
		}
	}
	if len(f) == 0 {
		f = append(f, "-")
	}
	out := fmt.Sprintf("%s seq=%d", strings.Join(f, ","), s.Seq)
	if s.Flags&fACK != 0 {
		out += fmt.Sprintf(" ack=%d", s.Ack)
	}
	if s.Len > 0 {
		out += fmt.Sprintf(" len=%d", s.Len)
	}
	return out
}

// TCB flag bits.
const (
	tPassive    uint16 = 1 << iota // reached SYN-RECEIVED from LISTEN (MUST-11)
	tFinQueued                     // CLOSE given: FIN follows the data
	tFinSent                       // our FIN occupies SND.NXT-1
	tFinRcvd                       // the peer's FIN was consumed
	tFinHeld                       // a FIN arrived beyond a hole
	tUserClosed                    // the user called Close (full close)
	tRtx                           // retransmission timer running
	tTW                            // TIME-WAIT / FIN-WAIT-2 timer running
	tOOO                           // an out-of-order range is held
	tAckNow                        // an ACK is owed (transient within a step)
	tOowSent                       // an ACK for an unacceptable segment went out since this connection's last timer (Bounds.OowLimit)
)

// TCB is the abstract connection: its state, the RFC 9293 §3.3.1 sequence
// variables as small integers, and the flags and timers the table reads.
type TCB struct {
	St      tcp.State
	Retries uint8
	Flags   uint16
	Iss     int8
	SndUna  int8
	SndNxt  int8
	RtxNxt  int8 // go-back-N cursor after a retransmission timeout
	DataEnd int8 // sequence number after the last queued data unit
	Irs     int8
	RcvNxt  int8
	RcvEdge int8 // RCV.NXT + RCV.WND as last advertised; never moves left
	FinSeq  int8 // sequence number of a held FIN
	OooBeg  int8 // held out-of-order range [OooBeg, OooEnd)
	OooEnd  int8
}

func (c *TCB) has(f uint16) bool { return c.Flags&f != 0 }
func (c *TCB) set(f uint16, on bool) {
	if on {
		c.Flags |= f
	} else {
		c.Flags &^= f
	}
}

// Endpoint is one side: its listener (LISTEN or CLOSED), its connection (at
// most one; CLOSED means none), and the budgets its user has spent.
type Endpoint struct {
	Conn    TCB
	Lsn     tcp.State
	NextISS int8
	Opens   uint8 // OPEN calls made
	Sends   uint8 // SEND calls that queued data
	Aborts  uint8 // ABORT calls that released a TCB
	Closes  uint8 // CloseWrite calls on an open connection
	GaveUp  bool  // the last connection ended unilaterally (ABORT, R2 timeout, FIN-WAIT-2 timeout, RST sent)
	LastISS int8  // ISS of the last connection (the peer's IRS if it synchronized with it)
}

// Chan is one direction of the channel: segments in sending order.
type Chan struct {
	N uint8
	S [MaxCap]Seg
}

func (c *Chan) segs() []Seg { return c.S[:c.N] }

func (c *Chan) remove(i int) Seg {
	s := c.S[i]
	copy(c.S[i:c.N], c.S[i+1:c.N])
	c.N--
	c.S[c.N] = Seg{}
	return s
}

// State is one global state: both endpoints, both channel directions (C[i]
// carries what endpoint i sent) and the fault budgets already spent.
type State struct {
	E       [2]Endpoint
	C       [2]Chan
	Loss    uint8
	Dup     uint8
	Reorder uint8
	Inject  uint8 // segments injected by the environment (Bounds.Inject)
}

// quiescent reports whether nothing is in flight and no timer runs.
func (s *State) quiescent() bool {
	return s.C[0].N == 0 && s.C[1].N == 0 &&
		!s.E[0].Conn.has(tRtx|tTW) && !s.E[1].Conn.has(tRtx|tTW)
}

// Summary renders the two endpoints and the channel in one line.
func (s *State) Summary() string {
	var b strings.Builder
	for i := range 2 {
		e := &s.E[i]
		if i > 0 {
			b.WriteString(" | ")
		}
		fmt.Fprintf(&b, "%s:%s", epName(i), e.Conn.St)
		c := &e.Conn
		if c.St != tcp.StateClosed {
			fmt.Fprintf(&b, "(una=%d nxt=%d rcv=%d", c.SndUna, c.SndNxt, c.RcvNxt)
			if c.has(tRtx) {
				fmt.Fprintf(&b, " rtx#%d", c.Retries)
			}
			if c.has(tTW) {
				b.WriteString(" tw")
			}
			b.WriteString(")")
		}
		if e.Lsn == tcp.StateListen {
			b.WriteString("+listen")
		}
	}
	for i := range 2 {
		if s.C[i].N == 0 {
			continue
		}
		fmt.Fprintf(&b, " | %s->%s:", epName(i), epName(1-i))
		for k, g := range s.C[i].segs() {
			if k > 0 {
				b.WriteString(";")
			}
			fmt.Fprintf(&b, " [%s]", g)
		}
	}
	return b.String()
}

// explains reports whether endpoint x, whose connection is CLOSED, accounts
// for peer y's open connection: y is synchronized with another incarnation
// of x (a stale half-open connection), or x gave its last one up on its own.
func explains(x, y *Endpoint) bool {
	return x.GaveUp || y.Conn.Irs != x.LastISS
}

func epName(i int) string { return string(rune('A' + i)) }
