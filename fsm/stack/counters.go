package stack

import (
	"reflect"

	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/link"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/udp"
)

// Counters are the stack's own named event and drop counters, in the spirit
// of Linux's `netstat -s`: those of the dispatch between the layers. Per-layer
// drop reasons are indexed by their Reason type. The layers keep their own
// (link.PortCounters, ip.SendCounters, ip.ICMPCounters, ...); EachCounter
// reports them all.
type Counters struct {
	FramesIn          uint64
	GSOFrames         uint64 // super-frames Output built (Config.GSOMaxSize)
	GSOSegments       uint64 // TCP segments merged into them
	GSONoBuffer       uint64 // segments that could have started a super-frame, sent alone: every large buffer was lent
	TCPHoldFull       uint64 // SendMore calls sent at once: maxHeld connections were held already
	TCPHoldPushed     uint64 // held connections Poll pushed at HoldDelay (nothing else had sent their octets first)
	ARPAdvice         uint64 // TCP's negative advice (R1) made a reachable neighbour re-probe (RFC 9293 §3.8.3)
	IPNoRouteIn       uint64 // datagrams dropped on receipt: no route back to their source (RFC 3704 §2.4)
	IPHandedOff       uint64 // reassembled datagrams of another stack's TCP flow passed to Config.HandOff
	IPHandedIn        uint64 // datagrams another stack reassembled, taken by InputDatagram
	TCPSynNoNeighbour uint64 // bare SYNs dropped on receipt: ARP would drop any answer (link.ARP.WouldDrop)
	// SYN admission under a flood (synguard.go): floods begun, filters
	// the link installed and failed to, the SYNs to judged ports that
	// reached us through a filter (from a proven source, or sampled), and
	// the kernel's drops estimated from the sampled ones and the share
	// (the kernel counts nothing it filters).
	TCPSynFloods             uint64
	TCPSynFilterUpdates      uint64
	TCPSynFilterFailed       uint64
	TCPSynFilterProven       uint64
	TCPSynFilterSampled      uint64
	TCPSynFilterDropEstimate uint64
	TCPSoftErrors            uint64 // ICMP errors recorded as soft errors on a TCP connection (RFC 1122 §4.2.3.9)
	TCPICMPAborts            uint64 // ICMP errors that aborted a connection (port/protocol unreachable: an opening one; any state in the rfc9293 profile)
	PMTUDecreases            uint64 // fragmentation-needed messages that lowered a TCP MSS (RFC 1191)
	UDPBad                   uint64
	UDPNoPort                uint64
	TCPBroadcastDrops        uint64
}

// Counters returns the stack's own counters; EachCounter reaches the layers' too.
func (s *Stack) Counters() *Counters { return &s.ctr }

// EachCounter calls fn with every counter of the stack and its layers, named
// "layer.counter" (drop reasons as "layer.drop.reason"), in a fixed order.
// Per-rule hit counts are left out: they are coverage data, not events.
func (s *Stack) EachCounter(fn func(name string, v uint64)) {
	s.eachStackCounter(fn)
	lc := s.port.Counters()
	for r := link.Reason(1); r < link.NumReasons; r++ {
		fn("link.drop."+r.String(), lc.Drops[r])
	}
	ac := s.port.ARP().Counters()
	fn("arp.Requests", ac.Requests)
	fn("arp.RequestsLimited", ac.RequestsLimited)
	fn("arp.Internal", ac.Internal)
	for r := link.ARPReason(1); r < link.NumARPReasons; r++ {
		fn("arp.drop."+r.String(), ac.Drops[r])
	}
	ic := s.ipRx.Counters()
	eachField("ip", &ic, fn)
	for r := ip.RxReason(1); r < ip.NumRxReasons; r++ {
		fn("ip.drop."+r.String(), ic.Rx[r])
	}
	for r := ip.FragReason(1); r < ip.NumFragReasons; r++ {
		fn("ip.frag.drop."+r.String(), ic.Frag[r])
	}
	// Levels: what reassembly holds now (bounded by ip.Config's MemHigh
	// and MaxReassemblies).
	fn("ip.frag.HeldBytes", uint64(s.ipRx.HeldBytes()))
	fn("ip.frag.Reassemblies", uint64(s.ipRx.Reassemblies()))
	uc := s.udp.Counters()
	eachField("udp", &uc, fn)
	for r := udp.Reason(1); r < udp.NumReasons; r++ {
		fn("udp.drop."+r.String(), uc.Drops[r])
	}
	tc := s.tcp.Counters()
	eachField("tcp", tc, fn)
	for r := tcp.Reason(1); r < tcp.NumReasons; r++ {
		fn("tcp.drop."+r.String(), tc.Drops[r])
	}
}

