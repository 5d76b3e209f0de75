package tcp

import (
	"errors"
	"fmt"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
)

// ErrInvariant is wrapped by every invariant violation that CheckInvariants
// and InvariantChecker report, so callers can tell them from other errors.
var ErrInvariant = errors.New("tcp invariant violated")

// violation formats one invariant failure for connection c.
func (c *Conn) violation(format string, args ...any) error {
	return fmt.Errorf("%w: %v:%d->%v:%d %v: %s", ErrInvariant,
		c.key.laddr, c.key.lport, c.key.raddr, c.key.rport, c.state, fmt.Sprintf(format, args...))
}

// CheckInvariants checks the relations between the connection's variables
// that hold after every step, whatever the input. It reads the connection and
// changes nothing; nil means every check passed. The checks are stateless:
// InvariantChecker adds those that compare a step with the previous one.
//
// Checked (RFC 9293 §3.3.1 names):
//   - SND.UNA =< SND.NXT (mod 2^32), and the octets in flight fit in the send
//     buffer plus SYN and FIN;
//   - the send buffer and the receive ring hold no more than their sizes, and
//     unread data plus the promised window RCV.WND fit in the receive ring;
//   - auto-tuned buffers stay within SendBufMax and RecvBufMax (and, per
//     layer, their growth within BufBudget);
//   - out-of-order ranges are sorted, disjoint, beyond RCV.NXT, inside the
//     advertised right edge, and at most maxOOO;
//   - a FIN is sent only after CLOSE; TIME-WAIT runs its 2*MSL timer and no
//     retransmission timer;
//   - no stuck state: in SYN-SENT and SYN-RECEIVED, and whenever data or a
//     FIN is in flight, the retransmission timer runs (RFC 6298 §5.1);
//   - an embryonic connection of a listener is in SYN-RECEIVED;
//   - with RACK, the retransmission queue covers exactly SND.UNA to SND.NXT
//     with contiguous records, and its pipe and SACKed counts match them.
func (c *Conn) CheckInvariants() error {
	t := &c.tcb
	if c.state >= NumStates {
		return c.violation("state %d out of range", c.state)
	}
	if c.state == StateClosed || c.state == StateListen {
		return nil
	}
	// SND.UNA =< SND.NXT: the flight is a forward distance of at most the
	// buffered octets plus SYN and FIN.
	if t.SndNxt.LessThan(t.SndUna) {
		return c.violation("SND.NXT %d before SND.UNA %d", t.SndNxt, t.SndUna)
	}
	if flight := uint32(t.SndNxt - t.SndUna); flight > uint32(c.snd.buf.n)+2 {
		return c.violation("flight %d exceeds the %d buffered octets plus SYN and FIN", flight, c.snd.buf.n)
	}
	if c.snd.buf.n < 0 || c.snd.buf.n > c.snd.buf.size || c.snd.buf.limit > c.snd.buf.size {
		return c.violation("send buffer holds %d of %d (limit %d)", c.snd.buf.n, c.snd.buf.size, c.snd.buf.limit)
	}
	// Auto-tuning stays within the configured maxima (autotune.go).
	if !c.snd.locked && c.snd.buf.limit > c.l.cfg.SendBufMax {
		return c.violation("send buffer auto-tuned to %d, SendBufMax %d", c.snd.buf.limit, c.l.cfg.SendBufMax)
	}
	if !c.rcv.locked && c.rcv.limit > c.l.cfg.RecvBufMax {
		return c.violation("receive buffer auto-tuned to %d, RecvBufMax %d", c.rcv.limit, c.l.cfg.RecvBufMax)
	}
	if c.snd.finSent && !c.snd.finQueued {
		return c.violation("FIN sent without CLOSE")
	}
	if c.state != StateSynSent {
		if err := c.checkRecv(); err != nil {
			return err
		}
	}
	if err := c.checkTimers(); err != nil {
		return err
	}
	if err := c.checkTxQueue(); err != nil {
		return err
	}
	if ln := c.ln; ln != nil && !c.queued && c.state != StateSynReceived {
		return c.violation("embryonic connection of listener :%d is not in SYN-RECEIVED", ln.key.port)
	}
	return nil
}

