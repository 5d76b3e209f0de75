package tcp

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// Output is how the layer hands segments and readiness changes to the stack.
type Output interface {
	// SendSegment sends one TCP segment (header and payload, checksum filled)
	// from src to dst in a datagram with the TOS and TTL of meta (RFC 9293
	// §3.9.2; SHLD-22: the TOS passed unchanged). seg is valid only during
	// the call.
	SendSegment(src, dst wire.Addr, meta SegMeta, seg []byte)
	// Notify reports a readiness change on the socket with user id.
	Notify(id uint64, ev sock.Readiness)
}

// PartsOutput is an Output that builds each segment where it leaves (the
// stack: in the frame buffer behind the IPv4 and Ethernet headers, or at the
// tail of a GSO super-frame). SendParts sends the segment whose header is
// hdr (checksum field zero) and whose payload is p1 followed by p2, views of
// the send buffer valid only during the call: the output copies the payload
// once, into its place in the frame, and fills the checksum or leaves it to
// the link's offload. The layer uses SendParts instead of SendSegment when
// its Output has it, and then builds no contiguous segment itself.
type PartsOutput interface {
	SendParts(src, dst wire.Addr, meta SegMeta, hdr, p1, p2 []byte)
}

// Adviser is an Output that can take negative advice (RFC 9293 §3.8.3,
// RFC 1122 §4.2.3.5, MUST-20): after R1 retransmissions of one segment the
// layer calls Advise with the connection's local and remote addresses, so
// that IP re-checks the route and the link layer re-probes the next hop's
// address (an ARP entry is revalidated). Outputs without it get no advice.
type Adviser interface {
	Advise(src, dst wire.Addr)
}

