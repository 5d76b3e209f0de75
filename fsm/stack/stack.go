// Package stack ties the layers of netspec together into one plain value: frames
// go in with Input, timers run with Poll, frames come out with Output, and the
// RFC 9293 §3.9 user calls work on descriptors. It owns no goroutine, clock or
// global random source; driver.Loop runs it.
package stack

import (
	"math/rand/v2"
	"time"

	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/link"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/udp"
	"github.com/netspec/netspec/fsm/wire"
)

// FD is a socket descriptor: a small integer naming a listener or a connection.
type FD int32

// Readiness is re-exported from fsm/sock for the driver's convenience.
type Readiness = sock.Readiness

// Config configures a Stack.
type Config struct {
	MAC        wire.MAC  // our hardware address
	Addr       wire.Addr // our IPv4 address
	PrefixLen  int       // subnet prefix length (on-link test, directed broadcast)
	Gateway    wire.Addr // next hop for off-link destinations (zero: on-link only)
	MTU        int       // link MTU (default 1500)
	TTL        uint8     // time to live of the datagrams we send (default 64; RFC 9293 §3.9.2 MUST-49, RFC 1122 §3.2.1.7)
	Seed       uint64    // seeds the stack's random source (ISNs, ports, IP IDs)
	MaxFDs     int       // descriptor table size (default 65536)
	MaxOutput  int       // frames queued for the driver before drops (default 8192)
	HasFCS     bool      // received frames end in an Ethernet FCS (link mode "check")
	TCP        tcp.Config
	UDP        udp.Config
	ARP        link.ARPConfig
	IP         ip.Config // Addr and PrefixLen are filled from the fields above
	PingFlood  int       // most ICMP echo replies per second (default 1000; RFC 1122 §3.2.2 rate limit)
	ICMPErrors int       // most ICMP error messages per second (default 100)
	// GSOMaxSize, when positive, lets Output merge consecutive TCP segments of
	// one flow into super-frames of up to this many IP bytes (at most 65535)
	// for a driver that segments them (TxMeta). Zero sends every segment alone.
	GSOMaxSize int
	// NoAnnounce leaves out the start-up gratuitous ARP (Poll), for a stack
	// that shares its address and link with one that sends it (package
	// netspec's loops after the first).
	NoAnnounce bool
	// HandOff, when set together with TCP.OwnsFlow, takes each datagram
	// the receive pipeline reassembled from fragments that carries TCP for
	// a flow this stack does not own, or an ICMP error quoting one
	// (package netspec's loop 0, which receives every fragment, passes it
	// to the loop that owns the flow: handoff.go). The whole datagram,
	// not fragmented, is hdr followed by payload, both valid only during
	// the call (the receiver copies them once, into its own buffer); lport
	// and rport are its flow's ports, ours and the peer's. Counted in
	// stack.IPHandedOff; the receiving stack takes it with InputDatagram.
	HandOff func(hdr, payload []byte, lport, rport uint16)
	// SynGuard tunes the SYN admission filter the stack asks its driver
	// for while under a SYN flood (synguard.go, SynFilterUpdate).
	SynGuard SynGuardConfig
}

// Stack is one host's network stack. It is not safe for concurrent use.
type Stack struct {
	cfg    Config
	now    time.Time
	rng    *rand.Rand
	port   *link.Port // Ethernet: frames in and out, ARP
	ipRx   *ip.Receiver
	ipTx   *ip.Sender
	tcp    *tcp.Layer
	udp    *udp.Layer
	fds    fdTable
	ctr    Counters
	icmp   *ip.ICMP
	dgram  ip.Datagram
	gso    gsoOpen      // the super-frame being built (Config.GSOMaxSize)
	supers []superFrame // queued frames that hold several segments
	tr     *tracer      // SetTracer: the journey of each received frame (trace.go)
	hold   holdList     // connections SendMore left unpushed (hold.go)
	guard  synGuard     // SYN admission under a flood (synguard.go)

	handHdr  [wire.IPv4MaxHeaderLen]byte // the header of the datagram being handed off (Config.HandOff)
	handedIn bool                        // InputDatagram is running: its segment does not outlive the call

	announced bool   // the start-up gratuitous ARP has been sent
	fixedMSS  uint16 // Config.TCP.MSS as given (0: MTU-40, following SetMTU)
}

