package ip

import (
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// Defaults applied by NewReceiver to zero Config fields (Linux's ipfrag_time
// and ipfrag_high_thresh/low_thresh; RFC 791 §3.1's largest datagram).
const (
	DefaultReassemblyTimeout = 30 * time.Second
	DefaultMaxDatagram       = 65535
	DefaultMaxFragments      = 64
	DefaultMaxReassemblies   = 64
	DefaultMemHigh           = 4 << 20
	DefaultMemLow            = 3 << 20
)

// ICMP types and codes the receive side asks its caller to send (RFC 792).
const (
	ICMPDestUnreachable uint8 = 3  // code 2: protocol unreachable
	ICMPTimeExceeded    uint8 = 11 // code 1: fragment reassembly time exceeded
	ICMPParamProblem    uint8 = 12 // code 0: pointer indicates the error
	CodeProtoUnreach    uint8 = 2
	CodeReassemblyTime  uint8 = 1
)

// Config configures a Receiver. Zero fields take the defaults above.
type Config struct {
	Addr              wire.Addr     // our address
	PrefixLen         int           // on-link prefix length, for subnet-directed broadcast
	ReassemblyTimeout time.Duration // per datagram, from its first fragment (RFC 1122 §3.3.2)
	MaxDatagram       int           // largest reassembled datagram, header included
	MaxFragments      int           // fragments held per datagram
	MaxReassemblies   int           // datagrams reassembled at once (table size)
	MemHigh, MemLow   int           // fragment bytes held: above High, evict oldest down to Low

	// Protocols lists the IP protocol numbers the stack serves; nil means
	// ICMP, TCP and UDP. Others get ICMP protocol unreachable (RFC 1122 §3.2.2.1).
	Protocols []uint8
	// ICMPError, if set, is called when the pipeline owes the sender an ICMP
	// error (RFC 1122 §3.2.2): Destination Unreachable code 2, or Parameter
	// Problem with pointer. orig is the offending IP header plus at least the
	// first 8 payload bytes (RFC 792), valid only during the call.
	ICMPError func(typ, code, pointer uint8, orig []byte)
}

// Datagram is a complete IPv4 datagram addressed to us.
type Datagram struct {
	Src, Dst   wire.Addr
	Proto, TTL uint8
	TOS        uint8  // TOS octet: Diffserv and ECN field (of the first fragment when reassembled)
	Broadcast  bool   // sent to a broadcast address (no ICMP errors in reply, RFC 1122 §3.2.2)
	Header     []byte // IP header of the (first) fragment, for ICMP errors
	Payload    []byte
}

// Counters are the receive side's named counters, netstat -s style. Rx and
// Frag are indexed by RxReason and FragReason; index 0 (None) stays zero.
type Counters struct {
	Received    uint64 // packets given to Receive
	Delivered   uint64 // datagrams returned with ok=true
	Fragments   uint64 // fragments handed to reassembly
	Reassembled uint64 // datagrams completed by reassembly
	// Internal errors: rows marked impossible that fired (0 in a correct
	// stack), of spec/ipv4.fsm and of spec/frag.fsm.
	Internal, FragInternal uint64
	Rx                     [NumRxReasons]uint64
	Frag                   [NumFragReasons]uint64
}

// Receiver runs the IPv4 receive pipeline of spec/ipv4.fsm and the
// reassembly machines of spec/frag.fsm. It is not safe for concurrent use.
type Receiver struct {
	cfg       Config
	known     [256]bool
	mask      wire.Addr
	c         Counters
	lastDrop  RxReason
	lastFrag  FragReason
	rx        RxMachine[rxRun]     // spec/ipv4.fsm
	frag      FragMachine[fragRun] // spec/frag.fsm, for every reassembly slot
	pkt       wire.IPv4            // packet being processed
	d         *Datagram
	broadcast bool
	paramPtr  uint8
	delivered bool
	complete  bool // reassembly completed the datagram
	reasm
}

// NewReceiver returns a Receiver for cfg.
func NewReceiver(cfg Config) *Receiver {
	if cfg.ReassemblyTimeout <= 0 {
		cfg.ReassemblyTimeout = DefaultReassemblyTimeout
	}
	if cfg.MaxDatagram <= 0 || cfg.MaxDatagram > DefaultMaxDatagram {
		cfg.MaxDatagram = DefaultMaxDatagram
	}
	if cfg.MaxFragments <= 0 {
		cfg.MaxFragments = DefaultMaxFragments
	}
	if cfg.MaxReassemblies <= 0 {
		cfg.MaxReassemblies = DefaultMaxReassemblies
	}
	if cfg.MemHigh <= 0 {
		cfg.MemHigh = DefaultMemHigh
	}
	if cfg.MemLow <= 0 || cfg.MemLow > cfg.MemHigh {
		cfg.MemLow = cfg.MemHigh * 3 / 4
	}
	r := &Receiver{cfg: cfg}
	if cfg.Protocols == nil {
		cfg.Protocols = []uint8{wire.ProtoICMP, wire.ProtoTCP, wire.ProtoUDP}
	}
	for _, p := range cfg.Protocols {
		r.known[p] = true
	}
	if cfg.PrefixLen > 0 && cfg.PrefixLen <= 32 {
		m := ^uint32(0) << (32 - cfg.PrefixLen)
		r.mask = wire.Addr{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}
	}
	r.rx = NewRxMachine[rxRun]()
	r.rx.Count(nil, r.c.Rx[:])
	r.rx.CountInternal(&r.c.Internal)
	r.frag = NewFragMachine[fragRun]()
	r.frag.Count(nil, r.c.Frag[:])
	r.frag.CountInternal(&r.c.FragInternal)
	r.reasm.init(cfg)
	return r
}

// SetTrace installs fn, called with every rule that fires (one of rx, frag is
// nil); for tests and packet traces. nil removes it.
func (r *Receiver) SetTrace(fn func(rx *RxRule, frag *FragRule)) {
	r.rx.Hooks.Row, r.frag.Hooks.Row = nil, nil
	if fn != nil {
		r.rx.Hooks.Row = func(x *RxRule) { fn(x, nil) }
		r.frag.Hooks.Row = func(x *FragRule) { fn(nil, x) }
	}
}

// rxRun is the context of one step of the receive pipeline: the Receiver,
// whose packet being processed the guards and actions below read (RxImpl).
type rxRun struct{ *Receiver }

// Counters returns a copy of the counters.
func (r *Receiver) Counters() Counters { return r.c }

// LastDrop returns the pipeline drop reason of the last packet given to
// Receive (RxReasonNone if it was delivered or held for reassembly).
func (r *Receiver) LastDrop() RxReason { return r.lastDrop }

// LastFragDrop returns the reassembly drop reason of the last fragment
// (FragReasonNone if it was stored or none was processed).
func (r *Receiver) LastFragDrop() FragReason { return r.lastFrag }

// stageOf is the stage event each pipeline state runs next.
var stageOf = [NumRxStates]RxEvent{
	RxStateIdle:     RxEvHeader,
	RxStateParsed:   RxEvAddress,
	RxStateAccepted: RxEvOptions,
	RxStateChecked:  RxEvFragment,
	RxStateHeld:     RxEvReassembled,
	RxStateWhole:    RxEvDispatch,
}

// Receive runs the pipeline on one IPv4 packet (Ethernet payload). ok=true
// means d is a complete datagram for us; its Payload stays valid until the
// next Receive or Poll call. When ok is false and LastDrop is
// RxDropUnknownProtocol, d is filled too.
func (r *Receiver) Receive(now time.Time, pkt []byte, d *Datagram) (ok bool) {
	r.release()
	r.c.Received++
	r.now = now
	r.pkt, r.d = wire.IPv4(pkt), d
	r.broadcast, r.delivered, r.complete, r.paramPtr = false, false, false, 0
	r.lastDrop, r.lastFrag = RxReasonNone, FragReasonNone
	ok = r.run(RxStateIdle)
	r.pkt, r.d = nil, nil
	if ok {
		r.c.Delivered++
	}
	return ok
}

// run drives the pipeline from state s until a rule says done or drop. Each
// stage moves the state on; the step bound turns a spec that loops into a
// counted drop instead of a hang.
func (r *Receiver) run(s RxState) bool {
	for range 2 * NumRxEvents {
		rule := r.rx.Step(rxRun{r}, s, stageOf[s])
		s = rule.Next
		switch rule.Outcome {
		case RxOutDone:
			return r.delivered
		case RxOutDrop:
			r.lastDrop = rule.Reason
			return false
		case RxOutImpossible: // counted in Counters.Internal
			return false
		}
	}
	r.rx.Drop(RxDropSequence)
	r.lastDrop = RxDropSequence
	return false
}

// GuardHeaderPresent: RFC 791 §3.1: the fixed header is 20 bytes.
func (r rxRun) GuardHeaderPresent() bool { return len(r.pkt) >= wire.IPv4MinHeaderLen }

// GuardVersion4: RFC 1122 §3.2.1.1.
func (r rxRun) GuardVersion4() bool { return r.pkt.Version() == 4 }

// GuardIHLValid: RFC 791 §3.1: IHL >= 5 words, and the header fits the frame.
func (r rxRun) GuardIHLValid() bool {
	return r.pkt.IHL() >= wire.IPv4MinHeaderLen && r.pkt.IHL() <= len(r.pkt)
}

// GuardTotalLenValid: RFC 791 §3.1: IHL <= Total Length <= what the link
// delivered.
func (r rxRun) GuardTotalLenValid() bool {
	return r.pkt.TotalLen() >= r.pkt.IHL() && r.pkt.TotalLen() <= len(r.pkt)
}

// GuardChecksumValid: RFC 1122 §3.2.1.2.
func (r rxRun) GuardChecksumValid() bool { return r.pkt.HeaderChecksumValid() }

// GuardSourceValid: RFC 1122 §3.2.1.3: broadcast, multicast, loopback, class E
// and our own address are never valid sources; 0.0.0.0 is (initialisation
// procedures).
func (r rxRun) GuardSourceValid() bool {
	s := r.pkt.Src()
	return !s.IsLimitedBroadcast() && !s.IsMulticast() && !s.IsLoopback() &&
		s[0]&0xf0 != 0xf0 && !r.subnetBroadcast(s) && s != r.cfg.Addr
}

// GuardDstOurs: RFC 1122 §3.2.1.3 (1).
func (r rxRun) GuardDstOurs() bool { return r.pkt.Dst() == r.cfg.Addr }

// GuardDstBroadcast: RFC 1122 §3.2.1.3 (2), §3.3.6: limited or subnet-directed
// broadcast (all-ones, and the obsolete all-zeros host part).
func (r rxRun) GuardDstBroadcast() bool {
	d := r.pkt.Dst()
	return d.IsLimitedBroadcast() || r.subnetBroadcast(d)
}

// GuardOptionsValid: RFC 791 §3.1: option list walks to its end with sane
// lengths.
func (r rxRun) GuardOptionsValid() bool { return r.optionsValid() }

// GuardMayICMPError: RFC 1122 §3.2.2: no ICMP error about a broadcast or
// multicast datagram, a non-initial fragment, or a source that is not one
// unicast host.
func (r rxRun) GuardMayICMPError() bool {
	s := r.pkt.Src()
	return !r.broadcast && !r.pkt.Dst().IsMulticast() && (r.pkt.FragOffset() == 0 || r.complete) && !s.IsUnspecified()
}

// GuardIsFragment: RFC 791 §3.2: MF set or a non-zero offset.
func (r rxRun) GuardIsFragment() bool { return r.pkt.IsFragment() }

// GuardComplete: reassembly completed the datagram.
func (r rxRun) GuardComplete() bool { return r.complete }

// GuardKnownProto: the stack serves the protocol (Config.Protocols).
func (r rxRun) GuardKnownProto() bool { return r.known[r.d.Proto] }

// ActTrimPadding cuts link padding past Total Length and describes the
// packet in r.d.
func (r rxRun) ActTrimPadding() {
	r.pkt = r.pkt[:r.pkt.TotalLen()]
	r.fill()
}

// ActMarkBroadcast records that the datagram was sent to a broadcast address.
func (r rxRun) ActMarkBroadcast() {
	r.broadcast = true
	r.d.Broadcast = true
}

// ActReassemble hands the fragment to its reassembly machine (reasm.go).
func (r rxRun) ActReassemble() { r.complete = r.reassemble() }

// ActDeliver marks the datagram delivered.
func (r rxRun) ActDeliver() { r.delivered = true }

// ActSendProtoUnreachable asks for ICMP Destination Unreachable code 2 (RFC
// 1122 §3.2.2.1).
func (r rxRun) ActSendProtoUnreachable() {
	r.icmpError(ICMPDestUnreachable, CodeProtoUnreach, 0)
}

// ActSendParamProblem asks for ICMP Parameter Problem pointing at the bad
// option byte (RFC 1122 §3.2.2.5).
func (r rxRun) ActSendParamProblem() {
	r.icmpError(ICMPParamProblem, 0, r.paramPtr)
}

// fill describes the (unfragmented) packet in r.d.
func (r *Receiver) fill() {
	ihl := r.pkt.IHL()
	*r.d = Datagram{
		Src: r.pkt.Src(), Dst: r.pkt.Dst(), Proto: r.pkt.Protocol(), TTL: r.pkt.TTL(), TOS: r.pkt.TOS(),
		Header: r.pkt[:ihl], Payload: r.pkt[ihl:],
	}
}

func (r *Receiver) icmpError(typ, code, ptr uint8) {
	if r.cfg.ICMPError == nil {
		return
	}
	var orig []byte
	if r.complete {
		orig = r.firstQuote()
	} else {
		orig = r.pkt[:min(r.pkt.IHL()+8, len(r.pkt))]
	}
	r.cfg.ICMPError(typ, code, ptr, orig)
}

// subnetBroadcast reports whether a is our subnet's directed broadcast address,
// all-ones host part or (RFC 1122 §3.3.6, obsolete form) all-zeros.
func (r *Receiver) subnetBroadcast(a wire.Addr) bool {
	if r.cfg.PrefixLen <= 0 || r.cfg.PrefixLen > 30 {
		return false
	}
	for i := range a {
		if a[i]&r.mask[i] != r.cfg.Addr[i]&r.mask[i] {
			return false
		}
	}
	ones, zeros := true, true
	for i := range a {
		host := a[i] &^ r.mask[i]
		ones = ones && host == ^r.mask[i]
		zeros = zeros && host == 0
	}
	return ones || zeros
}

// optionsValid walks the option list (RFC 791 §3.1): End of Option List and
// No Operation are one byte; every other option has a length byte >= 2 that
// stays inside the header. On failure paramPtr points at the bad byte.
func (r *Receiver) optionsValid() bool {
	opts := r.pkt.Options()
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0: // End of Option List
			return true
		case 1: // No Operation
			i++
			continue
		}
		if i+1 >= len(opts) {
			r.paramPtr = uint8(wire.IPv4MinHeaderLen + i)
			return false
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			r.paramPtr = uint8(wire.IPv4MinHeaderLen + i + 1)
			return false
		}
		i += l
	}
	return true
}
