package link

import (
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// PortConfig configures a Port.
type PortConfig struct {
	MAC       wire.MAC  // our hardware address
	Addr      wire.Addr // our IPv4 address, the one ARP answers for
	MTU       int       // frame buffers hold an Ethernet header and MTU bytes
	MaxOutput int       // frame buffers lent at once (queued, waiting for ARP, being built)
	ARP       ARPConfig
}

// PortCounters are a Port's counters. The stack reports them under their
// historical names: Drops as link.drop.*, the others as stack.VLANStripped,
// stack.ARPRequestsOut, stack.ARPRepliesOut and stack.OutputDrops
// (docs/counters.md).
type PortCounters struct {
	Drops          [NumReasons]uint64 // frames dropped, by reason (index 0 stays zero)
	VLANStripped   uint64             // 802.1Q tags removed on receive (IEEE 802.1Q)
	ARPRequestsOut uint64             // who-has requests sent (RFC 826)
	ARPRepliesOut  uint64             // replies sent to requests for our address
	OutputDrops    uint64             // frames not built: every buffer lent (MaxOutput)
}

// Port is our Ethernet interface: it classifies received frames, answers
// ARP for our address and learns from it (RFC 826), resolves next hops
// through the neighbour cache (ARP), and holds the frames going out in a
// bounded queue of recycled buffers (Queue) until the driver drains them.
// IPv4 above it sends through Alloc, Resolve and Broadcast (ip.Link). It
// is not safe for concurrent use.
type Port struct {
	cfg PortConfig
	q   Queue
	arp *ARP
	c   PortCounters

	classify func(f Frame) // SetClassify: a trace's view of each frame
}

// NewPort returns a Port for cfg with an empty neighbour cache.
func NewPort(cfg PortConfig) *Port {
	p := &Port{cfg: cfg}
	p.q.init(cfg.MTU+wire.EthernetHeaderLen, cfg.MaxOutput)
	p.arp = NewARP(cfg.Addr, cfg.ARP, ARPHooks{Request: p.sendRequest, Send: p.send, Drop: p.drop})
	return p
}

// Counters returns a copy of the counters.
func (p *Port) Counters() PortCounters { return p.c }

// ARP returns the neighbour cache.
func (p *Port) ARP() *ARP { return p.arp }

// Queue returns the output queue.
func (p *Port) Queue() *Queue { return &p.q }

// SetMTU sizes the frame buffers lent from now on for mtu.
func (p *Port) SetMTU(mtu int) { p.q.setSize(mtu + wire.EthernetHeaderLen) }

// Input classifies one received frame (Receive; the FCS is checked and
// removed when hasFCS is set), counting drops, handles it when it is ARP,
// and returns the IPv4 payload (ok) when it is IPv4.
func (p *Port) Input(now time.Time, frame []byte, hasFCS bool) (pkt []byte, ok bool) {
	f := Receive(frame, p.cfg.MAC, hasFCS)
	if p.classify != nil {
		p.classify(f)
	}
	if f.VLAN {
		p.c.VLANStripped++
	}
	if f.Reason != ReasonNone {
		p.c.Drops[f.Reason]++
		return nil, false
	}
	switch f.Type {
	case wire.EtherTypeARP:
		p.arpInput(now, f.Payload)
	case wire.EtherTypeIPv4:
		return f.Payload, true
	}
	return nil, false
}

// arpInput answers who-has requests for our address (RFC 826) and lets the
// cache learn from the sender.
func (p *Port) arpInput(now time.Time, pkt []byte) {
	reply, r := p.arp.Input(now, pkt)
	if r != ReasonNone {
		p.c.Drops[r]++
	}
	if !reply {
		return
	}
	req, _ := wire.ParseARP(pkt) // Input accepted it
	p.sendARP(wire.ARPReply, req.SenderMAC(), req.SenderMAC(), req.SenderIP())
	p.c.ARPRepliesOut++
}

// Announce broadcasts a gratuitous ARP for our address (RFC 5227 §3), so
// neighbours refresh stale entries.
func (p *Port) Announce() {
	p.sendARP(wire.ARPRequest, wire.BroadcastMAC, wire.MAC{}, p.cfg.Addr)
}

// Alloc lends a frame buffer of an Ethernet header and MTU bytes, or nil
// when every buffer is lent (counted: OutputDrops).
func (p *Port) Alloc() []byte {
	b := p.q.Alloc()
	if b == nil {
		p.c.OutputDrops++
	}
	return b
}

// Resolve sends an IPv4 frame (built in a buffer Alloc lent) to the
// neighbour hop: at once when ARP knows it, else once it answers.
func (p *Port) Resolve(now time.Time, hop wire.Addr, frame []byte) { p.arp.Resolve(now, hop, frame) }

// Broadcast sends an IPv4 frame to every host on the link.
func (p *Port) Broadcast(frame []byte) { p.send(frame, wire.BroadcastMAC) }

// send fills in the Ethernet header of an IPv4 frame whose next hop is
// known and queues it for the driver. (ARP frames are built whole by
// sendARP.)
func (p *Port) send(frame []byte, dst wire.MAC) {
	wire.PutEthernet(frame, dst, p.cfg.MAC, wire.EtherTypeIPv4)
	p.q.Push(frame)
}

// drop gives back a frame the cache dropped, counting why.
func (p *Port) drop(frame []byte, r Reason) {
	p.c.Drops[r]++
	p.q.Release(frame)
}

// sendRequest broadcasts a who-has for target (RFC 826).
func (p *Port) sendRequest(target wire.Addr) {
	p.sendARP(wire.ARPRequest, wire.BroadcastMAC, wire.MAC{}, target)
	p.c.ARPRequestsOut++
}

func (p *Port) sendARP(op uint16, ethDst, tha wire.MAC, tpa wire.Addr) {
	b := p.Alloc()
	if b == nil {
		return
	}
	frame := b[:wire.EthernetHeaderLen+wire.ARPLen]
	wire.PutEthernet(frame, ethDst, p.cfg.MAC, wire.EtherTypeARP)
	wire.PutARP(frame[wire.EthernetHeaderLen:], op, p.cfg.MAC, p.cfg.Addr, tha, tpa)
	p.q.Push(frame)
}