// checkTxQueue checks the RACK retransmission queue (txq.go) against
// SND.UNA and SND.NXT once synchronized.
func (c *Conn) checkTxQueue() error {
	t := &c.tcb
	q := &c.snd.txq
	if !c.snd.rackOn() || c.state == StateSynSent || c.state == StateSynReceived {
		return nil
	}
	if q.n() == 0 {
		if t.SndUna != t.SndNxt {
			return c.violation("%d octets in flight and no transmit records", uint32(t.SndNxt-t.SndUna))
		}
		return nil
	}
	if q.at(0).start != t.SndUna || q.at(q.n()-1).end != t.SndNxt {
		return c.violation("transmit records cover [%d,%d), flight [%d,%d)", q.at(0).start, q.at(q.n()-1).end, t.SndUna, t.SndNxt)
	}
	var pipe uint32
	sacked := 0
	for i := 0; i < q.n(); i++ {
		r := q.at(i)
		if !r.start.LessThan(r.end) || (i > 0 && q.at(i-1).end != r.start) {
			return c.violation("transmit record %d [%d,%d) empty or not contiguous", i, r.start, r.end)
		}
		if r.flags&segSacked != 0 {
			sacked++
		}
		pipe += weight(r)
	}
	if pipe != q.pipe || sacked != q.sacked {
		return c.violation("transmit queue pipe %d / SACKed %d, records say %d / %d", q.pipe, q.sacked, pipe, sacked)
	}
	return nil
}

// checkRecv checks the receive buffer against RCV.NXT and the right edge.
func (c *Conn) checkRecv() error {
	t := &c.tcb
	b := &c.rcv.buf
	if b.unread < 0 || b.unread > b.size && b.size > 0 {
		return c.violation("receive ring holds %d unread of %d", b.unread, b.size)
	}
	if c.rcv.edge.LessThan(t.RcvNxt) && c.rcv.wnd() != 0 {
		return c.violation("right edge %d before RCV.NXT %d with a non-zero window", c.rcv.edge, t.RcvNxt)
	}
	// The window we promised must fit in the ring after the unread octets,
	// or early data would overwrite data not yet read.
	if b.size > 0 && b.unread+int(c.rcv.wnd()) > b.size {
		return c.violation("unread %d + RCV.WND %d exceed the receive ring %d", b.unread, c.rcv.wnd(), b.size)
	}
	if len(b.buf) > b.size && b.size > 0 {
		return c.violation("receive ring of %d octets past its capacity %d", len(b.buf), b.size)
	}
	if len(b.ooo) > maxOOO {
		return c.violation("%d out-of-order ranges, bound %d", len(b.ooo), maxOOO)
	}
	prev := t.RcvNxt
	for i, r := range b.ooo {
		if !prev.LessThan(r.start) || !r.start.LessThan(r.end) {
			return c.violation("out-of-order range %d [%d,%d) not after %d", i, r.start, r.end, prev)
		}
		if c.rcv.edge.LessThan(r.end) {
			return c.violation("out-of-order range %d [%d,%d) beyond the right edge %d", i, r.start, r.end, c.rcv.edge)
		}
		prev = r.end
	}
	return nil
}

// checkTimers checks that the timers a state needs are running.
func (c *Conn) checkTimers() error {
	t := &c.tcb
	switch c.state {
	case StateTimeWait:
		if c.twAt.IsZero() {
			return c.violation("TIME-WAIT without its 2*MSL timer")
		}
		if !c.snd.rtxAt.IsZero() {
			return c.violation("retransmission timer running in TIME-WAIT")
		}
		return nil
	case StateFinWait2:
		if c.userClosed && c.twAt.IsZero() {
			return c.violation("orphaned FIN-WAIT-2 without its timeout")
		}
	case StateSynSent, StateSynReceived:
		if c.snd.rtxAt.IsZero() {
			return c.violation("no retransmission timer for our SYN")
		}
		return nil
	}
	if sendsData(c.state) && t.SndUna != t.SndNxt && c.snd.rtxAt.IsZero() {
		return c.violation("%d octets in flight and no retransmission timer", uint32(t.SndNxt-t.SndUna))
	}
	return nil
}

// EachConn calls fn for every connection in the layer's table (every state
// but CLOSED and LISTEN), in table order. fn must not open or close
// connections. Connections in TIME-WAIT that their user closed are held as
// compact records (timewait.go), not Conns, and are not visited; the
// TimeWaitRecords counter gives their number.
func (l *Layer) EachConn(fn func(c *Conn)) {
	for _, c := range l.conns {
		fn(c)
	}
}