// eachStackCounter reports the "stack." counters: the stack's own and those
// of the Ethernet port, the IP send side and ICMP, under the names and in the order netspec stat, the
// Prometheus exporter and docs/counters.md know them by (they predate the
// move of those parts into fsm/link and fsm/ip).
func (s *Stack) eachStackCounter(fn func(string, uint64)) {
	c, lc, tx, ic := &s.ctr, s.port.Counters(), s.ipTx.Counters(), s.icmp.Counters()
	for _, e := range [...]struct {
		name string
		v    uint64
	}{
		{"stack.FramesIn", c.FramesIn},
		{"stack.PacketsOut", tx.Packets},
		{"stack.OutputDrops", lc.OutputDrops},
		{"stack.GSOFrames", c.GSOFrames},
		{"stack.GSOSegments", c.GSOSegments},
		{"stack.GSONoBuffer", c.GSONoBuffer},
		{"stack.TCPHoldFull", c.TCPHoldFull},
		{"stack.TCPHoldPushed", c.TCPHoldPushed},
		{"stack.VLANStripped", lc.VLANStripped},
		{"stack.ARPRequestsOut", lc.ARPRequestsOut},
		{"stack.ARPRepliesOut", lc.ARPRepliesOut},
		{"stack.ARPAdvice", c.ARPAdvice},
		{"stack.IPTooBigDF", tx.TooBigDF},
		{"stack.IPNoRoute", tx.NoRoute},
		{"stack.IPNoRouteIn", c.IPNoRouteIn},
		{"stack.IPHandedOff", c.IPHandedOff},
		{"stack.IPHandedIn", c.IPHandedIn},
		{"stack.TCPSynNoNeighbour", c.TCPSynNoNeighbour},
		{"stack.TCPSynFloods", c.TCPSynFloods},
		{"stack.TCPSynFilterUpdates", c.TCPSynFilterUpdates},
		{"stack.TCPSynFilterFailed", c.TCPSynFilterFailed},
		{"stack.TCPSynFilterProven", c.TCPSynFilterProven},
		{"stack.TCPSynFilterSampled", c.TCPSynFilterSampled},
		{"stack.TCPSynFilterDropEstimate", c.TCPSynFilterDropEstimate},
		{"stack.IPFragmentsOut", tx.Fragmented},
		{"stack.ICMPIn", ic.In},
		{"stack.ICMPBad", ic.Bad},
		{"stack.ICMPEchoReplies", ic.EchoReplies},
		{"stack.ICMPEchoBroadcast", ic.EchoBroadcast},
		{"stack.ICMPErrorsOut", ic.ErrorsOut},
		{"stack.ICMPRateLimited", ic.RateLimited},
		{"stack.ICMPErrorsIn", ic.ErrorsIn},
		{"stack.ICMPErrorsUnmatched", ic.ErrorsUnmatched},
		{"stack.TCPSoftErrors", c.TCPSoftErrors},
		{"stack.TCPICMPAborts", c.TCPICMPAborts},
		{"stack.ICMPSourceQuench", ic.SourceQuench},
		{"stack.PMTUDecreases", c.PMTUDecreases},
		{"stack.UDPBad", c.UDPBad},
		{"stack.UDPNoPort", c.UDPNoPort},
		{"stack.TCPBroadcastDrops", c.TCPBroadcastDrops},
	} {
		fn(e.name, e.v)
	}
}

// eachField reports the uint64 fields of the struct *p; arrays are skipped
// (their elements are reported by name by the caller).
func eachField(prefix string, p any, fn func(string, uint64)) {
	v := reflect.ValueOf(p).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Uint64 {
			fn(prefix+"."+t.Field(i).Name, f.Uint())
		}
	}
}