// New returns a stack configured by cfg.
func New(cfg Config) *Stack {
	if cfg.MTU <= 0 {
		cfg.MTU = 1500
	}
	if cfg.TTL == 0 {
		cfg.TTL = 64
	}
	if cfg.MaxFDs <= 0 {
		cfg.MaxFDs = 1 << 16
	}
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = 8192
	}
	if cfg.PingFlood <= 0 {
		cfg.PingFlood = 1000
	}
	if cfg.ICMPErrors <= 0 {
		cfg.ICMPErrors = 100
	}
	if cfg.ARP.MaxPendingTotal <= 0 {
		// Frames waiting for ARP come from the output buffers: those of
		// unresolved neighbours never take more than a quarter of them.
		cfg.ARP.MaxPendingTotal = max(1, min(link.DefaultPendingTotal, cfg.MaxOutput/4))
	}
	fixedMSS := cfg.TCP.MSS
	if cfg.TCP.MSS == 0 {
		cfg.TCP.MSS = uint16(cfg.MTU - wire.IPv4MinHeaderLen - wire.TCPMinHeaderLen)
	}
	s := &Stack{cfg: cfg, fixedMSS: fixedMSS, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x6e657473706563)), announced: cfg.NoAnnounce}
	// The IP ID key: one draw from the stack's source (where the old
	// global counter's start came from, so TCP's draws are unchanged) and
	// one from a source of its own.
	idKey := [2]uint64{s.rng.Uint64(), rand.New(rand.NewPCG(cfg.Seed^ipIDSeedSalt, cfg.Seed)).Uint64()}
	s.port = link.NewPort(link.PortConfig{MAC: cfg.MAC, Addr: cfg.Addr, MTU: cfg.MTU, MaxOutput: cfg.MaxOutput, ARP: cfg.ARP})
	s.ipTx = ip.NewSender(ip.SenderConfig{Addr: cfg.Addr, PrefixLen: cfg.PrefixLen, Gateway: cfg.Gateway,
		MTU: cfg.MTU, TTL: cfg.TTL, IDKey: idKey}, s.port)
	if cfg.GSOMaxSize > 0 && cfg.MTU+wire.EthernetHeaderLen < gsoLarge {
		s.port.Queue().SetLarge(gsoLarge, gsoMaxLarge)
		s.supers = make([]superFrame, 0, gsoMaxLarge)
	}
	s.fds.init(cfg.MaxFDs)
	s.guard.init(cfg.SynGuard)
	ipc := cfg.IP
	ipc.Addr, ipc.PrefixLen = cfg.Addr, cfg.PrefixLen
	ipc.ICMPError = func(typ, code, ptr uint8, orig []byte) {
		s.icmp.SendError(s.now, orig, typ, code, ptr)
	}
	s.ipRx = ip.NewReceiver(ipc)
	s.tcp = tcp.NewLayer(cfg.TCP, tcpOutput{s}, s.rng)
	// UDP draws from its own source so that adding it left TCP's draws unchanged.
	s.udp = udp.NewLayer(cfg.UDP, udpOutput{s}, rand.New(rand.NewPCG(cfg.Seed^udpSeedSalt, cfg.Seed)))
	s.icmp = ip.NewICMP(ip.ICMPConfig{EchoRate: cfg.PingFlood, ErrorRate: cfg.ICMPErrors, Deliver: s.icmpDeliver}, s.ipTx)
	return s
}

// ipIDSeedSalt separates the IP ID key's source from the stack's.
const ipIDSeedSalt = 0x69706964736565

// Config returns the configuration the stack runs with (defaults filled in).
func (s *Stack) Config() Config { return s.cfg }

