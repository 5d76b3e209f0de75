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