// Counters are the layer's named counters, as in netstat -s.
type Counters struct {
	Drops            [NumReasons]uint64 // segments discarded, by reason
	RuleHits         [len(Rules)]uint64 // times each spec row fired (row coverage)
	SegsIn           uint64             // segments given to Input
	SegsCoalesced    uint64             // segments processed as part of the one before them (receive coalescing, gro.go)
	Internal         uint64             // internal errors: rows of spec/tcp.fsm marked impossible that fired (0 in a correct stack)
	SegsOut          uint64             // segments sent
	RstsSent         uint64             // RST segments sent
	Retransmits      uint64             // segments retransmitted (timeout or fast)
	FastRetransmits  uint64             // retransmissions on three duplicate ACKs
	Timeouts         uint64             // retransmission timer expiries
	ActiveOpens      uint64             // Connect calls that sent a SYN
	PassiveOpens     uint64             // SYNs that created an embryonic connection
	Established      uint64             // transitions into ESTABLISHED
	EstabResets      uint64             // ESTABLISHED or CLOSE-WAIT connections that ended in CLOSED directly
	OOOSegs          uint64             // segments held out of order
	OOODrops         uint64             // out-of-order segments dropped: range table full
	OOOStackDrops    uint64             // out-of-order segments dropped: the layer's Config.MaxOOOBytes reached
	OOOBytes         uint64             // out-of-order octets held now, all connections
	Conns            uint64             // connections now, TIME-WAIT records included
	TimeWaitRecords  uint64             // connections in TIME-WAIT held as compact records now (timewait.go)
	TimeWaitRecycled uint64             // records ended before 2*MSL to make room for a connection at MaxConns (twRecycle)
	RingsLent        uint64             // send and receive rings lent to connections now (bufpool.go; 0 when all ended)
	PoolBytes        uint64             // octets the pools keep for reuse now: rings, transmit records, ranges (bufpool.go; bounded)
	Timers           uint64             // timers running now: connections with one, and TIME-WAIT records (each waits out 2*MSL); 0 once all ended
	// Buffer auto-tuning (autotune.go).
	RecvBufGrowths uint64 // receive buffers grown by auto-tuning
	SendBufGrowths uint64 // send buffers grown by auto-tuning
	BufGrowRefused uint64 // buffer growths refused, whole or in part: Config.BufBudget reached
	BufGrown       uint64 // octets all buffers now exceed their initial sizes (gauge, at most Config.BufBudget)
	// Listen queue overflows (derived from Drops when Counters is called).
	ListenOverflows   uint64 // SYNs dropped: the accept queue was full (or the listener closing)
	SynQueueOverflows uint64 // SYNs dropped: the SYN queue was full
	SynRecvPruned     uint64 // embryos released at their first SYN,ACK timeout: the SYN queue was more than half full (timer.go synAckLimit)
	OrphanZeroWindow  uint64 // connections their user closed, aborted once probing a zero window backed off to RTOMax (timer.go orphanStuck)
	AcceptOverflows   uint64 // handshake-completing ACKs dropped: the accept queue was full
	// SYN cookies (RFC 4987 §3.6).
	CookiesSent      uint64 // SYN,ACKs carrying a cookie (SYN queue full)
	CookiesValidated uint64 // ACKs with a valid cookie: connections created from it
	CookiesFailed    uint64 // ACKs to a listener sending cookies that carried no valid one (derived from Drops)
	KeepAlives       uint64 // keep-alive probes sent
	ChallengeACKs    uint64 // challenge ACKs sent (RFC 5961)
	ChallengeLimited uint64 // challenge ACKs not sent: the connection's rate limit (RFC 5961 §7)
	OOWAckLimited    uint64 // ACKs for unacceptable segments not sent: Config.OOWAckInterval
	// ECN (RFC 3168, ecn.go).
	ECNNegotiated     uint64 // connections established with ECN
	ECNCEReceived     uint64 // data segments received with a CE mark
	ECNECEReceived    uint64 // ACKs received with ECE
	ECNCwndReductions uint64 // congestion window reductions caused by ECE (once per window)
	// Loss recovery (RFC 8985 RACK-TLP, RFC 2883 D-SACK, spurious undo).
	RACKLosses      uint64 // segments RACK marked lost
	LostRetransmits uint64 // retransmissions RACK found lost (repaired without a timeout)
	RACKReordering  uint64 // connections on which RACK saw reordering
	TLPProbes       uint64 // tail loss probes sent
	TLPRecoveries   uint64 // probes that repaired a loss (cwnd reduced, no timeout)
	DSACKsRcvd      uint64 // D-SACK blocks received
	DSACKsSent      uint64 // D-SACK blocks sent for duplicate segments
	Undos           uint64 // loss responses undone as spurious (the three below)
	UndoRTO         uint64 // spurious timeouts (Eifel detection, RFC 3522/4015)
	UndoEifel       uint64 // fast recoveries undone by the timestamp test
	UndoDSACK       uint64 // episodes undone because every retransmission was D-SACKed
	R1Advice        uint64 // negative advice given to IP at R1 retransmissions (MUST-20)
}

type listenKey struct {
	addr wire.Addr
	port uint16
}

