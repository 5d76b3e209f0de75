package tcp

import (
	"encoding/binary"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// Receive coalescing, as Linux's GRO (net/ipv4/tcp_offload.c,
// tcp_gro_receive): between BeginBatch and EndBatch (the frames of one read
// from the link) consecutive in-order data segments of one ESTABLISHED
// connection are processed as one segment, so the table runs, the
// connection's timers and output are visited and its ACK is decided once
// for the run instead of once per segment. Each segment is still parsed,
// its checksum verified and counted (SegsIn); every segment after the first
// of a run is counted in SegsCoalesced, and the rows of spec/tcp.fsm that
// process the run fire once for it, as Linux's MIB counts a merged packet.
// The text is not copied to merge it: the coalesced segment keeps the
// received segments' texts as pieces (segment.more), which the receive
// buffer takes one after the other (one copy, as for a single segment).
//
// A run starts with a segment that carries text, ACK and no other flag but
// PSH, is not CE-marked, lies in its received frame (SegMeta.Stable), starts
// at RCV.NXT of an ESTABLISHED connection that holds no out-of-order data
// and ends within the window. A
// segment joins it when it arrives at the same time, from the same
// addresses with the same TOS, starts where the run ends, still fits the
// window and maxCoalesce, and its header is the first's but for the
// sequence number, the checksum and PSH: the same ports, acknowledgment
// number, flags, window and option octets (timestamps included; Linux
// also asks byte-identical options). Any other segment, or an ICMP error,
// or EndBatch, first processes the run held. Segments processed alone and
// in a run leave the connection with the same data, RCV.NXT, TS.Recent,
// SND.UNA and window; what differs is what Linux's GRO changes too: SND.WL1
// is the run's first sequence number, and the run is ACKed as one segment
// (TestCoalescedSameAsAlone). With hooks on the machine (the stack's journey
// trace, spec-row coverage) every segment runs the table alone, so each
// one's rows are seen.

// maxCoalesce bounds the text of one coalesced segment, as Linux's GRO
// bounds a merged packet (64 KiB): the ACK of a run covers at most this
// much (maxStretch).
const maxCoalesce = 64 << 10

// maxPieces bounds the segments of one run: a read from the link returns
// at most driver.DefaultBatch (64) frames.
const maxPieces = 64

// groRun is the run held for coalescing: its first segment, parsed, and
// the texts of the segments that joined it.
type groRun struct {
	c      *Conn    // the connection; nil when no run is held
	seg    segment  // the first segment, parsed (text: its text)
	hdr    []byte   // the first segment's TCP header as received
	pieces [][]byte // the texts of the segments that joined, in order
	next   seqnum.Value
	bytes  int // octets of text in the run
	piece  int // the largest text of a segment in the run
	psh    bool
}

// groStart holds s (parsed by input, with its TCP header hdr) as the start
// of a run if it may start one, and reports whether it did.
func (l *Layer) groStart(s *segment, hdr []byte) bool {
	if !l.batch.on || l.cfg.NoRecvCoalescing || l.m.Hooks.Row != nil || l.m.Hooks.Drop != nil {
		return false
	}
	n := len(s.text)
	if n == 0 || n >= maxCoalesce || s.flags&^wire.FlagPSH != wire.FlagACK || s.tos&ECNMask == ECNCE {
		return false
	}
	c := l.demux[connKey{s.dst, s.src, s.dport, s.sport}]
	if c == nil || c.state != StateEstablished || s.seq != c.tcb.RcvNxt || len(c.rcv.buf.ooo) > 0 {
		// Not in order; or it fills a hole, which pulls in the held
		// ranges (RCV.NXT leaps: the segments after it are old) and is
		// ACKed at once (RFC 5681 §4.2): each such segment alone.
		return false
	}
	end := s.seq.Add(seqnum.Size(n))
	if c.rcv.edge.LessThan(end) || c.rcv.unacked+int32(n) >= maxStretch {
		return false // beyond the window, or its ACK leaves at once (holdAck)
	}
	r := &l.gro
	if r.pieces == nil {
		r.pieces = make([][]byte, 0, maxPieces-1)
	}
	r.c, r.seg, r.hdr = c, *s, hdr
	r.next, r.bytes, r.piece, r.psh = end, n, n, false
	return true
}

// groAppend adds the segment seg to the run held if it continues it
// (see above), and reports whether it did. It verifies the checksum of a
// segment it takes, as input would (MUST-3).
func (l *Layer) groAppend(now time.Time, src, dst wire.Addr, meta SegMeta, seg []byte, csumOK bool) bool {
	r := &l.gro
	h := r.hdr
	hl := len(h)
	n := len(seg) - hl
	if n <= 0 || !meta.Stable || meta.TOS != r.seg.tos || src != r.seg.src || dst != r.seg.dst || !now.Equal(r.seg.now) ||
		len(r.pieces) == cap(r.pieces) || r.bytes+n > maxCoalesce {
		return false
	}
	// Ports (0-3), sequence number (4-7), acknowledgment (8-11), data
	// offset and flags but PSH (12-13), window (14-15); then the options.
	if binary.BigEndian.Uint32(seg[0:]) != binary.BigEndian.Uint32(h[0:]) ||
		seqnum.Value(binary.BigEndian.Uint32(seg[4:])) != r.next ||
		binary.BigEndian.Uint32(seg[8:]) != binary.BigEndian.Uint32(h[8:]) ||
		seg[12] != h[12] || seg[13]&^uint8(wire.FlagPSH) != h[13]&^uint8(wire.FlagPSH) ||
		binary.BigEndian.Uint16(seg[14:]) != binary.BigEndian.Uint16(h[14:]) ||
		string(seg[wire.TCPMinHeaderLen:hl]) != string(h[wire.TCPMinHeaderLen:]) {
		return false
	}
	end := r.next.Add(seqnum.Size(n))
	if r.c.rcv.edge.LessThan(end) {
		return false
	}
	if !csumOK && !wire.TCPChecksumValid(seg, src, dst) {
		return false // input drops and counts it, after the run
	}
	l.now = now
	l.ctr.SegsIn++
	l.ctr.SegsCoalesced++
	r.pieces = append(r.pieces, seg[hl:])
	r.next, r.bytes, r.piece = end, r.bytes+n, max(r.piece, n)
	r.psh = r.psh || seg[13]&uint8(wire.FlagPSH) != 0
	if r.c.rcv.unacked+int32(r.bytes) >= maxStretch {
		// Its ACK leaves as soon as it is processed (holdAck): the run
		// ends here, so that ACK covers what it would without coalescing.
		l.groFlush()
	}
	return true
}

// groFlush processes the run held, if any, as one segment.
func (l *Layer) groFlush() {
	r := &l.gro
	if r.c == nil {
		return
	}
	r.c = nil
	s := &r.seg
	if len(r.pieces) > 0 {
		s.more, s.moreLen, s.maxPiece = r.pieces, r.bytes-len(s.text), r.piece
		s.segLen += uint32(s.moreLen)
		if r.psh {
			s.flags |= wire.FlagPSH
		}
	}
	l.now = s.now
	l.dispatch(s.now, s)
	clear(r.pieces) // the frames are the driver's again after EndBatch
	r.pieces = r.pieces[:0]
	*s = segment{}
	r.hdr = nil
}

// textLen returns the length of the segment's text: SEG.LEN without SYN
// and FIN.
func (s *segment) textLen() int { return len(s.text) + s.moreLen }

// pieceLen returns the largest text of a received segment in s: its text
// length, or for a coalesced segment that of its largest piece.
func (s *segment) pieceLen() int {
	if s.more == nil {
		return len(s.text)
	}
	return s.maxPiece
}

// clearText drops the segment's text.
func (s *segment) clearText() {
	s.text = s.text[:0]
	s.more, s.moreLen = nil, 0
}

// cutFront drops the first n octets of the text (n <= textLen).
func (s *segment) cutFront(n int) {
	for n >= len(s.text) && len(s.more) > 0 {
		n -= len(s.text)
		s.text = s.more[0]
		s.more = s.more[1:]
		s.moreLen -= len(s.text)
	}
	s.text = s.text[min(n, len(s.text)):]
	if len(s.more) == 0 {
		s.more = nil
	}
}

// keep cuts the text to its first n octets (n <= textLen).
func (s *segment) keep(n int) {
	if n <= len(s.text) {
		s.text = s.text[:n]
		s.more, s.moreLen = nil, 0
		return
	}
	n -= len(s.text)
	for i, p := range s.more {
		if n <= len(p) {
			s.more[i] = p[:n]
			s.more = s.more[:i+1]
			break
		}
		n -= len(p)
	}
	s.moreLen = 0
	for _, p := range s.more {
		s.moreLen += len(p)
	}
}
