// Package fdlink is the link core under the file-descriptor drivers
// (driver/afpacket, driver/tap), as gVisor's fdbased endpoint serves TAP, TUN
// and AF_PACKET alike. A Core owns what a link over one non-blocking
// descriptor does the same whatever the descriptor is: the receive wait in
// Go's netpoller (deadlines, Close from another goroutine), the batch
// bookkeeping of ReadBatch and WriteBatch, the virtio-net header (virtio
// spec 1.1 §5.1.6) that carries checksum and GSO metadata, the counters
// (Stats), the errors, Close and the accessors.
//
// A driver keeps only what is its own: how the descriptor is made and
// configured (socket, bind and socket options for AF_PACKET; TUNSETIFF and
// the TUN ioctls for TAP) and the system call that moves frames (Config.Read
// and Config.Write: recvmmsg/sendmmsg, readv/writev). It embeds the Core, so
// the Core's methods are the driver's Link methods.
package fdlink

import "errors"

// Defaults a driver uses when its Options leave a field zero.
const (
	// DefaultBatch is the most frames one ReadBatch delivers and one
	// system call of WriteBatch moves.
	DefaultBatch = 64
	// DefaultMaxFrame holds a 64 KiB GSO/TSO super-frame (IPv4 total length
	// is at most 65535) plus an Ethernet header and two VLAN tags.
	DefaultMaxFrame = 65536 + 14 + 8
)

// ErrNoInterface is wrapped by a driver's Open when the interface does not
// exist in the caller's network namespace (afpacket.ErrNoInterface and
// tap.ErrNoInterface are this error).
var ErrNoInterface = errors.New("no such interface")

// errNotSupported is what a Core returns on systems without the drivers
// (their Open fails first, with the driver's own ErrNotSupported).
var errNotSupported = errors.New("fdlink: file-descriptor links are only supported on Linux")

// Stats counts what a link did. Every frame read from the descriptor is
// either delivered or counted under a drop reason (a driver may add reasons
// of its own, as afpacket.Stats does).
type Stats struct {
	RxFrames      uint64 // frames delivered by ReadBatch
	RxBytes       uint64 // bytes delivered (Ethernet header included)
	RxTruncated   uint64 // dropped: longer than the caller's buffer
	RxShort       uint64 // dropped: shorter than the virtio-net header
	RxCsumPartial uint64 // delivered with VIRTIO_NET_HDR_F_NEEDS_CSUM
	RxCsumValid   uint64 // delivered with VIRTIO_NET_HDR_F_DATA_VALID
	RxGSO         uint64 // delivered GSO super-frames (gso_type != NONE)
	TxFrames      uint64 // frames the kernel accepted
	TxBytes       uint64 // bytes the kernel accepted
	TxErrors      uint64 // frames the kernel refused (too short or long, device down, ...)
}