// CheckInvariants checks the layer's tables and every connection in them:
// the connection table and the demultiplexing map agree, every table is
// within its bound (MaxConns, each listener's SYN and accept queues), and
// Conn.CheckInvariants holds for each connection; and no row marked
// impossible in spec/tcp.fsm ever fired (Counters.Internal is 0).
func (l *Layer) CheckInvariants() error {
	if l.ctr.Internal != 0 {
		return fmt.Errorf("%w: %d impossible rows fired (tcp.Internal): %s", ErrInvariant, l.ctr.Internal, firedImpossible(Rules[:], l.ctr.RuleHits[:]))
	}
	if l.nconns() > l.cfg.MaxConns {
		return fmt.Errorf("%w: %d connections and %d TIME-WAIT records, bound %d", ErrInvariant, len(l.conns), len(l.tw), l.cfg.MaxConns)
	}
	for _, check := range [...]func() error{l.checkRecords, l.checkTable, l.checkBudgets, l.checkListeners} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// checkTable checks the connection table: the demultiplexing map and the
// table agree, no CLOSED or LISTEN connection is in it, each connection
// passes Conn.CheckInvariants, and the timer heap holds exactly the
// connections with a deadline, keyed by the earliest one (timerheap.go), in
// heap order.
func (l *Layer) checkTable() error {
	if len(l.demux) != len(l.conns) {
		return fmt.Errorf("%w: %d connections but %d demultiplexing entries", ErrInvariant, len(l.conns), len(l.demux))
	}
	for i, c := range l.conns {
		if int(c.idx) != i || l.demux[c.key] != c {
			return c.violation("table index %d (recorded %d) or demultiplexing entry wrong", i, c.idx)
		}
		if c.state == StateClosed || c.state == StateListen {
			return c.violation("in the connection table")
		}
		if err := c.CheckInvariants(); err != nil {
			return err
		}
		d := c.earliest()
		switch {
		case d.IsZero() && c.hidx >= 0:
			return c.violation("in the timer heap with no timer running")
		case !d.IsZero() && (c.hidx < 0 || int(c.hidx) >= len(l.timers) || l.timers[c.hidx] != c || !c.due.Equal(d)):
			return c.violation("timer heap entry missing or stale (due %v, earliest %v)", c.due, d)
		}
	}
	for i := 1; i < len(l.timers); i++ {
		if l.timers.less(i, (i-1)/2) || l.timers[i].idx < 0 {
			return fmt.Errorf("%w: timer heap order broken at %d", ErrInvariant, i)
		}
	}
	return nil
}

// checkBudgets checks the layer-wide memory counts against their sums over
// the connections: out-of-order octets held (within MaxOOOBytes) and
// auto-tuned buffer growth (autotune.go, within BufBudget).
func (l *Layer) checkBudgets() error {
	ooo, grown := 0, 0
	for _, c := range l.conns {
		n := 0
		for _, r := range c.rcv.buf.ooo {
			n += int(r.end - r.start)
		}
		if n != c.rcv.oooHeld {
			return c.violation("holds %d octets out of order, counted %d", n, c.rcv.oooHeld)
		}
		ooo += n
		grown += c.bufGrown
	}
	if grown != l.bufGrown || grown > l.cfg.BufBudget {
		return fmt.Errorf("%w: buffers grown by %d octets, counted %d, budget %d", ErrInvariant, grown, l.bufGrown, l.cfg.BufBudget)
	}
	if ooo != l.oooBytes || ooo > l.cfg.MaxOOOBytes {
		return fmt.Errorf("%w: %d out-of-order octets held, counted %d, bound %d", ErrInvariant, ooo, l.oooBytes, l.cfg.MaxOOOBytes)
	}
	return nil
}

// checkListeners checks each listener: registered under its own key and
// open, its embryonic connections and accept queue within their backlogs
// and linked back to it.
func (l *Layer) checkListeners() error {
	for k, ln := range l.listeners {
		if ln.key != k || ln.closed {
			return fmt.Errorf("%w: listener :%d registered under the wrong key or closed", ErrInvariant, k.port)
		}
		if n := len(ln.embryos); n > ln.synBacklog {
			return fmt.Errorf("%w: listener :%d holds %d embryonic connections, SYN backlog %d", ErrInvariant, k.port, n, ln.synBacklog)
		}
		if n := len(ln.queue); n > ln.backlog {
			return fmt.Errorf("%w: listener :%d holds %d connections to accept, backlog %d", ErrInvariant, k.port, n, ln.backlog)
		}
		for _, c := range ln.embryos {
			if c.idx < 0 || c.ln != ln {
				return c.violation("embryo of listener :%d not in the table or not linked back", k.port)
			}
		}
		for _, c := range ln.queue {
			if c.ln != ln || !c.queued {
				return c.violation("accept-queue entry of listener :%d not linked back", k.port)
			}
		}
	}
	return nil
}

// checkRecords checks the TIME-WAIT records (timewait.go): the map and the
// deadline heap agree, no 4-tuple is both a record and a connection, and each
// record, rehydrated, passes Conn.CheckInvariants (TIME-WAIT with its 2*MSL
// timer, nothing in flight).
func (l *Layer) checkRecords() error {
	if len(l.tw) != len(l.twHeap) {
		return fmt.Errorf("%w: %d TIME-WAIT records but %d deadlines", ErrInvariant, len(l.tw), len(l.twHeap))
	}
	for i, r := range l.twHeap {
		if int(r.hidx) != i || l.tw[r.key] != r {
			return fmt.Errorf("%w: TIME-WAIT record heap index %d (recorded %d) or map entry wrong", ErrInvariant, i, r.hidx)
		}
		if i > 0 && l.twHeap.less(i, (i-1)/2) {
			return fmt.Errorf("%w: TIME-WAIT record heap order broken at %d", ErrInvariant, i)
		}
	}
	var c Conn
	for k, r := range l.tw {
		l.twLoad(&c, r)
		if r.key != k {
			return c.violation("TIME-WAIT record under the wrong key")
		}
		if _, ok := l.demux[k]; ok {
			return c.violation("both a connection and a TIME-WAIT record")
		}
		if t := &r.tcb; t.SndUna != t.SndNxt {
			return c.violation("TIME-WAIT record with %d octets in flight", uint32(t.SndNxt-t.SndUna))
		}
		if err := c.CheckInvariants(); err != nil {
			return err
		}
	}
	return nil
}

// connShadow is what InvariantChecker remembers of one connection between
// two checks.
type connShadow struct {
	gen     uint64
	state   State
	synced  bool         // RCV.NXT is defined (past SYN-SENT)
	rcvNxt  seqnum.Value // RCV.NXT at the last check
	edge    seqnum.Value // RCV.NXT + RCV.WND at the last check
	sndUna  seqnum.Value
	sndNxt  seqnum.Value
	finSent bool
	finNxt  seqnum.Value // SND.NXT once our FIN was sent: FIN seq + 1
	twSince time.Time    // when TIME-WAIT began (zero: not in TIME-WAIT)
}

// InvariantChecker checks the invariants that compare a connection with its
// previous check: RCV.NXT never moves back, the right edge of the receive
// window RCV.NXT+RCV.WND never moves left (RFC 9293 §3.8.6, SHLD-14),
// SND.UNA and SND.NXT never move back, our FIN takes one sequence number
// only, and TIME-WAIT lasts at least 2*MSL (MUST-13). It keeps its shadow
// state outside the connections; feed it with Check after every step (input
// frame, timer poll, user call). The zero value is not ready: use
// NewInvariantChecker.
type InvariantChecker struct {
	gen     uint64
	conns   map[*Conn]*connShadow
	recs    map[connKey]*connShadow // TIME-WAIT records, by 4-tuple
	tmp     Conn                    // a record rehydrated for the checks
	segsIn  uint64                  // layer's SegsIn at the last check
	twAbort uint64                  // hits of TIME-WAIT ABORT rows at the last check
}

// NewInvariantChecker returns a checker with no history.
func NewInvariantChecker() *InvariantChecker {
	return &InvariantChecker{conns: make(map[*Conn]*connShadow), recs: make(map[connKey]*connShadow)}
}

// Check runs Layer.CheckInvariants and the step-to-step checks on l at time
// now. Use one checker per layer.
func (k *InvariantChecker) Check(now time.Time, l *Layer) error {
	if err := l.CheckInvariants(); err != nil {
		return err
	}
	k.gen++
	msl2 := 2 * l.cfg.MSL
	// Inputs and aborts since the last check explain an early end of
	// TIME-WAIT (a RST, a reopening SYN, ABORT); nothing else may end it.
	var twAbort uint64
	for i := range Rules {
		if Rules[i].State == StateTimeWait && Rules[i].Event == EvAbort {
			twAbort += l.ctr.RuleHits[i]
		}
	}
	explained := l.ctr.SegsIn != k.segsIn || twAbort != k.twAbort
	k.segsIn, k.twAbort = l.ctr.SegsIn, twAbort
	for _, c := range l.conns {
		sh := k.conns[c]
		if sh == nil {
			sh = &connShadow{}
			k.conns[c] = sh
		} else if err := sh.compare(c, now, msl2, explained); err != nil {
			return err
		}
		sh.fill(c, now)
		sh.gen = k.gen
	}
	for c, sh := range k.conns {
		if sh.gen == k.gen {
			continue
		}
		// Gone from the table since the last check.
		delete(k.conns, c)
		if l.tw[c.key] != nil && k.recs[c.key] == nil {
			k.recs[c.key] = sh // compacted: its record carries its history
			continue
		}
		if !sh.twSince.IsZero() && now.Sub(sh.twSince) < msl2 && !explained {
			return c.violation("left TIME-WAIT after %v, before 2*MSL = %v, with no input or ABORT (MUST-13)", now.Sub(sh.twSince), msl2)
		}
	}
	// TIME-WAIT records get the same checks, on a rehydrated TCB.
	c := &k.tmp
	for key, r := range l.tw {
		l.twLoad(c, r)
		sh := k.recs[key]
		if sh == nil {
			sh = &connShadow{}
			k.recs[key] = sh
		} else if err := sh.compare(c, now, msl2, explained); err != nil {
			return err
		}
		sh.fill(c, now)
		sh.gen = k.gen
	}
	for key, sh := range k.recs {
		if sh.gen == k.gen {
			continue
		}
		delete(k.recs, key)
		if !sh.twSince.IsZero() && now.Sub(sh.twSince) < msl2 && !explained {
			c.key = key
			c.state = StateClosed
			return c.violation("TIME-WAIT record released after %v, before 2*MSL = %v, with no input or ABORT (MUST-13)", now.Sub(sh.twSince), msl2)
		}
	}
	return nil
}

// Tracked returns how many connections (and TIME-WAIT records) the checker
// holds history for.
func (k *InvariantChecker) Tracked() int { return len(k.conns) + len(k.recs) }

// fill records c's current values.
func (sh *connShadow) fill(c *Conn, now time.Time) {
	t := &c.tcb
	if c.state == StateTimeWait && sh.state != StateTimeWait {
		sh.twSince = now
	}
	if c.state != StateTimeWait {
		sh.twSince = time.Time{}
	}
	sh.state = c.state
	sh.synced = c.state != StateSynSent
	sh.rcvNxt = t.RcvNxt
	sh.edge = t.RcvNxt.Add(seqnum.Size(c.rcv.wnd()))
	sh.sndUna, sh.sndNxt = t.SndUna, t.SndNxt
	if c.snd.finSent && !sh.finSent {
		sh.finSent, sh.finNxt = true, t.SndNxt
	}
}

// compare checks c against the values recorded at the previous check.
func (sh *connShadow) compare(c *Conn, now time.Time, msl2 time.Duration, explained bool) error {
	t := &c.tcb
	if sh.synced && c.state != StateSynSent {
		if t.RcvNxt.LessThan(sh.rcvNxt) {
			return c.violation("RCV.NXT moved back from %d to %d", sh.rcvNxt, t.RcvNxt)
		}
		if edge := t.RcvNxt.Add(seqnum.Size(c.rcv.wnd())); edge.LessThan(sh.edge) {
			return c.violation("right edge of the receive window moved left from %d to %d (SHLD-14)", sh.edge, edge)
		}
	}
	if t.SndUna.LessThan(sh.sndUna) {
		return c.violation("SND.UNA moved back from %d to %d", sh.sndUna, t.SndUna)
	}
	if t.SndNxt.LessThan(sh.sndNxt) {
		return c.violation("SND.NXT moved back from %d to %d", sh.sndNxt, t.SndNxt)
	}
	if sh.finSent && t.SndNxt != sh.finNxt {
		return c.violation("SND.NXT moved from %d to %d after our FIN: a second FIN sequence number", sh.finNxt, t.SndNxt)
	}
	if c.state == StateTimeWait {
		since := sh.twSince
		if since.IsZero() {
			since = now
		}
		if c.l.time(c.twAt).Before(since.Add(msl2)) {
			return c.violation("TIME-WAIT timer at %v, less than 2*MSL after it began at %v (MUST-13)", c.l.time(c.twAt).Sub(since), since)
		}
	}
	if sh.state == StateTimeWait && c.state != StateTimeWait && now.Sub(sh.twSince) < msl2 && !explained {
		return c.violation("left TIME-WAIT after %v (MUST-13)", now.Sub(sh.twSince))
	}
	return nil
}

// firedImpossible names the rows marked impossible in the spec that fired,
// by their hits.
func firedImpossible(rules []Rule, hits []uint64) string {
	var b []byte
	for i := range rules {
		if rules[i].Outcome == OutImpossible && hits[i] != 0 {
			if b != nil {
				b = append(b, "; "...)
			}
			b = fmt.Appendf(b, "%s (%d)", rules[i].String(), hits[i])
		}
	}
	return string(b)
}
