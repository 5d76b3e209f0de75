package stack

import (
	"encoding/binary"
	"time"

	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// tcpOutput adapts the stack to tcp.Output.
type tcpOutput struct{ s *Stack }

// SendSegment wraps one TCP segment in IPv4 and Ethernet and queues it, with
// the TOS octet TCP chose, unchanged (RFC 9293 §3.9.1.9 SHLD-22), and its
// TTL (0: Config.TTL).
func (o tcpOutput) SendSegment(src, dst wire.Addr, meta tcp.SegMeta, seg []byte) {
	if o.s.tr != nil {
		o.s.tr.sent(seg)
	}
	o.s.ipTx.Send(o.s.now, ip.Outgoing{Dst: dst, Proto: wire.ProtoTCP, DF: true, TOS: meta.TOS, TTL: meta.TTL}, seg, nil)
}

// SendParts builds one TCP segment where it leaves (tcp.PartsOutput): its
// payload is copied from TCP's send buffer once, to the end of the open GSO
// super-frame when the segment continues it (gsoAppend), else behind the
// IPv4 and Ethernet headers of a frame of its own (a large one when it may
// start a super-frame). The TCP checksum is computed here, or, on a link
// that takes checksum offload (GSOMaxSize set), left to the link and
// finished by Output.
func (o tcpOutput) SendParts(src, dst wire.Addr, meta tcp.SegMeta, hdr, p1, p2 []byte) {
	s := o.s
	if s.tr != nil {
		s.tr.sent(hdr)
	}
	offload := s.cfg.GSOMaxSize > 0
	if offload && s.gsoAppend(dst, meta, hdr, p1, p2) {
		return
	}
	n := len(p1) + len(p2)
	q := s.port.Queue()
	var big []byte
	if offload && gsoStarts(hdr, n) {
		if big = q.AllocLarge(); big == nil {
			s.ctr.GSONoBuffer++
		}
	}
	frame := s.ipTx.Prepare(ip.Outgoing{Dst: dst, Proto: wire.ProtoTCP, DF: true, TOS: meta.TOS, TTL: meta.TTL}, len(hdr)+n, big)
	if frame == nil {
		if big != nil {
			q.Release(big)
		}
		return
	}
	seg := frame[ip.PayloadOffset:]
	w := copy(seg, hdr)
	w += copy(seg[w:], p1)
	copy(seg[w:], p2)
	if !offload {
		wire.SetTCPChecksum(seg, src, dst)
	}
	s.ipTx.Transmit(s.now, frame)
	if big != nil {
		s.gsoOpened(frame, binary.BigEndian.Uint32(hdr[4:]), n)
	}
}

// Advise takes TCP's negative advice about the path to dst (RFC 9293
// §3.8.3 R1, RFC 1122 §4.2.3.5): the ARP entry of the next hop is made to
// re-probe (link.ARP.Suspect). There is no route cache to re-check beyond
// the one gateway.
func (o tcpOutput) Advise(src, dst wire.Addr) {
	s := o.s
	if hop, ok := s.ipTx.NextHop(dst); ok && s.port.ARP().Suspect(s.now, hop) {
		s.ctr.ARPAdvice++
	}
}

// Notify records a readiness change for the descriptor behind id.
func (o tcpOutput) Notify(id uint64, ev sock.Readiness) {
	if id != 0 {
		o.s.fds.markReady(FD(id-1), ev)
	}
}

// sendIP sends head followed by tail (tail may be nil) to dst in IPv4
// datagrams with TOS 0 and the default TTL (ip.Sender.Send).
func (s *Stack) sendIP(dst wire.Addr, proto uint8, df bool, head, tail []byte) {
	s.ipTx.Send(s.now, ip.Outgoing{Dst: dst, Proto: proto, DF: df}, head, tail)
}

// Announce broadcasts a gratuitous ARP for our address (RFC 5227 §3), so
// neighbours refresh stale entries when the stack starts.
func (s *Stack) Announce(now time.Time) {
	s.now = now
	s.port.Announce()
}

// Neighbour replays in the neighbour cache an ARP packet another stack of
// the same host took ip at mac from (Config.ARP.Learned): the loops of a
// multi-loop netspec.Stack share one link, and an ARP reply reaches only
// one of them (link.ARP.Heard). Frames waiting for ip leave with the next
// Output.
func (s *Stack) Neighbour(now time.Time, ip wire.Addr, mac wire.MAC, forUs bool) {
	s.now = now
	s.port.ARP().Heard(now, ip, mac, forUs)
}
