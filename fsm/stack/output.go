package stack

import (
	"time"

	"github.com/netspec/netspec/fsm/link"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// frameQueue holds outgoing frames until the driver drains them, and recycles
// their buffers, so a steady flow of segments allocates nothing.
type frameQueue struct {
	size  int      // buffer capacity: MTU + Ethernet header
	limit int      // most frames queued or waiting for ARP
	inUse int      // buffers handed out and not yet released
	free  [][]byte // recycled buffers
	q     [][]byte // frames ready for the driver, in order
}

func (f *frameQueue) init(size, limit int) {
	f.size, f.limit = size, limit
	f.q = make([][]byte, 0, 64)
}

// alloc returns a buffer of f.size bytes, or nil when the bound is reached.
func (f *frameQueue) alloc() []byte {
	if f.inUse >= f.limit {
		return nil
	}
	f.inUse++
	for n := len(f.free); n > 0; n-- {
		b := f.free[n-1]
		f.free = f.free[:n-1]
		if cap(b) >= f.size { // smaller ones predate an MTU increase (SetMTU)
			return b[:f.size]
		}
	}
	return make([]byte, f.size)
}

func (f *frameQueue) release(b []byte) {
	f.inUse--
	f.free = append(f.free, b[:cap(b)])
}

func (f *frameQueue) push(b []byte) { f.q = append(f.q, b) }

func (f *frameQueue) len() int { return len(f.q) }

func (f *frameQueue) drain(emit func([]byte, TxMeta)) int {
	n := len(f.q)
	for i, b := range f.q {
		emit(b, TxMeta{})
		f.release(b)
		f.q[i] = nil
	}
	f.q = f.q[:0]
	return n
}

// tcpOutput adapts the stack to tcp.Output.
type tcpOutput struct{ s *Stack }

// SendSegment wraps one TCP segment in IPv4 and Ethernet and queues it, with
// the TOS octet TCP chose, unchanged (RFC 9293 §3.9.1.9 SHLD-22), and its
// TTL (0: Config.TTL).
func (o tcpOutput) SendSegment(src, dst wire.Addr, meta tcp.SegMeta, seg []byte) {
	o.s.sendIPWith(dst, wire.ProtoTCP, true, meta.TOS, meta.TTL, seg, nil)
}

// Advise takes TCP's negative advice about the path to dst (RFC 9293
// §3.8.3 R1, RFC 1122 §4.2.3.5): the ARP entry of the next hop is made to
// re-probe (link.ARP.Suspect). There is no route cache to re-check beyond
// the one gateway.
func (o tcpOutput) Advise(src, dst wire.Addr) {
	s := o.s
	if hop, ok := s.nextHop(dst); ok && s.arp.Suspect(s.now, hop) {
		s.ctr.ARPAdvice++
	}
}

// Notify records a readiness change for the descriptor behind id.
func (o tcpOutput) Notify(id uint64, ev sock.Readiness) {
	if id != 0 {
		o.s.fds.markReady(FD(id-1), ev)
	}
}

// sendIP builds IPv4 datagrams carrying head followed by tail (tail may be nil)
// with TOS 0 and the default TTL, and hands them to ARP for the next hop.
func (s *Stack) sendIP(dst wire.Addr, proto uint8, df bool, head, tail []byte) {
	s.sendIPWith(dst, proto, df, 0, 0, head, tail)
}

// sendIPWith is sendIP with a TOS octet and a TTL (0: Config.TTL, RFC 9293
// §3.9.2 MUST-49). Datagrams larger than the MTU are fragmented (RFC 791
// §3.2) unless df is set, in which case they are dropped and counted. The
// Identification field is chosen by ipIDs (ipid.go).
// Datagrams to a destination with no route (off-link, no gateway) are
// counted and not sent: never resolved with ARP as if on the link.
func (s *Stack) sendIPWith(dst wire.Addr, proto uint8, df bool, tos, ttl uint8, head, tail []byte) {
	if _, ok := s.nextHop(dst); !ok {
		s.ctr.IPNoRoute++
		return
	}
	total := len(head) + len(tail)
	mtu := s.cfg.MTU
	if ttl == 0 {
		ttl = s.cfg.TTL
	}
	var id uint16 // atomic (DF): 0, RFC 6864 §4.1
	if !df {
		id = s.ipIDs.next(s.cfg.Addr, dst, proto)
	}
	h := wire.IPv4Header{ID: id, TOS: tos, TTL: ttl, Protocol: proto, Src: s.cfg.Addr, Dst: dst, DontFragment: df}
	if wire.IPv4MinHeaderLen+total <= mtu {
		s.emitIP(&h, head, tail, 0, total)
		return
	}
	if df {
		s.ctr.IPTooBigDF++
		return
	}
	step := (mtu - wire.IPv4MinHeaderLen) &^ 7
	for off := 0; off < total; off += step {
		n := min(step, total-off)
		h.FragOffset = off
		h.MoreFragments = off+n < total
		s.emitIP(&h, head, tail, off, n)
	}
	s.ctr.IPFragmentsOut++
}

// emitIP writes bytes [off, off+n) of head+tail behind an IPv4 header.
func (s *Stack) emitIP(h *wire.IPv4Header, head, tail []byte, off, n int) {
	b := s.frames.alloc()
	if b == nil {
		s.ctr.OutputDrops++
		return
	}
	p := b[wire.EthernetHeaderLen+wire.IPv4MinHeaderLen:]
	w := 0
	if off < len(head) {
		w = copy(p[:n], head[off:])
	}
	if w < n {
		w += copy(p[w:n], tail[off+w-len(head):])
	}
	h.TotalLen = wire.IPv4MinHeaderLen + n
	h.Put(b[wire.EthernetHeaderLen:])
	frame := b[:wire.EthernetHeaderLen+h.TotalLen]
	s.ctr.PacketsOut++
	switch {
	case h.Dst.IsLimitedBroadcast() || h.Dst == s.bcast:
		s.sendResolved(frame, wire.BroadcastMAC)
	default:
		hop, _ := s.nextHop(h.Dst) // sendIPWith checked the route
		s.arp.Resolve(s.now, hop, frame)
	}
}

// nextHop is the neighbour a datagram to dst goes to (RFC 1122 §3.3.1.1):
// dst itself on the link, else the gateway. With no gateway configured an
// off-link dst has no route (ok false): the host's routing table is the
// subnet alone, as Linux's with no default route.
func (s *Stack) nextHop(dst wire.Addr) (hop wire.Addr, ok bool) {
	switch {
	case s.onLink(dst) || dst.IsLimitedBroadcast():
		return dst, true
	case s.cfg.Gateway.IsUnspecified():
		return wire.Addr{}, false
	}
	return s.cfg.Gateway, true
}

// sendResolved fills in the Ethernet header of an IPv4 frame whose next hop is
// known and queues it for the driver. (ARP frames are built whole by sendARP.)
func (s *Stack) sendResolved(frame []byte, dst wire.MAC) {
	wire.PutEthernet(frame, dst, s.cfg.MAC, wire.EtherTypeIPv4)
	s.frames.push(frame)
}

// arpInput answers who-has requests for our address (RFC 826) and lets the
// cache learn from the sender.
func (s *Stack) arpInput(now time.Time, pkt []byte) {
	reply, r := s.arp.Input(now, pkt)
	if r != link.ReasonNone {
		s.ctr.Link[r]++
	}
	if !reply {
		return
	}
	req, _ := wire.ParseARP(pkt) // Input accepted it
	s.sendARP(wire.ARPReply, req.SenderMAC(), req.SenderMAC(), req.SenderIP())
	s.ctr.ARPRepliesOut++
}

// sendARPRequest broadcasts a who-has for target (RFC 826).
func (s *Stack) sendARPRequest(target wire.Addr) {
	s.sendARP(wire.ARPRequest, wire.BroadcastMAC, wire.MAC{}, target)
	s.ctr.ARPRequestsOut++
}

func (s *Stack) sendARP(op uint16, ethDst, tha wire.MAC, tpa wire.Addr) {
	b := s.frames.alloc()
	if b == nil {
		s.ctr.OutputDrops++
		return
	}
	frame := b[:wire.EthernetHeaderLen+wire.ARPLen]
	wire.PutEthernet(frame, ethDst, s.cfg.MAC, wire.EtherTypeARP)
	wire.PutARP(frame[wire.EthernetHeaderLen:], op, s.cfg.MAC, s.cfg.Addr, tha, tpa)
	s.frames.push(frame)
}

// Announce broadcasts a gratuitous ARP for our address (RFC 5227 §3), so
// neighbours refresh stale entries when the stack starts.
func (s *Stack) Announce(now time.Time) {
	s.now = now
	s.sendARP(wire.ARPRequest, wire.BroadcastMAC, wire.MAC{}, s.cfg.Addr)
}