// Layer is the TCP layer of one stack: the connection and listener tables,
// the timers and the counters. It is not safe for concurrent use.
type Layer struct {
	cfg       Config
	out       Output
	rng       *rand.Rand
	secret    [2]uint64 // ISN key (RFC 9293 §3.4.1, MUST-9)
	now       time.Time
	epoch     time.Time // origin of the connections' ticks (tick.go)
	conns     []*Conn
	timers    timerHeap      // connections with a timer running, by earliest deadline
	sndPool   bufPool        // recycled send rings (bufpool.go)
	rcvPool   bufPool        // recycled receive rings
	txPool    pool[txSeg]    // recycled transmit-record arrays (txq.go)
	bbrRS     bbrSample      // BBR: the rate sample of the ACK being processed (bbr.go), kept here rather than in every connection
	bbrFree   []*bbrState    // BBR models of connections gone idle, for reuse (bufpool.go; at most maxPooledRings)
	oooPool   pool[seqRange] // recycled out-of-order range arrays (rcvbuf.go)
	due       []*Conn        // Poll's scratch: the connections due now
	batch     ackBatch       // ACKs held over a batch of input (delack.go)
	gro       groRun         // the segment held for receive coalescing (gro.go)
	demux     map[connKey]*Conn
	tw        map[connKey]*twRecord // closed connections in TIME-WAIT, compacted (timewait.go)
	twHeap    twHeap                // the records by 2*MSL deadline
	twc       Conn                  // TCB rehydrated from a record for one step
	twFull    bool                  // tests: keep TIME-WAIT connections as full Conns
	twGen     uint32                // generation of the last record made
	listeners map[listenKey]*Listener
	synFlood  time.Time // SetSynFlood: under a SYN flood until then
	ctr       Counters
	seg       segment // the segment being processed (reused)
	user      segment // context of the user call being processed (reused)
	scratch   Conn    // TCB for CLOSED replies and LISTEN processing
	obuf      []byte  // output scratch: one segment
	hdr       wire.TCPHeader
	sendECT   bool // the segment emit sends next is ECN-capable (ecn.go)
	nextEph   uint16
	oooBytes  int                 // out-of-order octets held by all connections (Config.MaxOOOBytes)
	bufGrown  int                 // auto-tuned buffer growth of all connections (Config.BufBudget)
	issHook   func() seqnum.Value // tests: fixed ISNs to replay the RFC figures

	// m runs spec/tcp.fsm in Config.Profile (fsmrt), counting into ctr.
	m Machine[tcpRun]

	// Trace, when set, is called on every state change (tests, tracing).
	Trace func(c *Conn, from, to State)
}

// NewLayer returns a TCP layer sending through out. rng supplies the ISN
// secret and ephemeral ports.
func NewLayer(cfg Config, out Output, rng *rand.Rand) *Layer {
	cfg = cfg.withDefaults()
	l := &Layer{
		cfg:       cfg,
		out:       out,
		rng:       rng,
		demux:     make(map[connKey]*Conn),
		tw:        make(map[connKey]*twRecord),
		listeners: make(map[listenKey]*Listener),
		obuf:      make([]byte, wire.TCPMaxHeaderLen+0xffff),
	}
	l.m = NewMachine[tcpRun](cfg.Profile)
	l.m.Count(l.ctr.RuleHits[:], l.ctr.Drops[:])
	l.m.CountInternal(&l.ctr.Internal)
	l.sndPool.max, l.rcvPool.max = maxPooledRings, maxPooledRings
	// Only initial-sized rings are pooled: auto-tuned ones are left to the GC.
	l.sndPool.maxRing = cfg.SendBuf
	l.rcvPool.maxRing = cfg.RecvBuf + 1<<wscaleFor(cfg.RecvBufMax)
	l.sndPool.maxGrown, l.rcvPool.maxGrown = maxPooledGrown, maxPooledGrown
	l.oooPool.max, l.oooPool.maxRing = maxPooledRings, maxOOO
	l.txPool.max, l.txPool.maxRing, l.txPool.maxGrown = maxPooledRings, txQueueLen(cfg.SendBuf, 64), 4*txQueueLen(cfg.SendBufMax, 64)
	l.secret = [2]uint64{rng.Uint64(), rng.Uint64()}
	l.nextEph = uint16(ephFirst + rng.IntN(ephLast-ephFirst+1))
	return l
}

// Counters returns the layer's counters (live; read them, do not keep writing).
func (l *Layer) Counters() *Counters {
	l.ctr.Conns = uint64(l.nconns())
	l.ctr.TimeWaitRecords = uint64(len(l.tw))
	l.ctr.RingsLent = uint64(l.sndPool.lent + l.rcvPool.lent)
	l.ctr.PoolBytes = uint64(l.sndPool.bytes(1) + l.rcvPool.bytes(1) + l.txPool.bytes(txSegSize) + l.oooPool.bytes(seqRangeSize))
	l.ctr.Timers = uint64(len(l.timers) + len(l.tw))
	l.ctr.OOOBytes = uint64(l.oooBytes)
	l.ctr.BufGrown = uint64(l.bufGrown)
	l.ctr.ListenOverflows = l.ctr.Drops[DropListenOverflow]
	l.ctr.SynQueueOverflows = l.ctr.Drops[DropSynQueueOverflow]
	l.ctr.AcceptOverflows = l.ctr.Drops[DropAcceptOverflow]
	l.ctr.CookiesFailed = l.ctr.Drops[DropCookieFailed]
	return &l.ctr
}