// Input processes one received Ethernet frame. The stack keeps no reference to
// frame after it returns, or within a batch (BeginBatch) after EndBatch.
func (s *Stack) Input(now time.Time, frame []byte, meta RxMeta) {
	s.now = now
	s.ctr.FramesIn++
	if s.tr != nil {
		s.inputTraced(now, frame, meta)
		return
	}
	s.input(now, frame, meta)
}

// input hands one frame to the link layer and what it accepts to IP.
func (s *Stack) input(now time.Time, frame []byte, meta RxMeta) {
	if pkt, ok := s.port.Input(now, frame, meta.FCS || s.cfg.HasFCS); ok {
		s.ipInput(now, pkt, meta)
	}
}

// BeginBatch and EndBatch bracket the Input calls of one batch of frames
// (one read from the link): TCP acknowledges the segments a connection
// received in the batch with one ACK at EndBatch (tcp.Layer.BeginBatch,
// tcp.Config.NoACKCoalescing), and processes consecutive in-order segments
// of a connection as one (receive coalescing, tcp.Config.NoRecvCoalescing).
// Input outside a batch acknowledges at once. Within a batch the frames
// given to Input must stay valid and unchanged until EndBatch (the driver
// loop's are: they are those of one read), and nothing but Input may be
// called.
func (s *Stack) BeginBatch() { s.tcp.BeginBatch() }

// EndBatch ends the batch BeginBatch started and sends the ACKs it held.
func (s *Stack) EndBatch(now time.Time) {
	s.now = now
	s.tcp.EndBatch(now)
}

func (s *Stack) ipInput(now time.Time, pkt []byte, meta RxMeta) {
	d := &s.dgram
	if !s.ipRx.Receive(now, pkt, d) {
		return
	}
	reassembled := wire.IPv4(pkt).IsFragment()
	if d.Proto == wire.ProtoTCP && !d.Broadcast && !s.guard.cfg.Off && bareSYN(d.Payload) {
		// Counted before any drop: what the SYN admission filter judges
		// is what reached us, whatever becomes of it (synguard.go).
		if dport := wire.TCP(d.Payload).DstPort(); s.tcp.Listening(d.Dst, dport) {
			s.synSeen(now, d.Src, dport)
		}
	}
	hop, routed := s.ipTx.NextHop(d.Src)
	if !routed && !d.Src.IsUnspecified() {
		// RFC 3704 §2.4 (loose reverse path): nothing could answer a source
		// we have no route back to. Dropping it here spares TCP an embryo
		// and ARP a resolution for every spoofed off-link SYN. (0.0.0.0 goes
		// on to the layers' own checks, RFC 9293 MUST-63.)
		s.ctr.IPNoRouteIn++
		s.traceDrop("NoRouteIn")
		return
	}
	switch d.Proto {
	case wire.ProtoTCP:
		if d.Broadcast {
			// RFC 1122 §4.2.3.10: a SYN to a broadcast address is discarded.
			s.ctr.TCPBroadcastDrops++
			s.traceDrop("TCPBroadcast")
			return
		}
		if reassembled && s.handOff(d) {
			return
		}
		syn := routed && bareSYN(d.Payload)
		if syn && s.port.ARP().WouldDrop(hop) {
			// Whatever TCP answered (a SYN,ACK, a cookie, a RST, a
			// challenge ACK) ARP would drop unsent: the hop is unknown and
			// has no slot to take, or it failed or its queue is full (a
			// row of spec/arp.fsm that only drops: link.ARP.WouldDrop).
			// Such a SYN is as good as lost (RFC 9293 §3.8.1: the peer
			// retransmits), so it
			// costs no embryo, cookie or frame: a flood of SYNs from
			// spoofed on-link sources stops here.
			s.ctr.TCPSynNoNeighbour++
			s.traceDrop("SynNoNeighbour")
			return
		}
		// A segment in its frame (not reassembled) stays valid until
		// EndBatch: TCP may hold it to coalesce it with the next ones.
		// A SYN whose answer must wait for ARP gets a cookie, not an
		// embryo (tcp.SegMeta.Unresolved): a spoofed on-link source holds
		// no SYN queue slot while its resolution fails.
		tm := tcp.SegMeta{TOS: d.TOS, TTL: d.TTL, Stable: !reassembled && !s.handedIn}
		if syn {
			_, known := s.port.ARP().Lookup(hop)
			tm.Unresolved = !known
		}
		s.tcp.InputIP(now, d.Src, d.Dst, tm, d.Payload, offloadCsumOK(pkt, meta))
	case wire.ProtoICMP:
		if reassembled && s.handOff(d) {
			return
		}
		s.icmp.Input(now, d)
	case wire.ProtoUDP:
		s.udpInput(now, d, offloadCsumOK(pkt, meta))
	}
}

