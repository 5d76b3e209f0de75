package link

import (
	"github.com/netspec/netspec/fsm/wire"
)

// Reason names why the link layer dropped a frame. Each has a counter.
type Reason uint8

// Drop reasons of the link layer.
const (
	ReasonNone          Reason = iota
	ReasonRunt                 // shorter than an Ethernet header
	ReasonBadFCS               // FCS present and wrong (IEEE 802.3 §3.2.9)
	ReasonNotForUs             // destination MAC neither ours, broadcast, nor multicast
	ReasonMulticast            // multicast frames: no group joined
	ReasonEtherType            // EtherType we do not speak
	ReasonARPMalformed         // ARP that is not Ethernet/IPv4 (RFC 826)
	ReasonARPNotForUs          // ARP whose target is another address
	ReasonARPQueueFull         // a frame waiting for resolution did not fit the queue
	ReasonARPFailed            // resolution gave up; waiting frames dropped
	ReasonARPNoRoom            // no cache slot for a new neighbour (all resolving)
	ReasonARPUnresolved        // next hop in FAILED: frame dropped without asking again
	NumReasons
)

var reasonNames = [NumReasons]string{
	"none", "runt", "bad_fcs", "not_for_us", "multicast", "ethertype",
	"arp_malformed", "arp_not_for_us", "arp_queue_full", "arp_failed",
	"arp_no_room", "arp_unresolved",
}

// String returns the counter name of r.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Frame is what Receive found in one received frame.
type Frame struct {
	Type    wire.EtherType // EtherType of the payload (after any 802.1Q tag)
	Payload []byte         // the Ethernet payload, FCS and tag removed
	VLAN    bool           // an 802.1Q tag was stripped (IEEE 802.1Q §9.6)
	VID     uint16         // the stripped tag's VLAN identifier
	Reason  Reason         // why the frame is dropped; ReasonNone if it is not
}

// vlanTagLen is the length of an 802.1Q tag: TPID 0x8100 then the TCI.
const vlanTagLen = 4

// Classify checks one received frame against our MAC and returns its EtherType
// and payload, or the reason to drop it. When hasFCS is set the frame ends in a
// 4-byte FCS, which is checked and removed. It is Receive without the details.
func Classify(frame []byte, ours wire.MAC, hasFCS bool) (wire.EtherType, []byte, Reason) {
	f := Receive(frame, ours, hasFCS)
	return f.Type, f.Payload, f.Reason
}

// Receive classifies one received Ethernet II frame (RFC 894): the FCS is
// checked and removed when hasFCS is set (IEEE 802.3 §3.2.9), frames for other
// unicast addresses and for multicast groups (none joined) are dropped, a
// single 802.1Q tag is stripped (the host is on no VLAN: the tag is counted and
// the payload accepted, as a NIC with VLAN stripping would), and EtherTypes
// other than IPv4 and ARP are dropped.
func Receive(frame []byte, ours wire.MAC, hasFCS bool) Frame {
	if hasFCS {
		if len(frame) < wire.EthernetHeaderLen+wire.FCSLen || !wire.CheckFCS(frame) {
			return Frame{Reason: ReasonBadFCS}
		}
		frame = frame[:len(frame)-wire.FCSLen]
	}
	eth, err := wire.ParseEthernet(frame)
	if err != nil {
		return Frame{Reason: ReasonRunt}
	}
	dst := eth.Dst()
	switch {
	case dst == ours || dst.IsBroadcast():
	case dst.IsMulticast():
		return Frame{Reason: ReasonMulticast}
	default:
		return Frame{Reason: ReasonNotForUs}
	}
	f := Frame{Type: eth.Type(), Payload: eth.Payload()}
	if f.Type == wire.EtherTypeVLAN {
		if len(f.Payload) < vlanTagLen {
			return Frame{Reason: ReasonRunt}
		}
		f.VLAN = true
		f.VID = (uint16(f.Payload[0])<<8 | uint16(f.Payload[1])) & 0x0fff
		f.Type = wire.EtherType(uint16(f.Payload[2])<<8 | uint16(f.Payload[3]))
		f.Payload = f.Payload[vlanTagLen:]
	}
	switch f.Type {
	case wire.EtherTypeIPv4, wire.EtherTypeARP:
		return f
	}
	return Frame{Reason: ReasonEtherType, VLAN: f.VLAN, VID: f.VID}
}
