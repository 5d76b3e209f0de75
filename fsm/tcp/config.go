package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// Config holds the TCP layer's tunables. Zero fields take the defaults listed.
type Config struct {
	MSS uint16 // our MSS, MTU-40 (default 1460); advertised in SYNs (MUST-14, MUST-67)
	// SendBuf and RecvBuf are each connection's initial send and receive
	// buffers, octets (default 64 KiB). Auto-tuning (autotune.go) grows a
	// receive buffer with what the application reads per round trip, up to
	// RecvBufMax (Linux's tcp_rcv_space_adjust), and a send buffer with the
	// congestion window, up to SendBufMax (Linux's tcp_sndbuf_expand).
	// Setting SendBuf or RecvBuf without the matching Max fixes that buffer
	// (no auto-tuning), as SO_SNDBUF/SO_RCVBUF do; Conn.SetRecvBuffer and
	// Conn.SetSendBuffer fix one connection's.
	SendBuf int
	RecvBuf int
	// RecvBufMax bounds receive-buffer auto-tuning (default 6 MiB, Linux's
	// tcp_rmem[2], when RecvBuf is unset; else RecvBuf). The window scale
	// offered in our SYN is chosen for it (RFC 7323 §2.2).
	RecvBufMax int
	// SendBufMax bounds send-buffer auto-tuning (default 4 MiB, Linux's
	// tcp_wmem[2], when SendBuf is unset; else SendBuf).
	SendBufMax int
	// BufBudget bounds, across all connections of the layer, the octets by
	// which auto-tuned buffers may exceed their initial sizes (default
	// 256 MiB); growth past it is refused and counted (BufGrowRefused).
	BufBudget  int
	MSL        time.Duration // maximum segment lifetime; TIME-WAIT lasts 2*MSL (default 30 s)
	RTOInitial time.Duration // RFC 6298 §2.1 initial RTO (default 1 s)
	RTOMin     time.Duration // lower bound of the RTO (default 200 ms, as Linux)
	RTOMax     time.Duration // upper bound of the backed-off RTO (default 120 s)
	// SynRetries is how many times an active OPEN retransmits its SYN
	// before giving up (RFC 9293 §3.8.3 R2 for SYN). The default, 7, keeps
	// the SYN alive 255 s with a 1 s initial RTO (0, 1, 3, ... 127 s, then
	// 128 s of waiting): at least 3 minutes (MUST-23). Linux's 6 gives 127 s.
	SynRetries int
	// SynAckRetries is how many times a passive OPEN retransmits its
	// SYN,ACK before the embryonic connection is dropped (default 5, as
	// Linux: 63 s), so half-open connections do not hold the SYN queue long.
	SynAckRetries int
	MaxRetries    int // data retransmissions before giving up (R2, default 15: about 15 min with the default RTO bounds, SHLD-11)
	// R1 is how many retransmissions of one segment make the layer give IP
	// negative advice (Adviser) and report the connection as retrying
	// (Conn.Retrying, RFC 9293 §3.8.3 MUST-20, SHLD-9; default 3, SHLD-10).
	R1 int
	// NoRACK turns RACK-TLP loss detection (RFC 8985) off: SACK connections
	// then enter recovery on DupThresh/IsLost (RFC 6675) alone and send no
	// tail loss probes.
	NoRACK bool
	// TLPNewData makes the tail loss probe a new segment when one is queued
	// and the peer's window allows it, as RFC 8985 §7.3 and Linux's
	// tcp_send_loss_probe do. By default the probe is the last segment
	// sent, again: when a probe fires in a bulk transfer it is mostly the
	// flight's one ACK that was lost, and a receiver that delays the ACK of
	// a lone in-order segment (Linux: 40 ms) answers a duplicate at once,
	// with a D-SACK (rack.go tlpFire).
	TLPNewData bool
	// NoRecoveryProbe sends no loss probe in fast recovery, as RFC 8985 §7.2
	// and Linux. By default a probe (the highest segment not SACKed, again)
	// goes after PTO without an ACK in recovery too, so one lost ACK there
	// costs a PTO rather than the RTO (rack.go probeAllowed).
	NoRecoveryProbe bool
	// TLPMaxProbes is how many loss probes go in a row, each after twice
	// the last PTO, while SND.UNA does not advance, before only the RTO is left
	// (default 3, at most 8; RFC 8985 §7.3 and Linux send 1). The later ones
	// cover a probe or its ACK lost, which otherwise costs the RTO (rack.go).
	TLPMaxProbes int
	// UserTimeout is the default per-connection user timeout (RFC 5482,
	// RFC 9293 §3.8.3 MUST-20/21): data unacknowledged this long, with no
	// progress, aborts the connection; Conn.SetUserTimeout changes it.
	// Zero (the default): only MaxRetries applies.
	UserTimeout time.Duration
	// MaxOOOBytes caps the out-of-order octets held across all connections
	// of the layer (default 32 MiB), besides each connection's own bound of
	// its window and maxOOO ranges; a segment past it is dropped and counted.
	MaxOOOBytes int
	Backlog     int // default listen backlog: the accept queue (default 128)
	// SynBacklog bounds each listener's SYN queue: embryonic connections in
	// SYN-RECEIVED (default 1024, Linux's tcp_max_syn_backlog).
	SynBacklog int
	// NoSynCookies turns SYN cookies off (RFC 4987 §3.6): a SYN to a full
	// SYN queue is then dropped instead of answered with a cookie.
	NoSynCookies    bool
	MaxConns        int           // connections (all states) the layer holds (default 65536)
	FinWait2Timeout time.Duration // how long an orphaned FIN-WAIT-2 waits for the peer's FIN (default 60 s)
	// DelayedACK is how long an ACK for in-order data may wait for a second
	// full-sized segment or data to ride on (RFC 9293 §3.8.6.3, MUST-40,
	// SHLD-18; default 40 ms as Linux's minimum; negative: ACK every segment).
	DelayedACK time.Duration
	// NoACKCoalescing sends each pure ACK as soon as the segment that owes
	// it is processed. By default, between Layer.BeginBatch and EndBatch
	// (the stack brackets the frames of one read from the link with them)
	// the ACKs a connection owes are held to the batch's end and sent as
	// one, as Linux acknowledges the segments GRO merged (delack.go).
	NoACKCoalescing bool
	// NoRecvCoalescing processes every received segment alone. By default,
	// between Layer.BeginBatch and EndBatch, consecutive in-order data
	// segments of one ESTABLISHED connection with the same header (but
	// for the sequence number and PSH) are processed as one segment, as
	// Linux's GRO merges them (gro.go; Counters.SegsCoalesced).
	NoRecvCoalescing bool
	// NoDelay disables Nagle's algorithm on new connections (MUST-17);
	// Conn.SetNoDelay changes it per connection.
	NoDelay bool
	// NoTimestamps turns the RFC 7323 Timestamps option (RTT measurement and
	// PAWS) off; by default it is offered and used when the peer agrees.
	NoTimestamps bool
	// NoSACK turns selective acknowledgment (RFC 2018, RFC 6675) off; by
	// default SACK-permitted is offered and SACK used when the peer agrees.
	NoSACK bool
	// CC is the congestion control algorithm (default CUBIC; BBR, bbr.go,
	// sets the window from a model of the path and keeps it under random
	// loss, and paces, pacing.go). Package netspec sets BBR for the stacks
	// it makes (netspec.DefaultCC).
	CC CongestionControl
	// NoPacing sends BBR's segments unpaced, as fast as its window allows.
	// By default a BBR connection spaces them at its pacing rate
	// (pacing.go); CUBIC and NewReno are never paced.
	NoPacing bool
	// Keep-alive defaults for Conn.SetKeepAlive (RFC 9293 §3.8.4; probing
	// is off until turned on per connection, MUST-24/25): idle time before
	// the first probe (default 2 h, MUST-28), interval between probes
	// (default 75 s) and unanswered probes before giving up (default 9).
	KeepAliveIdle     time.Duration
	KeepAliveInterval time.Duration
	KeepAliveCount    int
	// ChallengeACKInterval and ChallengeACKLimit bound the challenge ACKs
	// (RFC 5961 §7) one connection sends: at most Limit per Interval
	// (default 1 per 500 ms, as Linux's tcp_invalid_ratelimit). The limit is
	// per connection, never global (a global one leaks state across
	// connections, CVE-2016-5696), and applies only to challenge ACKs: ACKs
	// for data and retransmissions are never held back by it.
	ChallengeACKInterval time.Duration
	ChallengeACKLimit    int
	// OOWAckInterval rate-limits the ACK that answers an unacceptable
	// segment (RFC 9293 §3.10.7.4 step 1, and a PAWS reject, RFC 7323 §5.3)
	// as Linux's tcp_oow_rate_limited (sysctl tcp_invalid_ratelimit): a
	// segment that occupies no sequence space (no text, no FIN), or one with
	// SYN, gets at most one such ACK per interval per connection, which ends
	// ACK loops between two confused ends (a TIME-WAIT facing a reopened
	// SYN-RECEIVED, found by fuzz/model); one with text or FIN always gets
	// it. 0 means the profile's default: 500 ms under ProfileLinux (Linux's
	// default), off under ProfileRfc9293 (every one answered, as the RFC
	// says, at the risk of such loops until a timer ends them). Negative
	// turns it off in either profile.
	OOWAckInterval time.Duration
	// TOS is the Diffserv field (RFC 2474 DSCP, the high six bits) of new
	// connections and listeners (RFC 9293 §3.9.1.9, MUST-48); Conn.SetTOS
	// changes it per connection. The ECN bits are ignored (TCP owns them).
	TOS uint8
	// TTL is the time to live of new connections' datagrams; 0 (the
	// default) leaves it to the stack (stack.Config.TTL, 64). MUST-49.
	TTL uint8
	// ECN selects Explicit Congestion Notification (RFC 3168, SHLD-8):
	// ECNAccept (the default, Linux's tcp_ecn=2) uses it when the peer's
	// SYN asks for it; ECNOn also asks for it in our SYNs; ECNOff never.
	ECN ECNMode
	// Profile selects the behavioural profile of spec/tcp.fsm whose rows the
	// layer runs (verification.md §10.1): ProfileLinux (the zero value and
	// DefaultProfile, what Linux does) or ProfileRfc9293 (strict RFC 9293
	// §3.10.7). An out-of-range value means DefaultProfile.
	Profile Profile
	// OwnsFlow, if not nil, is asked by an active OPEN with no local port
	// which ephemeral ports it may take: only those for which it returns
	// true. A host that shares one link between several stacks by flow
	// (the loops of a multi-loop netspec.Stack, whose AF_PACKET fanout
	// group sends each flow to one of them) takes only ports whose flow
	// comes back to this stack. Nil takes any free port.
	OwnsFlow func(local wire.Addr, lport uint16, remote wire.Addr, rport uint16) bool
}

