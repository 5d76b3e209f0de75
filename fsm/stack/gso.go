package stack

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// Generic segmentation offload on send. TCP emits MSS-sized segments; when
// Config.GSOMaxSize is set, a run of segments of one flow that continue each
// other is built as one super-frame in place: the first segment is built in
// a large buffer and the payload of each next one is copied straight to its
// end (gsoAppend). The driver hands it to the kernel with a virtio-net
// header (VIRTIO_NET_HDR_GSO_TCPV4) to be cut back into the same segments
// (RFC 9293 §3.7.1: segment boundaries carry no meaning, so the receiver
// sees the same byte stream either way). Such a link also completes TCP
// checksums (VIRTIO_NET_HDR_F_NEEDS_CSUM), so the stack computes none.

// Byte offsets inside an Ethernet+IPv4 frame, used to compare headers without
// parsing them.
const (
	gsoIP       = wire.EthernetHeaderLen
	gsoTCP      = gsoIP + wire.IPv4MinHeaderLen
	gsoMinFrame = gsoTCP + wire.TCPMinHeaderLen
	// gsoMaxIPLen is the largest IPv4 total length (RFC 791 §3.1).
	gsoMaxIPLen = 65535
	// tcpCsumOff is the TCP checksum field's offset in the TCP header.
	tcpCsumOff = 16
)

// gsoSeg is the shape of a queued frame as far as coalescing cares.
type gsoSeg struct {
	hdr   int // Ethernet + IPv4 + TCP header bytes
	pay   int // TCP payload bytes
	seq   uint32
	flags wire.TCPFlags
}

// gsoParse reports whether frame is a TCP/IPv4 data segment that may take part
// in a super-frame: no IP options or fragmentation, ACK set, no
// SYN/FIN/RST/URG, and a payload.
func gsoParse(frame []byte) (gsoSeg, bool) {
	if len(frame) < gsoMinFrame ||
		binary.BigEndian.Uint16(frame[12:]) != uint16(wire.EtherTypeIPv4) ||
		frame[gsoIP] != 0x45 || frame[gsoIP+9] != wire.ProtoTCP ||
		binary.BigEndian.Uint16(frame[gsoIP+6:])&^0x4000 != 0 { // MF or an offset
		return gsoSeg{}, false
	}
	if int(binary.BigEndian.Uint16(frame[gsoIP+2:]))+gsoIP != len(frame) {
		return gsoSeg{}, false
	}
	off := int(frame[gsoTCP+12]>>4) * 4
	hdr := gsoTCP + off
	if off < wire.TCPMinHeaderLen || hdr >= len(frame) {
		return gsoSeg{}, false
	}
	f := wire.TCPFlags(frame[gsoTCP+13])
	if !f.Has(wire.FlagACK) || f&(wire.FlagSYN|wire.FlagFIN|wire.FlagRST|wire.FlagURG) != 0 {
		return gsoSeg{}, false
	}
	return gsoSeg{hdr: hdr, pay: len(frame) - hdr, seq: binary.BigEndian.Uint32(frame[gsoTCP+4:]), flags: f}, true
}

// gsoLarge is the capacity of a super-frame's buffer: an Ethernet header and
// the largest IPv4 datagram.
const gsoLarge = wire.EthernetHeaderLen + gsoMaxIPLen

// gsoMaxLarge bounds the super-frame buffers lent at once (queued or being
// written by the driver): 4 MiB. When they are all out, segments leave in
// ordinary frames until some come back (counted: Counters.GSONoBuffer).
const gsoMaxLarge = 64

// gsoOpen is the super-frame being built at the tail of the output queue:
// the next TCP segment that continues it (gsoAppend) has its payload copied
// to its end instead of into a frame of its own.
type gsoOpen struct {
	frame  []byte // the queued frame (nil: none open)
	mss    int    // payload of its first segment; all but the last have as much
	next   uint32 // the sequence number that continues it
	closed bool   // its last segment was short or pushed: nothing more joins
}

// superFrame records a queued frame that holds more than one segment, for
// Output to finish it as a super-frame.
type superFrame struct {
	idx int    // its index in the output queue
	mss uint16 // payload bytes per segment
}

// gsoStarts reports whether a segment with TCP header hdr and n payload
// octets may start a super-frame: data with ACK set, none of
// SYN/FIN/RST/URG, and not pushed (PSH ends a run).
func gsoStarts(hdr []byte, n int) bool {
	f := wire.TCPFlags(hdr[13])
	return n > 0 && f.Has(wire.FlagACK) && f&(wire.FlagSYN|wire.FlagFIN|wire.FlagRST|wire.FlagURG|wire.FlagPSH) == 0
}

