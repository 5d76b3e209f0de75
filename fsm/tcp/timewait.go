package tcp

import (
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
)

// twRecord is a connection in TIME-WAIT that nobody can use any more (the
// user closed it): the few variables the TIME-WAIT rows of the table read,
// in place of the full Conn (RFC 9293 §3.6.1, §3.10.7.4; the idea is
// Linux's inet_timewait_sock). A segment for its 4-tuple rehydrates a
// scratch Conn from it (twLoad), the table runs as for any connection, and
// the result is written back (twStore) or the record is deleted when the
// connection left TIME-WAIT.
type twRecord struct {
	key         connKey
	hidx        int32  // index in Layer.twHeap
	gen         uint32 // matches Conn.twGen of the Conn it replaced
	at          tick   // the 2*MSL deadline (MUST-13)
	tcb         TCB
	rcvEdge     seqnum.Value
	lastAckSent seqnum.Value
	maxSndWnd   uint32
	tsRecent    uint32
	tsOffset    uint32
	tsRTOFloor  uint32
	tsRecentAt  tick
	chalStart   tick
	oowLast     tick // Conn.oowLast: the OOWAckInterval limit outlives compaction (Linux's tw_last_oow_ack_time)
	chalN       int32
	sndMSS      int32
	sndShift    uint8
	rcvShift    uint8
	tos, ttl    uint8 // the connection's Diffserv field and TTL (SHLD-22)
	flags       twFlags
	rule        uint16 // Conn.rule: the row that last decided (in the padding after flags)
}

// twFlags are the record's booleans.
type twFlags uint8

const (
	twTSOK twFlags = 1 << iota
	twSACKOK
	twPassive
	twFinQueued
	twFinSent
	twFinRcvd
)

// compactible reports whether c may become a TIME-WAIT record: it is in
// TIME-WAIT, its user closed it (no descriptor can read it), and it holds
// nothing but sequence state: no data, no timer but the 2*MSL one (the
// keep-alive timer only restarts in TIME-WAIT), no listener link.
func (c *Conn) compactible() bool {
	return c.state == StateTimeWait && c.userClosed && c.idx >= 0 && !c.l.twFull &&
		c.snd.rtxAt.IsZero() && c.rcv.delackAt.IsZero() && !c.twAt.IsZero() && !c.rcv.ackNow &&
		c.snd.buf.n == 0 && c.rcv.buf.unread == 0 && len(c.rcv.buf.ooo) == 0 && c.rcv.oooHeld == 0 &&
		c.ln == nil && !c.queued && !c.rcv.finHeld && c.err == nil
}

// compact replaces c by a TIME-WAIT record: c leaves the connection table,
// the demultiplexing map and the timer heap, and is no longer referenced by
// the layer.
func (l *Layer) compact(c *Conn) {
	r := new(twRecord)
	l.twStore(r, c)
	l.remove(c)
	r.hidx = -1
	l.twGen++
	if l.twGen == 0 {
		l.twGen++
	}
	r.gen, c.twGen = l.twGen, l.twGen
	l.tw[r.key] = r
	l.twHeap.push(r)
}

// record returns the live TIME-WAIT record that replaced c, or nil: the
// user's Conn reports the record's state until it is released.
func (c *Conn) record() *twRecord {
	if c.twGen == 0 {
		return nil
	}
	if r := c.l.tw[c.key]; r != nil && r.gen == c.twGen {
		return r
	}
	return nil
}

// twStore writes c's TIME-WAIT variables into r.
func (l *Layer) twStore(r *twRecord, c *Conn) {
	r.key = c.key
	r.at = c.twAt
	r.tcb = c.tcb
	r.rcvEdge = c.rcv.edge
	r.lastAckSent = c.rcv.lastAckSent
	r.maxSndWnd = c.snd.maxWnd
	r.tsRecent, r.tsOffset, r.tsRTOFloor = c.rcv.tsRecent, c.tsOffset, c.snd.tsRTOFloor
	r.tsRecentAt = c.rcv.tsRecentAt
	r.chalStart, r.chalN = c.lim.chalStart, int32(c.lim.chalN)
	r.oowLast = c.lim.oowLast
	r.sndMSS = int32(c.snd.mss)
	r.sndShift, r.rcvShift = c.snd.shift, c.rcv.shift
	r.tos, r.ttl = c.tos, c.ttl
	r.rule = c.rule
	var f twFlags
	for _, b := range [...]struct {
		on bool
		f  twFlags
	}{{c.tsOK, twTSOK}, {c.sackOK, twSACKOK}, {c.passive, twPassive}, {c.snd.finQueued, twFinQueued}, {c.snd.finSent, twFinSent}, {c.rcv.finRcvd, twFinRcvd}} {
		if b.on {
			f |= b.f
		}
	}
	r.flags = f
}