func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.CC > BBR {
		c.CC = CUBIC
	}
	if c.Profile >= NumProfiles {
		c.Profile = DefaultProfile
	}
	if c.MSS == 0 {
		c.MSS = 1460
	}
	if c.SendBuf <= 0 {
		c.SendBuf = 64 << 10
		defInt(&c.SendBufMax, 4<<20)
	}
	if c.RecvBuf <= 0 {
		c.RecvBuf = 64 << 10
		defInt(&c.RecvBufMax, 6<<20)
	}
	c.SendBufMax = max(c.SendBufMax, c.SendBuf)
	c.RecvBufMax = max(c.RecvBufMax, c.RecvBuf)
	defInt(&c.BufBudget, 256<<20)
	def(&c.MSL, 30*time.Second)
	def(&c.RTOInitial, time.Second)
	def(&c.RTOMin, 200*time.Millisecond)
	def(&c.RTOMax, 120*time.Second)
	defInt(&c.SynRetries, 7)
	defInt(&c.SynAckRetries, 5)
	defInt(&c.MaxRetries, 15)
	defInt(&c.R1, 3)
	defInt(&c.TLPMaxProbes, 3)
	c.TLPMaxProbes = min(c.TLPMaxProbes, 8)
	defInt(&c.Backlog, 128)
	defInt(&c.SynBacklog, 1024)
	defInt(&c.MaxOOOBytes, 32<<20)
	defInt(&c.MaxConns, 65536)
	def(&c.FinWait2Timeout, 60*time.Second)
	def(&c.KeepAliveIdle, 2*time.Hour)
	def(&c.KeepAliveInterval, 75*time.Second)
	defInt(&c.KeepAliveCount, 9)
	def(&c.ChallengeACKInterval, 500*time.Millisecond)
	if c.OOWAckInterval == 0 && c.Profile == ProfileLinux {
		c.OOWAckInterval = 500 * time.Millisecond // Linux's tcp_invalid_ratelimit
	}
	defInt(&c.ChallengeACKLimit, 1)
	if c.DelayedACK == 0 {
		c.DelayedACK = 40 * time.Millisecond
	}
	c.DelayedACK = min(c.DelayedACK, 200*time.Millisecond) // MUST-40: never 0.5 s
	return c
}

// wscaleFor returns the smallest window-scale shift that lets a 16-bit window
// field cover buf octets (RFC 7323 §2.2), at most 14.
func wscaleFor(buf int) uint8 {
	var s uint8
	for s < 14 && buf>>s > 0xffff {
		s++
	}
	return s
}
