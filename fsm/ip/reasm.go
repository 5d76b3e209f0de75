package ip

import (
	"bytes"
	"fmt"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// fragKey identifies a datagram being reassembled (RFC 791 §3.2).
type fragKey struct {
	src, dst wire.Addr
	proto    uint8
	id       uint16
}

// span is a received byte range [off, end) of a datagram's payload.
type span struct{ off, end int }

// entry is one slot of the reassembly table: a frag machine and its buffer.
// Buffers keep their capacity when a slot is reused, so steady-state
// reassembly does not allocate.
type entry struct {
	state    FragState
	used     bool // the slot belongs to key: claimed by Create, freed by Forget only (spec/frag.fsm)
	key      fragKey
	created  time.Time
	deadline time.Time
	buf      []byte // payload bytes at their offsets
	spans    []span // received ranges, sorted, disjoint
	total    int    // payload length once the last fragment arrived, else -1
	held     int    // bytes counted against MemHigh
	first    [wire.IPv4MaxHeaderLen + 8]byte
	firstLen int // IHL + up to 8 payload bytes of fragment 0; 0 if not held
	firstIHL int
}

// reasm is the reassembly table and the fragment being processed.
type reasm struct {
	table   []entry
	scratch entry // runs the machine for a datagram the table has no room for
	mem     int
	timed   int    // table slots whose reassembly timer runs (Partial, Poisoned)
	pending *entry // Complete entry whose payload the caller may still read
	now     time.Time
	expired func(firstFragment []byte)

	// the fragment being processed
	fe    *entry
	fOff  int
	fData []byte
	fMF   bool
	fNew  bool // fe is not in the table (Empty)
	fRoom bool // room for a new reassembly
}

func (ra *reasm) init(cfg Config) {
	ra.table = make([]entry, cfg.MaxReassemblies)
}

// reassemble feeds r.pkt, a fragment for us, to its datagram's machine and
// reports whether that completed the datagram (then in r.d).
func (r *Receiver) reassemble() bool {
	r.c.Fragments++
	ip := r.pkt
	k := fragKey{ip.Src(), ip.Dst(), ip.Protocol(), ip.ID()}
	r.fOff, r.fData, r.fMF = ip.FragOffset(), ip.Payload(), ip.MoreFragments()
	e, free := r.lookup(k)
	r.fNew, r.fRoom = e == nil, true
	if e == nil {
		need := len(r.fData)
		if free == nil || r.mem+need > r.cfg.MemHigh {
			r.evict(free == nil, need)
			_, free = r.lookup(k)
		}
		if free == nil || r.mem+need > r.cfg.MemHigh {
			r.fRoom = false
			free = &r.scratch
			*free = entry{buf: free.buf[:0], spans: free.spans[:0]}
		}
		e = free
		e.key = k // the slot is claimed only if the machine runs Create
	} else {
		r.fRoom = r.mem+len(r.fData) <= r.cfg.MemHigh
	}
	r.fe = e
	rule := r.stepFrag(e, FragEvFragArrive)
	r.fe = nil
	if rule.Outcome == FragOutContinue && e.state == FragStateComplete {
		r.c.Reassembled++
		return true
	}
	return false
}

// lookup returns the slot holding k (nil if none) and a free slot (nil if none).
func (r *Receiver) lookup(k fragKey) (found, free *entry) {
	for i := range r.table {
		e := &r.table[i]
		if !e.used {
			if free == nil {
				free = e
			}
			continue
		}
		if e.key == k {
			found = e
		}
	}
	return found, free
}

// evict frees the oldest reassemblies (RFC 1122 §3.3.2 leaves the policy to
// us; Linux and gVisor evict oldest first) until a slot is free if needSlot,
// and the held bytes plus need are at most MemLow if they would pass MemHigh.
func (r *Receiver) evict(needSlot bool, need int) {
	overHigh := r.mem+need > r.cfg.MemHigh
	for {
		slotOK := !needSlot
		if needSlot {
			for i := range r.table {
				if !r.table[i].used {
					slotOK = true
					break
				}
			}
		}
		memOK := !overHigh || r.mem+need <= r.cfg.MemLow
		if slotOK && memOK {
			return
		}
		var oldest *entry
		for i := range r.table {
			e := &r.table[i]
			if (e.state == FragStatePartial || e.state == FragStatePoisoned) && (oldest == nil || e.created.Before(oldest.created)) {
				oldest = e
			}
		}
		if oldest == nil {
			return
		}
		r.stepFrag(oldest, FragEvEvict)
	}
}

// stepFrag runs one event through e's machine (spec/frag.fsm).
func (r *Receiver) stepFrag(e *entry, ev FragEvent) *FragRule {
	prev := r.fe
	r.fe = e
	rule := r.frag.Step(fragRun{r}, e.state, ev)
	if e != &r.scratch && timed(e.state) != timed(rule.Next) {
		if timed(rule.Next) {
			r.timed++
		} else {
			r.timed--
		}
	}
	e.state = rule.Next
	if rule.Outcome == FragOutDrop {
		r.lastFrag = rule.Reason
	}
	r.fe = prev
	return rule
}

// timed reports whether a reassembly in state s has its timer running
// (NextDeadline reports its deadline): Partial and Poisoned.
func timed(s FragState) bool { return s == FragStatePartial || s == FragStatePoisoned }

// release frees the slot of the datagram the last call delivered.
func (r *Receiver) release() {
	if e := r.pending; e != nil {
		r.pending = nil
		r.stepFrag(e, FragEvRelease)
	}
}

// Poll expires reassemblies whose timeout passed (RFC 1122 §3.3.2). For each
// one that held fragment 0, expired receives that fragment's IP header and
// first 8 payload bytes (valid during the call) so the caller can send ICMP
// Time Exceeded code 1.
func (r *Receiver) Poll(now time.Time, expired func(firstFragment []byte)) {
	r.release()
	if r.timed == 0 {
		return
	}
	r.now, r.expired = now, expired
	for i := range r.table {
		e := &r.table[i]
		if timed(e.state) && !now.Before(e.deadline) {
			r.stepFrag(e, FragEvTimeout)
			if e.state == FragStateExpired {
				r.stepFrag(e, FragEvRelease)
			}
		}
	}
	r.expired = nil
}

// NextDeadline returns when Poll next has work, or the zero time if never.
func (r *Receiver) NextDeadline() time.Time {
	if r.timed == 0 {
		return time.Time{} // the common case, asked after every batch: no scan
	}
	var t time.Time
	for i := range r.table {
		e := &r.table[i]
		if timed(e.state) && (t.IsZero() || e.deadline.Before(t)) {
			t = e.deadline
		}
	}
	return t
}

// HeldBytes returns the fragment bytes held for reassembly (bounded by MemHigh).
func (r *Receiver) HeldBytes() int { return r.mem }

// Reassemblies returns the number of table slots in use.
func (r *Receiver) Reassemblies() int {
	n := 0
	for i := range r.table {
		if r.table[i].used {
			n++
		}
	}
	return n
}

// fragRun is the context of one step of a reassembly machine: the
// Receiver, whose r.fe and fragment being processed the guards and actions
// below read (FragImpl).
type fragRun struct{ *Receiver }

// fragEnd is the end offset of the fragment being processed.
func (r *Receiver) fragEnd() int { return r.fOff + len(r.fData) }

// covered returns how many payload bytes e holds.
func (e *entry) covered() int {
	n := 0
	for _, s := range e.spans {
		n += s.end - s.off
	}
	return n
}

// GuardMalformed: RFC 791 §3.2: every fragment but the last carries a
// non-empty multiple of 8 bytes.
func (r fragRun) GuardMalformed() bool {
	return r.fMF && (len(r.fData) == 0 || len(r.fData)%8 != 0)
}

// GuardTooBig: RFC 1122 §3.3.2 (EMTU_R): the datagram would exceed MaxDatagram.
func (r fragRun) GuardTooBig() bool {
	return r.fragEnd()+wire.IPv4MinHeaderLen > r.cfg.MaxDatagram
}

// GuardNoRoom: no slot or memory is left for a new reassembly (RFC 1122
// §3.3.2), even after eviction.
func (r fragRun) GuardNoRoom() bool { return !r.fRoom }

// GuardTooMany: the datagram holds Config.MaxFragments fragments already.
func (r fragRun) GuardTooMany() bool { return len(r.fe.spans) >= r.cfg.MaxFragments }

// GuardDuplicate: RFC 815 §7: a fragment wholly inside received data with the
// same bytes (and, if last, the same end) is a harmless duplicate.
func (r fragRun) GuardDuplicate() bool {
	e, off, end := r.fe, r.fOff, r.fragEnd()
	if !r.fMF && e.total != end {
		return false
	}
	if r.fMF && e.total >= 0 && end > e.total {
		return false
	}
	at := off
	for _, s := range e.spans {
		if s.off <= at && at < s.end {
			at = s.end
		}
	}
	return at >= end && bytes.Equal(e.buf[off:end], r.fData)
}

// GuardOverlaps: RFC 5722 §4 applied to IPv4: overlap with different data, or a
// contradiction of the datagram's end.
func (r fragRun) GuardOverlaps() bool {
	e, off, end := r.fe, r.fOff, r.fragEnd()
	for _, s := range e.spans {
		if off < s.end && s.off < end {
			return true
		}
	}
	if e.total >= 0 && (end > e.total || !r.fMF && end != e.total) {
		return true
	}
	if !r.fMF && len(e.spans) > 0 && e.spans[len(e.spans)-1].end > end {
		return true
	}
	return false
}

// GuardCompletes: RFC 815 §3: no holes remain once this fragment is stored.
func (r fragRun) GuardCompletes() bool {
	total := r.fe.total
	if !r.fMF {
		total = r.fragEnd()
	}
	return total >= 0 && r.fe.covered()+len(r.fData) == total
}

// GuardHaveFirst: fragment 0 arrived, so an ICMP Time Exceeded can quote it
// (RFC 1122 §3.3.2).
func (r fragRun) GuardHaveFirst() bool { return r.fe.firstLen > 0 }

// ActCreate starts a reassembly in the slot: its timer runs from now (RFC
// 1122 §3.3.2).
func (r fragRun) ActCreate() {
	e := r.fe
	e.used = e != &r.scratch
	e.created, e.deadline = r.now, r.now.Add(r.cfg.ReassemblyTimeout)
	e.total, e.held, e.firstLen, e.firstIHL = -1, 0, 0, 0
	e.spans = e.spans[:0]
}

// ActStore copies the fragment into the buffer at its offset and records
// its span (RFC 815 §3); fragment 0 also keeps its header for ICMP quotes.
func (r fragRun) ActStore() {
	e, off, end := r.fe, r.fOff, r.fragEnd()
	if len(e.buf) < end {
		if cap(e.buf) < end {
			nb := make([]byte, end, max(end, min(2*cap(e.buf), r.cfg.MaxDatagram)))
			copy(nb, e.buf)
			e.buf = nb
		}
		e.buf = e.buf[:end]
	}
	copy(e.buf[off:end], r.fData)
	i := 0
	for i < len(e.spans) && e.spans[i].off < off {
		i++
	}
	if e.spans == nil {
		e.spans = make([]span, 0, r.cfg.MaxFragments)
	}
	e.spans = append(e.spans, span{})
	copy(e.spans[i+1:], e.spans[i:])
	e.spans[i] = span{off, end}
	if !r.fMF {
		e.total = end
	}
	e.held += len(r.fData)
	r.mem += len(r.fData)
	if off == 0 {
		ihl := r.pkt.IHL()
		e.firstIHL = ihl
		e.firstLen = copy(e.first[:], r.pkt[:min(ihl+8, len(r.pkt))])
	}
}

// ActAssemble describes the completed datagram in r.d; the slot is freed on
// the next call (Release).
func (r fragRun) ActAssemble() {
	e := r.fe
	h := wire.IPv4(e.first[:e.firstLen])
	*r.d = Datagram{
		Src: e.key.src, Dst: e.key.dst, Proto: e.key.proto, TTL: h.TTL(), TOS: h.TOS(),
		Broadcast: r.broadcast,
		Header:    e.first[:e.firstIHL:e.firstIHL],
		Payload:   e.buf[:e.total:e.total],
	}
	r.pending = e
}

// ActDiscard gives the held bytes back to the memory budget.
func (r fragRun) ActDiscard() { r.free(r.fe) }

// ActSendTimeExceeded asks the caller for ICMP Time Exceeded code 1 (RFC
// 1122 §3.3.2 SHOULD), quoting fragment 0.
func (r fragRun) ActSendTimeExceeded() {
	if r.expired != nil {
		r.expired(r.fe.first[:r.fe.firstLen])
	}
}

// ActForget frees the slot for another datagram. It gives no bytes back:
// that is Discard's, so a row that forgets either leaves a trace the
// invariants see (CheckInvariants).
func (r fragRun) ActForget() {
	r.fe.used = false
	r.fe.key = fragKey{}
	r.fe.firstLen = 0
}

// free returns e's held bytes to the memory budget; the buffer keeps its capacity.
func (r *Receiver) free(e *entry) {
	r.mem -= e.held
	e.held = 0
	e.spans = e.spans[:0]
	e.buf = e.buf[:0]
}

// firstQuote returns the held fragment 0 of the datagram just completed:
// its IP header and first 8 payload bytes.
func (r *Receiver) firstQuote() []byte {
	if r.pending == nil {
		return nil
	}
	return r.pending.first[:r.pending.firstLen]
}

// CheckInvariants checks the reassembly table against the machine that owns
// each slot (spec/frag.fsm): a slot is claimed (Create) exactly when its
// machine is out of Empty, so a row that reaches Empty without Forget, or
// leaves it without Create, is reported; a slot holds bytes only while
// Partial or Complete (Discard gave back the rest), and the bytes held add
// up to the memory counted against MemHigh; and no row marked impossible in
// spec/ipv4.fsm or spec/frag.fsm ever fired (Counters.Internal and
// FragInternal are 0). nil means all hold.
func (r *Receiver) CheckInvariants() error {
	if r.c.Internal != 0 || r.c.FragInternal != 0 {
		return fmt.Errorf("ip: impossible rows fired: %d of spec/ipv4.fsm (ip.Internal), %d of spec/frag.fsm (ip.FragInternal)", r.c.Internal, r.c.FragInternal)
	}
	held, nTimed := 0, 0
	for i := range r.table {
		e := &r.table[i]
		if timed(e.state) {
			nTimed++
		}
		if e.used != (e.state != FragStateEmpty) {
			return fmt.Errorf("ip: reassembly slot %d in %v is claimed=%v (Create and Forget must pair with leaving and entering Empty)", i, e.state, e.used)
		}
		if e.held != 0 && e.state != FragStatePartial && e.state != FragStateComplete {
			return fmt.Errorf("ip: reassembly slot %d in %v still holds %d bytes (Discard missing)", i, e.state, e.held)
		}
		held += e.held
	}
	if held != r.mem {
		return fmt.Errorf("ip: reassembly slots hold %d bytes, counted %d", held, r.mem)
	}
	if nTimed != r.timed {
		return fmt.Errorf("ip: %d reassembly slots have a timer running, counted %d", nTimed, r.timed)
	}
	return nil
}