// gsoAppend adds a TCP segment (header hdr, payload p1 then p2) to the
// open super-frame when it continues it: the frame is still the last one
// queued, with room; the segment goes to the same destination with the
// same TOS and TTL; its TCP header equals the frame's but for the sequence
// number (which continues the frame's), checksum and PSH; it is no longer
// than the first. The payload is copied once, to the frame's end. A short
// or pushed segment ends the run. It reports whether it appended.
func (s *Stack) gsoAppend(dst wire.Addr, meta tcp.SegMeta, hdr, p1, p2 []byte) bool {
	g := &s.gso
	f := g.frame
	n := len(p1) + len(p2)
	if f == nil || g.closed || n == 0 || n > g.mss {
		return false
	}
	q := s.port.Queue()
	if last := q.Last(); len(last) != len(f) || &last[0] != &f[0] {
		g.frame = nil // something was queued after it
		return false
	}
	hl := gsoTCP + len(hdr)
	ttl := meta.TTL
	if ttl == 0 {
		ttl = s.cfg.TTL
	}
	th := f[gsoTCP:]
	switch {
	case len(f)+n > cap(f) || len(f)-gsoIP+n > min(s.cfg.GSOMaxSize, gsoMaxIPLen),
		binary.BigEndian.Uint32(hdr[4:]) != g.next,
		f[gsoIP+1] != meta.TOS || f[gsoIP+8] != ttl || wire.Addr(f[gsoIP+16:gsoTCP]) != dst,
		int(th[12]>>4)*4 != len(hdr),
		string(th[:4]) != string(hdr[:4]) || string(th[8:13]) != string(hdr[8:13]),
		(th[13]^hdr[13])&^byte(wire.FlagPSH) != 0,
		string(th[14:16]) != string(hdr[14:16]) || string(th[18:len(hdr)]) != string(hdr[18:]):
		g.frame = nil
		return false
	}
	w := len(f) + copy(f[len(f):cap(f)], p1)
	w += copy(f[w:cap(f)], p2)
	if len(f)-hl == g.mss { // its second segment: it is a super-frame now
		s.supers = append(s.supers, superFrame{idx: q.Len() - 1, mss: uint16(g.mss)})
	}
	f = f[:w]
	q.SetLast(f)
	th[13] |= hdr[13] & byte(wire.FlagPSH)
	g.frame, g.next = f, g.next+uint32(n)
	g.closed = n < g.mss || hdr[13]&byte(wire.FlagPSH) != 0
	s.ipTx.Merged(1)
	return true
}

// gsoOpened makes frame, just queued with one segment of n payload octets
// starting at seq, the open super-frame when it may grow: it starts a run
// (gsoStarts), lies in a large buffer and is the last frame queued (not
// held for ARP).
func (s *Stack) gsoOpened(frame []byte, seq uint32, n int) {
	q := s.port.Queue()
	if last := q.Last(); cap(frame) != gsoLarge || len(last) != len(frame) || &last[0] != &frame[0] {
		return
	}
	s.gso = gsoOpen{frame: frame, mss: n, next: seq + uint32(n)}
}

// finishTCP completes a queued TCP/IPv4 frame on a link that takes
// checksum offload and returns its metadata: its TCP checksum field gets the
// partial pseudo-header sum, left for the link to complete
// (VIRTIO_NET_HDR_F_NEEDS_CSUM); a super-frame (run) also gets the IPv4
// total length and header checksum of the whole and the segmentation
// fields. Other frames are left alone (zero metadata).
func (s *Stack) finishTCP(f []byte, run *superFrame) TxMeta {
	if len(f) < gsoMinFrame || binary.BigEndian.Uint16(f[12:]) != uint16(wire.EtherTypeIPv4) ||
		f[gsoIP] != 0x45 || f[gsoIP+9] != wire.ProtoTCP {
		return TxMeta{}
	}
	m := TxMeta{NeedsCsum: true, CsumStart: gsoTCP, CsumOffset: tcpCsumOff}
	if run != nil {
		binary.BigEndian.PutUint16(f[gsoIP+2:], uint16(len(f)-gsoIP))
		f[gsoIP+10], f[gsoIP+11] = 0, 0
		binary.BigEndian.PutUint16(f[gsoIP+10:], wire.Checksum(f[gsoIP:gsoTCP], 0))
		m.GSO, m.GSOSize = GSOTCPv4, run.mss
		m.HdrLen = uint16(gsoTCP + int(f[gsoTCP+12]>>4)*4)
		s.ctr.GSOFrames++
		s.ctr.GSOSegments += uint64((len(f) - int(m.HdrLen) + int(run.mss) - 1) / int(run.mss))
	}
	src, dst := wire.Addr(f[gsoIP+12:gsoIP+16]), wire.Addr(f[gsoIP+16:gsoTCP])
	wire.SetTCPPartialChecksum(f[gsoTCP:], src, dst)
	return m
}

