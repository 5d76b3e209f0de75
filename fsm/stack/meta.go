package stack

import "time"

// RxMeta is the metadata a driver delivers with each received frame.
type RxMeta struct {
	// Time is when the driver received the frame (RFC 6298 RTT samples use it).
	Time time.Time
	// CsumValid says the L4 checksum was already verified by the kernel or NIC.
	CsumValid bool
	// CsumPartial says the L4 checksum is not yet computed: the sender offloaded it
	// (virtio-net VIRTIO_NET_HDR_F_NEEDS_CSUM). The payload is intact; treat as valid.
	CsumPartial bool
	// FCS says the frame ends in a 4-byte Ethernet frame check sequence.
	FCS bool
}

// GSOType names the segmentation a driver (or the kernel behind it) must apply
// to an outgoing frame (virtio-net VIRTIO_NET_HDR_GSO_*).
type GSOType uint8

// Segmentation types.
const (
	// GSONone is a plain frame sent as it is.
	GSONone GSOType = iota
	// GSOTCPv4 is a TCP/IPv4 super-frame to cut into GSOSize-byte segments.
	GSOTCPv4
)

// TxMeta is the metadata the stack hands out with each outgoing frame. The zero
// value is a plain, fully checksummed frame. A super-frame (GSO != GSONone)
// carries one Ethernet, IPv4 and TCP header followed by the payload of several
// contiguous segments; its TCP checksum field holds the partial pseudo-header
// sum (wire.SetTCPPartialChecksum), to be completed per segment. Offsets count
// from the first byte of the Ethernet header, as virtio-net's do.
type TxMeta struct {
	// GSO is the segmentation type; GSONone for a plain frame.
	GSO GSOType
	// NeedsCsum says the L4 checksum must be completed: sum from CsumStart to
	// the end and store the complement at CsumStart+CsumOffset.
	NeedsCsum bool
	// GSOSize is the payload bytes per segment (the MSS); the last may be shorter.
	GSOSize uint16
	// HdrLen is the length of the headers repeated in every segment.
	HdrLen uint16
	// CsumStart is where checksumming starts (the TCP header).
	CsumStart uint16
	// CsumOffset is the checksum field's offset from CsumStart.
	CsumOffset uint16
}