// bareSYN reports whether seg, a TCP segment not yet validated, has SYN
// set and neither ACK nor RST: the opening of a connection, which changes
// nothing but what it is answered with.
func bareSYN(seg []byte) bool {
	return len(seg) >= wire.TCPMinHeaderLen &&
		wire.TCP(seg).Flags()&(wire.FlagSYN|wire.FlagACK|wire.FlagRST) == wire.FlagSYN
}

// offloadCsumOK reports whether the driver's metadata vouches for the L4
// checksum of the datagram pkt delivered. It vouches only for the frame it
// came with, so never for a datagram reassembled from fragments.
func offloadCsumOK(pkt []byte, meta RxMeta) bool {
	return (meta.CsumValid || meta.CsumPartial) && !wire.IPv4(pkt).IsFragment()
}

// Poll runs the timers due at now. The first Poll also broadcasts a
// gratuitous ARP for our address (RFC 5227 §3), so neighbours holding a stale
// entry for it learn our MAC when the stack starts.
func (s *Stack) Poll(now time.Time) {
	s.now = now
	if !s.announced {
		s.announced = true
		s.Announce(now)
	}
	s.port.ARP().Poll(now)
	s.ipRx.Poll(now, s.reassemblyExpired)
	s.tcp.Poll(now)
	s.pushHeld(now)
	if !s.synDeadline().IsZero() {
		s.synRoll(now)
	}
}

// NextDeadline is when Poll next needs to run; zero means no timer is pending.
// Before the first Poll it is a time long past, so the driver polls at once
// and the start-up announcement goes out.
func (s *Stack) NextDeadline() time.Time {
	if !s.announced {
		return time.Unix(1, 0)
	}
	// Asked after every call the loop runs: no array of times to walk.
	d := earlier(s.tcp.NextDeadline(), s.port.ARP().NextDeadline())
	d = earlier(earlier(d, s.ipRx.NextDeadline()), s.hold.at)
	return earlier(d, s.synDeadline())
}

// earlier returns the earlier of two deadlines, zero meaning none.
func earlier(a, b time.Time) time.Time {
	if b.IsZero() || !a.IsZero() && !b.Before(a) {
		return a
	}
	return b
}

// Output passes each queued outgoing frame to emit with its metadata, in
// order, and returns how many it passed. A frame is valid only during the call
// to emit. With Config.GSOMaxSize set, runs of TCP segments leave as
// super-frames (TxMeta.GSO) and every TCP frame's checksum is left to the
// link (TxMeta.NeedsCsum); otherwise meta is always zero.
func (s *Stack) Output(emit func(frame []byte, meta TxMeta)) int {
	return s.drain(emit, false)
}

// LendOutput is Output for a driver that writes the frames after the call:
// emit takes each frame's buffer as it is, and the stack does not reuse it
// until ReturnFrame gives it back, so the frames need no copy. Lent frames
// count against Config.MaxOutput until they are given back.
func (s *Stack) LendOutput(emit func(frame []byte, meta TxMeta)) int {
	return s.drain(emit, true)
}

// ReturnFrame gives back a frame LendOutput lent, once it is written.
func (s *Stack) ReturnFrame(frame []byte) { s.port.Queue().Release(frame) }

// Pending reports how many frames wait for Output.
func (s *Stack) Pending() int { return s.port.Queue().Len() }

// Ready passes each descriptor whose readiness changed since the last call to
// fn, and returns how many it passed.
func (s *Stack) Ready(fn func(fd FD, ev Readiness)) int {
	return s.fds.drainReady(fn)
}
