package ip

import (
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// LinkHeaderLen is the room a Sender leaves in front of each datagram for
// the link header: an Ethernet II header (RFC 894).
const LinkHeaderLen = wire.EthernetHeaderLen

// Link is the layer under a Sender: it lends frame buffers and takes back
// the frames built in them, to a neighbour or to everyone on the link.
// fsm/link's Port is one.
type Link interface {
	// Alloc returns a frame buffer of LinkHeaderLen + MTU bytes, or nil
	// when every buffer is in use (the link counts that drop).
	Alloc() []byte
	// Resolve sends frame to the neighbour hop once its hardware address
	// is known (ARP); the link owns frame from then on.
	Resolve(now time.Time, hop wire.Addr, frame []byte)
	// Broadcast sends frame to every host on the link.
	Broadcast(frame []byte)
}

// SenderConfig configures a Sender.
type SenderConfig struct {
	Addr      wire.Addr // our address: the source of every datagram
	PrefixLen int       // on-link prefix length (RFC 1122 §3.3.1.1)
	Gateway   wire.Addr // next hop for off-link destinations (zero: none)
	MTU       int       // link MTU: larger datagrams are fragmented or refused
	TTL       uint8     // time to live when the caller gives none (RFC 1122 §3.2.1.7)
	IDKey     [2]uint64 // keys the Identification hash (RFC 7739 §5.3); from seeded randomness
}

// Outgoing says how to send one datagram: its destination and protocol,
// whether it may be fragmented, and its TOS octet and TTL.
type Outgoing struct {
	Dst   wire.Addr
	Proto uint8
	DF    bool  // don't fragment: over the MTU it is refused (RFC 791 §3.2)
	TOS   uint8 // Diffserv and ECN field, sent as given (RFC 9293 §3.9.1.9 SHLD-22)
	TTL   uint8 // 0: SenderConfig.TTL (RFC 9293 §3.9.2 MUST-49)
}

// SendCounters are the send side's counters. The stack reports them under
// their historical names: stack.PacketsOut, stack.IPTooBigDF,
// stack.IPNoRoute and stack.IPFragmentsOut (docs/counters.md).
type SendCounters struct {
	Packets    uint64 // datagrams and fragments handed to the link
	TooBigDF   uint64 // datagrams over the MTU with DF set, not sent
	NoRoute    uint64 // datagrams not sent: destination off-link and no gateway (Linux's OutNoRoutes)
	Fragmented uint64 // datagrams sent in fragments
}

// Sender is the IPv4 send side: it routes each datagram to its next hop
// (RFC 1122 §3.3.1), chooses its Identification (RFC 6864, RFC 7739),
// fragments it to the MTU (RFC 791 §3.2) and builds it in a frame buffer
// of the link, copying its payload once. It is not safe for concurrent use.
type Sender struct {
	cfg   SenderConfig
	link  Link
	mask  wire.Addr // subnet mask from PrefixLen
	bcast wire.Addr // subnet-directed broadcast
	ids   ipIDs
	c     SendCounters
}

// NewSender returns a Sender for cfg over link.
func NewSender(cfg SenderConfig, link Link) *Sender {
	s := &Sender{cfg: cfg, link: link, mask: prefixMask(cfg.PrefixLen)}
	for i := range s.bcast {
		s.bcast[i] = cfg.Addr[i] | ^s.mask[i]
	}
	s.ids.key = cfg.IDKey
	return s
}

func prefixMask(n int) wire.Addr {
	var m wire.Addr
	for i := 0; i < 4; i++ {
		switch {
		case n >= 8:
			m[i] = 0xff
		case n > 0:
			m[i] = byte(0xff << (8 - n))
		}
		n -= 8
	}
	return m
}

// Counters returns a copy of the counters.
func (s *Sender) Counters() SendCounters { return s.c }

// MTU returns the link MTU in force.
func (s *Sender) MTU() int { return s.cfg.MTU }

// SetMTU changes the MTU that datagrams are fragmented (or refused, DF) by.
func (s *Sender) SetMTU(mtu int) { s.cfg.MTU = mtu }

// SubnetBroadcast returns our subnet's directed broadcast address.
func (s *Sender) SubnetBroadcast() wire.Addr { return s.bcast }

// OnLink reports whether a is in our subnet.
func (s *Sender) OnLink(a wire.Addr) bool {
	for i := range a {
		if a[i]&s.mask[i] != s.cfg.Addr[i]&s.mask[i] {
			return false
		}
	}
	return true
}

// NextHop is the neighbour a datagram to dst goes to (RFC 1122 §3.3.1.1):
// dst itself on the link, else the gateway. With no gateway configured an
// off-link dst has no route (ok false): the host's routing table is the
// subnet alone, as Linux's with no default route.
func (s *Sender) NextHop(dst wire.Addr) (hop wire.Addr, ok bool) {
	switch {
	case s.OnLink(dst) || dst.IsLimitedBroadcast():
		return dst, true
	case s.cfg.Gateway.IsUnspecified():
		return wire.Addr{}, false
	}
	return s.cfg.Gateway, true
}

// Send builds IPv4 datagrams carrying head followed by tail (tail may be
// nil, so a header and its data need no copy into one buffer) as o says,
// and hands them to the link for the next hop. Datagrams larger than the
// MTU are fragmented (RFC 791 §3.2) unless o.DF is set, in which case they
// are dropped and counted. The Identification field is chosen by ipIDs
// (ipid.go). Datagrams to a destination with no route (off-link, no
// gateway) are counted and not sent: never resolved with ARP as if on the
// link.
func (s *Sender) Send(now time.Time, o Outgoing, head, tail []byte) {
	if _, ok := s.NextHop(o.Dst); !ok {
		s.c.NoRoute++
		return
	}
	total := len(head) + len(tail)
	mtu := s.cfg.MTU
	ttl := o.TTL
	if ttl == 0 {
		ttl = s.cfg.TTL
	}
	var id uint16 // atomic (DF): 0, RFC 6864 §4.1
	if !o.DF {
		id = s.ids.next(s.cfg.Addr, o.Dst, o.Proto)
	}
	h := wire.IPv4Header{ID: id, TOS: o.TOS, TTL: ttl, Protocol: o.Proto, Src: s.cfg.Addr, Dst: o.Dst, DontFragment: o.DF}
	if wire.IPv4MinHeaderLen+total <= mtu {
		s.emit(now, &h, head, tail, 0, total)
		return
	}
	if o.DF {
		s.c.TooBigDF++
		return
	}
	step := (mtu - wire.IPv4MinHeaderLen) &^ 7
	for off := 0; off < total; off += step {
		n := min(step, total-off)
		h.FragOffset = off
		h.MoreFragments = off+n < total
		s.emit(now, &h, head, tail, off, n)
	}
	s.c.Fragmented++
}

// emit writes bytes [off, off+n) of head+tail behind an IPv4 header in a
// frame buffer of the link and hands the frame on.
func (s *Sender) emit(now time.Time, h *wire.IPv4Header, head, tail []byte, off, n int) {
	b := s.link.Alloc()
	if b == nil {
		return
	}
	p := b[LinkHeaderLen+wire.IPv4MinHeaderLen:]
	w := 0
	if off < len(head) {
		w = copy(p[:n], head[off:])
	}
	if w < n {
		w += copy(p[w:n], tail[off+w-len(head):])
	}
	h.TotalLen = wire.IPv4MinHeaderLen + n
	h.Put(b[LinkHeaderLen:])
	s.Transmit(now, b[:LinkHeaderLen+h.TotalLen])
}

// PayloadOffset is where Prepare's frame holds the datagram's payload: after
// the link header and an IPv4 header without options.
const PayloadOffset = LinkHeaderLen + wire.IPv4MinHeaderLen

// Prepare starts an atomic datagram (RFC 6864 §4.1: DF set, ID 0, never
// fragmented) of n payload octets as o says, in buf when it is given (a
// buffer of the link's the caller took, at least PayloadOffset+n long) or
// else in a buffer the link lends: it routes it, writes its IPv4 header and
// returns the frame, whose payload the caller writes at PayloadOffset before
// handing it to Transmit. It returns nil, counted, when there is no route,
// the datagram exceeds the MTU (TooBigDF) or the link has no buffer; a
// given buf is then the caller's to give back.
func (s *Sender) Prepare(o Outgoing, n int, buf []byte) []byte {
	if _, ok := s.NextHop(o.Dst); !ok {
		s.c.NoRoute++
		return nil
	}
	if wire.IPv4MinHeaderLen+n > s.cfg.MTU {
		s.c.TooBigDF++
		return nil
	}
	if buf == nil {
		if buf = s.link.Alloc(); buf == nil {
			return nil
		}
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = s.cfg.TTL
	}
	h := wire.IPv4Header{TotalLen: wire.IPv4MinHeaderLen + n, TOS: o.TOS, TTL: ttl, Protocol: o.Proto,
		Src: s.cfg.Addr, Dst: o.Dst, DontFragment: true}
	h.Put(buf[LinkHeaderLen:])
	return buf[:PayloadOffset+n]
}

// Transmit hands a frame holding a finished datagram (Prepare's, or emit's)
// to the link: to everyone for a broadcast destination, else to the next
// hop.
func (s *Sender) Transmit(now time.Time, frame []byte) {
	dst := wire.IPv4(frame[LinkHeaderLen:]).Dst()
	s.c.Packets++
	switch {
	case dst.IsLimitedBroadcast() || dst == s.bcast:
		s.link.Broadcast(frame)
	default:
		hop, _ := s.NextHop(dst) // Send and Prepare checked the route
		s.link.Resolve(now, hop, frame)
	}
}

// Merged counts n datagrams the caller sent by appending their payload to a
// frame already transmitted (a GSO super-frame the link cuts back into
// them), so Packets still counts every datagram on the wire.
func (s *Sender) Merged(n int) { s.c.Packets += uint64(n) }
