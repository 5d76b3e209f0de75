package stack

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/netspec/netspec/fsm/wire"
)

// Generic segmentation offload on send. TCP emits MSS-sized segments; when
// Config.GSOMaxSize is set, Output merges runs of segments of one flow that
// continue each other into one super-frame, which the driver hands to the
// kernel with a virtio-net header (VIRTIO_NET_HDR_GSO_TCPV4) to be cut back
// into the same segments (RFC 9293 §3.7.1: segment boundaries carry no
// meaning, so the receiver sees the same byte stream either way).

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

// gsoContinues reports whether b may follow a in one super-frame: same
// Ethernet header, same IPv4 header but for ID, length and checksum, same TCP
// header but for sequence number, checksum and PSH, and sequence numbers that
// continue a.
func gsoContinues(a []byte, sa gsoSeg, b []byte, sb gsoSeg) bool {
	if sb.hdr != sa.hdr || sb.seq != sa.seq+uint32(sa.pay) ||
		sb.flags&^wire.FlagPSH != sa.flags&^wire.FlagPSH {
		return false
	}
	// Ethernet; IPv4 version..TOS, flags..protocol, addresses.
	if string(a[:gsoIP+2]) != string(b[:gsoIP+2]) ||
		string(a[gsoIP+6:gsoIP+10]) != string(b[gsoIP+6:gsoIP+10]) ||
		string(a[gsoIP+12:gsoTCP]) != string(b[gsoIP+12:gsoTCP]) {
		return false
	}
	// TCP ports, ack and data offset, window, urgent pointer and options
	// (flags were compared above).
	return string(a[gsoTCP:gsoTCP+4]) == string(b[gsoTCP:gsoTCP+4]) &&
		string(a[gsoTCP+8:gsoTCP+13]) == string(b[gsoTCP+8:gsoTCP+13]) &&
		string(a[gsoTCP+14:gsoTCP+16]) == string(b[gsoTCP+14:gsoTCP+16]) &&
		string(a[gsoTCP+18:sa.hdr]) == string(b[gsoTCP+18:sb.hdr])
}

// drainGSO is Output with coalescing: runs of queued segments that continue
// each other leave as one super-frame of at most GSOMaxSize IP bytes; every
// segment of a run but the last is full-sized (the run's MSS) and without PSH.
func (s *Stack) drainGSO(emit func([]byte, TxMeta)) int {
	q := s.port.Queue().Frames()
	limit := min(s.cfg.GSOMaxSize, gsoMaxIPLen)
	n := 0
	for i := 0; i < len(q); {
		j := i + 1
		first, ok := gsoParse(q[i])
		if ok && first.flags&wire.FlagPSH == 0 {
			prev, ip := first, len(q[i])-gsoIP
			for j < len(q) {
				next, ok := gsoParse(q[j])
				if !ok || next.pay > first.pay || ip+next.pay > limit || !gsoContinues(q[j-1], prev, q[j], next) {
					break
				}
				ip += next.pay
				prev = next
				j++
				if next.pay < first.pay || next.flags&wire.FlagPSH != 0 {
					break // only the last segment may be short or pushed
				}
			}
		}
		if j-i == 1 {
			emit(q[i], TxMeta{})
		} else {
			emit(s.buildGSO(q[i:j], first))
		}
		n++
		i = j
	}
	s.port.Queue().Clear()
	return n
}

// buildGSO concatenates run (segments already checked to continue each other)
// into the stack's super-frame buffer: the first segment's headers with the
// last one's PSH, the IPv4 total length and header checksum of the whole, and
// the TCP checksum field holding the partial pseudo-header sum.
func (s *Stack) buildGSO(run [][]byte, first gsoSeg) ([]byte, TxMeta) {
	b := s.gsoBuf
	w := copy(b, run[0])
	for _, f := range run[1:] {
		w += copy(b[w:], f[first.hdr:])
	}
	frame := b[:w]
	last := run[len(run)-1]
	frame[gsoTCP+13] |= last[gsoTCP+13] & byte(wire.FlagPSH)
	binary.BigEndian.PutUint16(frame[gsoIP+2:], uint16(w-gsoIP))
	frame[gsoIP+10], frame[gsoIP+11] = 0, 0
	binary.BigEndian.PutUint16(frame[gsoIP+10:], wire.Checksum(frame[gsoIP:gsoTCP], 0))
	src, dst := wire.Addr(frame[gsoIP+12:gsoIP+16]), wire.Addr(frame[gsoIP+16:gsoTCP])
	wire.SetTCPPartialChecksum(frame[gsoTCP:], src, dst)
	s.ctr.GSOFrames++
	s.ctr.GSOSegments += uint64(len(run))
	return frame, TxMeta{
		GSO:        GSOTCPv4,
		NeedsCsum:  true,
		GSOSize:    uint16(first.pay),
		HdrLen:     uint16(first.hdr),
		CsumStart:  gsoTCP,
		CsumOffset: tcpCsumOff,
	}
}

// ErrBadGSO is wrapped by Segment for a super-frame it cannot cut.
var ErrBadGSO = errors.New("bad GSO frame")

// Segment cuts a TCP/IPv4 super-frame described by meta back into the segments
// a kernel would send (Linux tcp_gso_segment): each carries the headers with
// its own sequence number, IP ID (the first's plus its index), total length
// and checksums; PSH and FIN stay on the last segment only, CWR on the first
// only. Each segment is built in buf (which needs meta.HdrLen+meta.GSOSize
// bytes) and passed to emit, valid during the call. A plain frame (GSONone)
// goes to emit as it is, with its checksum completed if meta.NeedsCsum.
func Segment(frame []byte, meta TxMeta, buf []byte, emit func(seg []byte)) error {
	if meta.GSO == GSONone {
		if meta.NeedsCsum {
			return fmt.Errorf("segment: %w: checksum offload on a plain frame", ErrBadGSO)
		}
		emit(frame)
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