// Listener is a passive OPEN: a TCB in LISTEN, its SYN queue (embryonic
// connections in SYN-RECEIVED, bounded by Config.SynBacklog) and its accept
// queue (established connections not yet accepted, bounded by the backlog
// given to Listen).
type Listener struct {
	l          *Layer
	tcb        Conn // the LISTEN-state TCB the table runs on
	key        listenKey
	id         uint64
	backlog    int // accept queue bound
	synBacklog int // SYN queue bound
	embryos    []*Conn
	queue      []*Conn
	closed     bool
	cookieAt   time.Time // when the last SYN cookie was sent (zero: never)
	fullAt     time.Time // when a SYN last found the SYN queue full and got a cookie (timer.go synAckLimit)
}

// QueueLens returns how many embryonic connections (SYN queue) and
// established connections waiting for Accept (accept queue) the listener holds.
func (ln *Listener) QueueLens() (syn, accept int) { return len(ln.embryos), len(ln.queue) }

// Listen opens a listener on (local, port); a zero local accepts any local
// address (RFC 9293 §3.10.1 passive OPEN). backlog <= 0 takes the default.
func (l *Layer) Listen(now time.Time, local wire.Addr, port uint16, backlog int, id uint64) (*Listener, error) {
	l.now = now
	if port == 0 {
		return nil, fmt.Errorf("tcp listen: port 0: %w", sock.ErrNotExist)
	}
	k := listenKey{local, port}
	if old := l.listeners[k]; old != nil {
		// A passive OPEN on the listener's own TCB: the spec's row says
		// "connection already exists" (RFC 9293 §3.10.1, MUST-41).
		s := l.userCall(now)
		l.run(&old.tcb, EvOpenPassive, s)
		if s.err != nil {
			return nil, fmt.Errorf("tcp listen %v:%d: %w", local, port, s.err)
		}
	}
	if backlog <= 0 {
		backlog = l.cfg.Backlog
	}
	ln := &Listener{l: l, key: k, id: id, backlog: backlog, synBacklog: l.cfg.SynBacklog}
	l.initConn(&ln.tcb)
	ln.tcb.key = connKey{laddr: local, lport: port}
	s := l.userCall(now)
	l.run(&ln.tcb, EvOpenPassive, s)
	if s.err != nil {
		return nil, fmt.Errorf("tcp listen: %w", s.err)
	}
	l.listeners[k] = ln
	return ln, nil
}

// SetSynFlood tells the layer that its host is under a SYN flood until
// until: an embryo whose SYN,ACK times out before then is released at that
// first timeout (synAckLimit), as under a full SYN queue.
func (l *Layer) SetSynFlood(until time.Time) { l.synFlood = until }

// Listening reports whether a listener takes SYNs to (addr, port).
func (l *Layer) Listening(addr wire.Addr, port uint16) bool {
	ln := l.listener(addr, port)
	return ln != nil && !ln.closed
}

// ListenPorts appends to dst the port of every open listener.
func (l *Layer) ListenPorts(dst []uint16) []uint16 {
	for k, ln := range l.listeners {
		if !ln.closed {
			dst = append(dst, k.port)
		}
	}
	return dst
}

// Accept returns the oldest established connection, or sock.ErrWouldBlock.
func (ln *Listener) Accept(now time.Time) (*Conn, error) {
	if ln.closed {
		return nil, fmt.Errorf("tcp accept: %w", sock.ErrNotExist)
	}
	if len(ln.queue) == 0 {
		return nil, sock.ErrWouldBlock
	}
	c := ln.queue[0]
	n := copy(ln.queue, ln.queue[1:])
	ln.queue[n] = nil
	ln.queue = ln.queue[:n]
	c.ln, c.queued = nil, false
	return c, nil
}

