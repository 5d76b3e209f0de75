package stack

import (
	"github.com/netspec/netspec/fsm/link"
)

// Counters are the stack's named event and drop counters, in the spirit of
// Linux's `netstat -s`. Per-layer drop reasons are indexed by their Reason type.
type Counters struct {
	FramesIn          uint64
	PacketsOut        uint64
	OutputDrops       uint64 // frame buffers exhausted (MaxOutput)
	Link              [link.NumReasons]uint64
	ARPRequestsOut    uint64
	ARPRepliesOut     uint64
	IPTooBigDF        uint64
	IPFragmentsOut    uint64
	ICMPIn            uint64
	ICMPBad           uint64
	ICMPEchoReplies   uint64
	ICMPEchoBroadcast uint64
	ICMPErrorsOut     uint64
	ICMPRateLimited   uint64
	UDPBad            uint64
	UDPNoPort         uint64
	TCPBroadcastDrops uint64
}

// Counters returns the stack's own counters (the layers' counters are reached
// through EachCounter).
func (s *Stack) Counters() *Counters { return &s.ctr }