// drain passes the queued frames to emit, finishing TCP frames first when
// the link takes checksum offload (finishTCP), and empties the queue: the
// buffers are released (lend false) or stay lent to the caller until it
// gives each back (ReturnFrame).
func (s *Stack) drain(emit func([]byte, TxMeta), lend bool) int {
	q := s.port.Queue()
	frames := q.Frames()
	runs := s.supers
	for i, f := range frames {
		var m TxMeta
		if s.cfg.GSOMaxSize > 0 {
			var run *superFrame
			if len(runs) > 0 && runs[0].idx == i {
				run = &runs[0]
				runs = runs[1:]
			}
			m = s.finishTCP(f, run)
		}
		emit(f, m)
	}
	s.gso = gsoOpen{}
	s.supers = s.supers[:0]
	if lend {
		q.Handed()
	} else {
		q.Clear()
	}
	return len(frames)
}

// ErrBadGSO is wrapped by Segment for a super-frame it cannot cut.
var ErrBadGSO = errors.New("bad GSO frame")

// Segment cuts a TCP/IPv4 super-frame described by meta back into the segments
// a kernel would send (Linux tcp_gso_segment): each carries the headers with
// its own sequence number, IP ID (the first's plus its index), total length
// and checksums; PSH and FIN stay on the last segment only, CWR on the first
// only. Each segment is built in buf (which needs meta.HdrLen+meta.GSOSize
// bytes) and passed to emit, valid during the call. A plain frame (GSONone)
// goes to emit as it is, or, with meta.NeedsCsum, copied to buf (which then
// needs len(frame) bytes) with its checksum completed as virtio-net says:
// the sum from CsumStart to the end, complemented, at CsumStart+CsumOffset.
func Segment(frame []byte, meta TxMeta, buf []byte, emit func(seg []byte)) error {
	if meta.GSO == GSONone {
		if !meta.NeedsCsum {
			emit(frame)
			return nil
		}
		start, field := int(meta.CsumStart), int(meta.CsumStart)+int(meta.CsumOffset)
		if field+2 > len(frame) || len(buf) < len(frame) {
			return fmt.Errorf("segment: %w: checksum offset %d+%d in a %d-byte frame", ErrBadGSO, start, meta.CsumOffset, len(frame))
		}
		seg := buf[:copy(buf, frame)]
		binary.BigEndian.PutUint16(seg[field:], wire.Checksum(seg[start:], 0))
		emit(seg)
		return nil
	}
	hdr, mss := int(meta.HdrLen), int(meta.GSOSize)
	sg, ok := gsoParse(frame)
	if meta.GSO != GSOTCPv4 || !ok || sg.hdr != hdr || mss == 0 || len(buf) < hdr+mss {
		return fmt.Errorf("segment: %w", ErrBadGSO)
	}
	id := binary.BigEndian.Uint16(frame[gsoIP+4:])
	flags := frame[gsoTCP+13]
	src, dst := wire.Addr(frame[gsoIP+12:gsoIP+16]), wire.Addr(frame[gsoIP+16:gsoTCP])
	for k, off := 0, hdr; off < len(frame); k, off = k+1, off+mss {
		n := min(mss, len(frame)-off)
		copy(buf, frame[:hdr])
		copy(buf[hdr:], frame[off:off+n])
		seg := buf[:hdr+n]
		binary.BigEndian.PutUint16(seg[gsoIP+2:], uint16(hdr+n-gsoIP))
		binary.BigEndian.PutUint16(seg[gsoIP+4:], id+uint16(k))
		seg[gsoIP+10], seg[gsoIP+11] = 0, 0
		binary.BigEndian.PutUint16(seg[gsoIP+10:], wire.Checksum(seg[gsoIP:gsoTCP], 0))
		binary.BigEndian.PutUint32(seg[gsoTCP+4:], sg.seq+uint32(off-hdr))
		f := flags
		if k > 0 {
			f &^= byte(wire.FlagCWR)
		}
		if off+n < len(frame) {
			f &^= byte(wire.FlagPSH | wire.FlagFIN)
		}
		seg[gsoTCP+13] = f
		wire.SetTCPChecksum(seg[gsoTCP:], src, dst)
		emit(seg)
	}
	return nil
}