// Close closes the listener; connections not yet accepted are reset, so none
// is left behind (RFC 9293 §3.10.4 CLOSE in LISTEN).
func (ln *Listener) Close(now time.Time) {
	if ln.closed {
		return
	}
	l := ln.l
	l.now = now
	ln.closed = true
	for len(ln.embryos) > 0 {
		c := ln.embryos[len(ln.embryos)-1]
		c.userClosed = true
		c.Abort(now)
		ln.detach(c)
	}
	for len(ln.queue) > 0 {
		c := ln.queue[len(ln.queue)-1]
		c.userClosed = true
		c.Abort(now)
		ln.detach(c)
	}
	l.run(&ln.tcb, EvClose, l.userCall(now)) // Listen Close: its Release unlinks ln (unlisten)
}

// unlisten removes the listener whose LISTEN-state TCB is c from the
// listeners table: Release of a listener (CLOSE in LISTEN, RFC 9293
// §3.10.4), so a later SYN to its port meets no listener and the port can
// be listened on again.
func (l *Layer) unlisten(c *Conn) {
	k := listenKey{c.key.laddr, c.key.lport}
	if ln := l.listeners[k]; ln != nil && &ln.tcb == c {
		delete(l.listeners, k)
	}
}

// Addr returns the listener's local address and port.
func (ln *Listener) Addr() (wire.Addr, uint16) { return ln.key.addr, ln.key.port }

// detach removes c from the listener's embryo list or accept queue.
func (ln *Listener) detach(c *Conn) {
	rm := func(q []*Conn) []*Conn {
		for i, x := range q {
			if x == c {
				copy(q[i:], q[i+1:])
				q[len(q)-1] = nil
				return q[:len(q)-1]
			}
		}
		return q
	}
	ln.embryos = rm(ln.embryos)
	ln.queue = rm(ln.queue)
	c.ln, c.queued = nil, false
}

// Ephemeral port range (RFC 6335 §6).
const (
	ephFirst = 49152
	ephLast  = 65535
)

