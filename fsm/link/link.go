// Package link is the Ethernet II layer: it decides which received frames are
// ours and who gets them (ARP or IPv4), and keeps the ARP neighbour cache that
// resolves next hops before frames leave.
package link

import (
	"github.com/netspec/netspec/fsm/wire"
)

// Reason names why the link layer dropped a frame. Each has a counter.
type Reason uint8

// Drop reasons of the link layer.
const (
	ReasonNone         Reason = iota
	ReasonRunt                // shorter than an Ethernet header
	ReasonBadFCS              // FCS present and wrong (IEEE 802.3 §3.2.9)
	ReasonNotForUs            // destination MAC neither ours, broadcast, nor multicast
	ReasonMulticast           // multicast frames: no group joined
	ReasonEtherType           // EtherType we do not speak
	ReasonARPMalformed        // ARP that is not Ethernet/IPv4 (RFC 826)
	ReasonARPNotForUs         // ARP whose target is another address
	ReasonARPQueueFull        // a frame waiting for resolution did not fit the queue
	ReasonARPFailed           // resolution gave up; waiting frames dropped
	NumReasons
)

var reasonNames = [NumReasons]string{
	"none", "runt", "bad_fcs", "not_for_us", "multicast", "ethertype",
	"arp_malformed", "arp_not_for_us", "arp_queue_full", "arp_failed",
}

// String returns the counter name of r.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Classify checks one received frame against our MAC and returns its EtherType
// and payload, or the reason to drop it. When hasFCS is set the frame ends in a
// 4-byte FCS, which is checked and removed.
func Classify(frame []byte, ours wire.MAC, hasFCS bool) (wire.EtherType, []byte, Reason) {
	if hasFCS {
		if len(frame) < wire.EthernetHeaderLen+4 || !wire.CheckFCS(frame) {
			return 0, nil, ReasonBadFCS
		}
		frame = frame[:len(frame)-4]
	}
	eth, err := wire.ParseEthernet(frame)
	if err != nil {
		return 0, nil, ReasonRunt
	}
	dst := eth.Dst()
	switch {
	case dst == ours || dst.IsBroadcast():
	case dst.IsMulticast():
		return 0, nil, ReasonMulticast
	default:
		return 0, nil, ReasonNotForUs
	}
	t := eth.Type()
	switch t {
	case wire.EtherTypeIPv4, wire.EtherTypeARP:
		return t, eth.Payload(), ReasonNone
	}
	return 0, nil, ReasonEtherType
}
