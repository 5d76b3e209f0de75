package stack

import (
	"time"

	"github.com/netspec/netspec/fsm/ip"
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
	o.s.ipTx.Send(o.s.now, ip.Outgoing{Dst: dst, Proto: wire.ProtoTCP, DF: true, TOS: meta.TOS, TTL: meta.TTL}, seg, nil)
}

// Advise takes TCP's negative advice about the path to dst (RFC 9293
// §3.8.3 R1, RFC 1122 §4.2.3.5): the ARP entry of the next hop is made to
// re-probe (link.ARP.Suspect). There is no route cache to re-check beyond
// the one gateway.
func (o tcpOutput) Advise(src, dst wire.Addr) {
	s := o.s
	if hop, ok := s.ipTx.NextHop(dst); ok && s.arp.Suspect(s.now, hop) {
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

// ipLink adapts the stack's frame buffers and ARP cache to ip.Link.
type ipLink struct{ s *Stack }

// Alloc lends a frame buffer; none free is counted (stack.OutputDrops).
func (l ipLink) Alloc() []byte {
	b := l.s.frames.alloc()
	if b == nil {
		l.s.ctr.OutputDrops++
	}
	return b
}

// Resolve hands frame to ARP for the neighbour hop.
func (l ipLink) Resolve(now time.Time, hop wire.Addr, frame []byte) { l.s.arp.Resolve(now, hop, frame) }

// Broadcast sends frame to the Ethernet broadcast address.
func (l ipLink) Broadcast(frame []byte) { l.s.sendResolved(frame, wire.BroadcastMAC) }

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
	b := ipLink{s}.Alloc()
	if b == nil {
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
