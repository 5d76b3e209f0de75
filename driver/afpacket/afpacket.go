// Package afpacket is the Linux AF_PACKET raw-socket link driver. Frames carry
// the kernel's virtio-net header (PACKET_VNET_HDR), so the stack learns which
// checksums the sender offloaded and receives GSO/TSO super-frames whole.
// Receive is batched with recvmmsg and send with sendmmsg. The link core
// (driver/fdlink) does the rest: ReadBatch waits in the Go netpoller, so
// deadlines and Close from another goroutine need no spin.
package afpacket

import (
	"errors"

	"github.com/netspec/netspec/driver/fdlink"
)

// Defaults used when an Options field is zero.
const (
	// DefaultBatch is the number of frames one recvmmsg/sendmmsg moves at most.
	DefaultBatch = fdlink.DefaultBatch
	// DefaultMaxFrame holds a 64 KiB GSO super-frame (IPv4 total length is at
	// most 65535) plus an Ethernet header and two VLAN tags.
	DefaultMaxFrame = fdlink.DefaultMaxFrame
	// DefaultRcvBuf is the socket receive buffer. The kernel default holds
	// only ~90 frames (each costs its truesize, ~2.3 KiB for a small one): a
	// burst from 64 connections overflowed it and the kernel dropped data
	// and RSTs (counted in Stats.KernelDrops). 8 MiB holds thousands.
	DefaultRcvBuf = 8 << 20
)

var (
	// ErrNoInterface is wrapped by Open when the interface does not exist in
	// the caller's network namespace.
	// It is fdlink.ErrNoInterface, as is tap.ErrNoInterface.
	ErrNoInterface = fdlink.ErrNoInterface
	// ErrNotSupported is returned by Open on systems without AF_PACKET.
	ErrNotSupported = errors.New("afpacket: AF_PACKET is only supported on Linux")
)

// Options tune a Link. The zero value is the recommended configuration.
type Options struct {
	// NoVnetHdr disables PACKET_VNET_HDR: frames then come without offload
	// metadata (RxMeta.CsumPartial/CsumValid stay false).
	NoVnetHdr bool
	// Promisc joins the interface's promiscuous membership (off by default).
	Promisc bool
	// Batch is the most frames one system call moves; zero means DefaultBatch.
	Batch int
	// MaxFrame is the largest frame delivered; zero means DefaultMaxFrame.
	// Longer frames are counted (RxTruncated) and dropped, never cut.
	MaxFrame int
	// RcvBuf sets SO_RCVBUF(FORCE) in bytes; zero means DefaultRcvBuf and a
	// negative value keeps the kernel default (rmem_default, about 208 KiB).
	RcvBuf int
}

// Stats counts what a Link did: the link core's counters (fdlink.Stats)
// and AF_PACKET's own drop reasons. Every frame the kernel handed over is
// either delivered or counted under a drop reason.
type Stats struct {
	fdlink.Stats
	RxOutgoing  uint64 // dropped: our own transmissions looped back (PACKET_OUTGOING)
	KernelDrops uint64 // dropped by the kernel: socket buffer full (PACKET_STATISTICS)
}