// Connect is an active OPEN from (local, lport) to (remote, rport); lport 0
// picks an ephemeral port. The SYN is sent at once; the connection completes
// asynchronously (Connected readiness, or an error from Recv).
func (l *Layer) Connect(now time.Time, local wire.Addr, lport uint16, remote wire.Addr, rport uint16, id uint64) (*Conn, error) {
	l.now = now
	switch {
	case remote.IsUnspecified() || remote.IsMulticast() || remote.IsLimitedBroadcast() || rport == 0:
		return nil, fmt.Errorf("tcp connect %v:%d: invalid remote address: %w", remote, rport, sock.ErrNotExist) // MUST-46
	case local.IsUnspecified():
		return nil, fmt.Errorf("tcp connect: local address required: %w", sock.ErrNotExist)
	case l.nconns() >= l.cfg.MaxConns:
		return nil, fmt.Errorf("tcp connect: %w", sock.ErrLimit)
	}
	k := connKey{laddr: local, raddr: remote, lport: lport, rport: rport}
	if lport == 0 {
		found := false
		for range ephLast - ephFirst + 1 {
			k.lport = l.nextEph
			l.nextEph++
			if l.nextEph < ephFirst {
				l.nextEph = ephFirst
			}
			if !l.used(k) && (l.cfg.OwnsFlow == nil || l.cfg.OwnsFlow(k.laddr, k.lport, k.raddr, k.rport)) {
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("tcp connect: %w", sock.ErrNoPorts)
		}
	} else if old := l.demux[k]; old != nil {
		// An active OPEN on a connection's own 4-tuple: the spec's row
		// says "connection already exists" (RFC 9293 §3.10.1).
		s := l.userCall(now)
		l.run(old, EvOpenActive, s)
		if s.err != nil {
			return nil, fmt.Errorf("tcp connect %v:%d: %w", local, lport, s.err)
		}
	} else if l.used(k) { // a TIME-WAIT record: no TCB to run the row on
		return nil, fmt.Errorf("tcp connect %v:%d: %w", local, lport, sock.ErrExists)
	}
	c := new(Conn)
	l.initConn(c)
	c.key = k
	c.SetID(id)
	l.insert(c)
	s := l.userCall(now)
	l.run(c, EvOpenActive, s)
	l.ctr.ActiveOpens++
	l.finish(c, now)
	if s.err != nil {
		return nil, fmt.Errorf("tcp connect: %w", s.err)
	}
	return c, nil
}

// used reports whether the 4-tuple k belongs to a connection or a
// TIME-WAIT record.
func (l *Layer) used(k connKey) bool {
	if _, ok := l.demux[k]; ok {
		return true
	}
	_, ok := l.tw[k]
	return ok
}

// initConn prepares a fresh TCB in CLOSED with the layer's settings.
func (l *Layer) initConn(c *Conn) {
	*c = Conn{l: l, idx: -1, hidx: -1}
	c.bindParts()
	c.snd.buf.pool, c.rcv.buf.pool, c.rcv.buf.oooPool = &l.sndPool, &l.rcvPool, &l.oooPool
	c.snd.buf.size, c.snd.buf.limit = l.cfg.SendBuf, l.cfg.SendBuf
	c.rcv.shift = wscaleFor(l.cfg.RecvBufMax) // RFC 7323 §2.2: for the largest the buffer may grow to
	c.rcv.limit = l.cfg.RecvBuf
	c.rcv.buf.size = c.rcv.ringSize(c.rcv.limit, c.rcv.shift)
	c.rcv.space = min(l.cfg.RecvBuf, 10*int(l.cfg.MSS)) // Linux: TCP_INIT_CWND segments
	c.snd.mss, c.snd.peerMSS = 536, 536                 // MUST-15 until the peer's MSS option says otherwise
	c.snd.rto = l.cfg.RTOInitial
	c.snd.cc.ssthresh = maxCwnd // RFC 5681 §3.1: "arbitrarily high"
	c.snd.noDelay = l.cfg.NoDelay
	c.snd.userTimeout = max(l.cfg.UserTimeout, 0)
	c.tos, c.ttl = l.cfg.TOS&^ECNMask, l.cfg.TTL
	c.ecn.req = l.cfg.ECN == ECNOn
	c.rcv.mss = int32(min(536, int(l.cfg.MSS)))
}

// insert adds c to the connection table.
func (l *Layer) insert(c *Conn) {
	c.idx = int32(len(l.conns))
	l.conns = append(l.conns, c)
	l.demux[c.key] = c
}

// remove takes c out of the connection table: for Release (actions.go) and
// for a TIME-WAIT connection compacted into a record (timewait.go).
func (l *Layer) remove(c *Conn) {
	if c.idx < 0 {
		return
	}
	last := len(l.conns) - 1
	l.conns[c.idx] = l.conns[last]
	l.conns[c.idx].idx = c.idx
	l.conns[last] = nil
	l.conns = l.conns[:last]
	c.idx = -1
	l.oooBytes -= c.rcv.oooHeld
	c.rcv.oooHeld = 0
	l.releaseBuf(c)
	l.timers.remove(c)
	c.giveBackBuffers()
	if l.demux[c.key] == c {
		delete(l.demux, c.key)
	}
	if c.ln != nil {
		c.ln.detach(c)
	}
}

// userCall resets and returns the context for one user call.
func (l *Layer) userCall(now time.Time) *segment {
	l.now = now
	l.user = segment{now: now, at: l.tick(now)}
	return &l.user
}

// finish ends a top-level call on c: send what is owed, report readiness.
func (l *Layer) finish(c *Conn, now time.Time) {
	c.output(now)
	l.finishHeld(c, now)
}

// finishHeld is finish without the output: what the call queued waits for
// the next event on c (Conn.SendHeld).
func (l *Layer) finishHeld(c *Conn, now time.Time) {
	c.giveBackBuffers() // an idle connection holds no ring (bufpool.go)
	if c.compactible() {
		l.compact(c)
	}
	if c.idx >= 0 {
		l.schedule(c)
	}
	if c.pending != 0 {
		if c.hasID {
			l.out.Notify(c.id, c.pending)
		}
		c.pending = 0
	}
}