// twLoad makes c the connection r stands for: a closed-by-user TCB in
// TIME-WAIT, in no table, with no buffers.
func (l *Layer) twLoad(c *Conn, r *twRecord) {
	l.initConn(c)
	c.key = r.key
	c.state = StateTimeWait
	c.userClosed = true
	c.twAt = r.at
	c.tcb = r.tcb
	c.snd.bufSeq = r.tcb.SndNxt
	c.rcv.edge = r.rcvEdge
	// The window may have been auto-tuned past the initial ring: the
	// (never allocated) ring covers what was promised.
	c.rcv.buf.size = max(c.rcv.buf.size, int(c.rcv.wnd()))
	c.rcv.lastAckSent = r.lastAckSent
	c.snd.maxWnd = r.maxSndWnd
	c.rcv.tsRecent, c.tsOffset, c.snd.tsRTOFloor = r.tsRecent, r.tsOffset, r.tsRTOFloor
	c.rcv.tsRecentAt = r.tsRecentAt
	c.lim.chalStart, c.lim.chalN = r.chalStart, int(r.chalN)
	c.lim.oowLast = r.oowLast
	c.snd.mss = int(r.sndMSS)
	c.snd.shift, c.rcv.shift = r.sndShift, r.rcvShift
	c.tos, c.ttl = r.tos, r.ttl
	c.rule = r.rule
	c.tsOK = r.flags&twTSOK != 0
	c.sackOK = r.flags&twSACKOK != 0
	c.passive = r.flags&twPassive != 0
	c.snd.finQueued = r.flags&twFinQueued != 0
	c.snd.finSent = r.flags&twFinSent != 0
	c.rcv.finRcvd = r.flags&twFinRcvd != 0
}

// twDone ends a step of the rehydrated c for record r: written back while c
// stays in TIME-WAIT (its deadline may have moved: a retransmitted FIN
// restarts 2*MSL), else the record is released.
func (l *Layer) twDone(r *twRecord, c *Conn) {
	if c.state == StateTimeWait && !c.twAt.IsZero() {
		at := r.at
		l.twStore(r, c)
		if !r.at.Equal(at) {
			l.twHeap.fix(r)
		}
		return
	}
	l.twHeap.remove(r)
	delete(l.tw, r.key)
}

// twInput runs SEGMENT ARRIVES for a 4-tuple held as a TIME-WAIT record
// (RFC 9293 §3.10.7.4 TIME-WAIT rows: retransmitted FIN, RST, SYN reopen
// (MAY-2), challenge ACKs) on a rehydrated scratch TCB.
func (l *Layer) twInput(now time.Time, r *twRecord, s *segment) {
	c := &l.twc
	l.twLoad(c, r)
	l.segmentArrives(c, s)
	l.finish(c, now)
	l.twDone(r, c)
}

// twPoll expires the TIME-WAIT records due at now through the table's
// TIME-WAIT timeout row (RFC 9293 §3.10.8), releasing them.
func (l *Layer) twPoll(now time.Time) {
	for len(l.twHeap) > 0 && !l.twHeap[0].at.After(l.tick(now)) {
		l.twExpire(now, l.twHeap[0])
	}
}

// twExpire ends record r through the table's TIME-WAIT timeout row.
func (l *Layer) twExpire(now time.Time, r *twRecord) {
	c := &l.twc
	l.twLoad(c, r)
	c.twAt = 0
	l.run(c, EvTimeoutTimeWait, l.userCall(now))
	l.finish(c, now)
	l.twDone(r, c)
}

// twRecycle makes room for the connection the SYN s would open on the
// scratch TCB c (LISTEN, its foreign socket filled in) when the layer holds
// Config.MaxConns connections: if the table's LISTEN row for s is the one
// that opens an embryo (not a cookie, a full queue's drop or a closed
// listener's), the TIME-WAIT record nearest its 2*MSL ends now, through the
// same timeout row, and twRecycle reports true (Counters.TimeWaitRecycled).
// A server that closes first keeps a record per connection for 2*MSL, so
// past MaxConns/(2*MSL) new connections a second (1,092 with the defaults)
// its records alone would otherwise refuse every SYN; Linux likewise keeps
// no TIME-WAIT past tcp_max_tw_buckets rather than refuse connections. A
// SYN flood fills the SYN queue and is answered with cookies, which recycle
// nothing.
func (l *Layer) twRecycle(now time.Time, c *Conn, s *segment) bool {
	if len(l.twHeap) == 0 {
		return false
	}
	if r := l.m.Match(tcpRun{c, s}, c.state, FirstStage(c.state)); r == nil || r.Next != StateSynReceived {
		return false
	}
	l.twExpire(now, l.twHeap[0])
	l.ctr.TimeWaitRecycled++
	return true
}

// nconns is the number of connections, full or TIME-WAIT records: the one
// Config.MaxConns bounds.
func (l *Layer) nconns() int { return len(l.conns) + len(l.tw) }

// twHeap orders the TIME-WAIT records by deadline.
type twHeap = deadlineHeap[*twRecord]

func (r *twRecord) heapKey() tick      { return r.at }
func (r *twRecord) heapIndex() int     { return int(r.hidx) }
func (r *twRecord) setHeapIndex(i int) { r.hidx = int32(i) }
