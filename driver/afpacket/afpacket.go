// Package afpacket is the Linux AF_PACKET raw-socket link driver. Frames carry
// the kernel's virtio-net header (PACKET_VNET_HDR), so the stack learns which
// checksums the sender offloaded and receives GSO/TSO super-frames whole.
// Receive is batched with recvmmsg and send with sendmmsg; ReadBatch waits in
// the Go netpoller, so deadlines and Close from another goroutine need no spin.
package afpacket

import "errors"

// Defaults used when an Options field is zero.
const (
	// DefaultBatch is the number of frames one recvmmsg/sendmmsg moves at most.
	DefaultBatch = 64
	// DefaultMaxFrame holds a 64 KiB GSO super-frame (IPv4 total length is at
	// most 65535) plus an Ethernet header and two VLAN tags.
	DefaultMaxFrame = 65536 + 14 + 8
	// DefaultRcvBuf is the socket receive buffer. The kernel default holds
	// only ~90 frames (each costs its truesize, ~2.3 KiB for a small one): a
	// burst from 64 connections overflowed it and the kernel dropped data
	// and RSTs (counted in Stats.KernelDrops). 8 MiB holds thousands.
	DefaultRcvBuf = 8 << 20
	// vnetHdrLen is sizeof(struct virtio_net_hdr), the legacy header
	// PACKET_VNET_HDR prepends (virtio spec 1.1 §5.1.6).
	vnetHdrLen = 10
)

// virtio_net_hdr flags and GSO types (virtio spec 1.1 §5.1.6, linux/virtio_net.h).
const (
	vnetFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum left for the receiver
	vnetFlagDataValid = 2 // VIRTIO_NET_HDR_F_DATA_VALID: checksum already verified
	vnetGSONone       = 0 // VIRTIO_NET_HDR_GSO_NONE
	vnetGSOTCPv4      = 1 // VIRTIO_NET_HDR_GSO_TCPV4
)

var (
	// ErrNoInterface is wrapped by Open when the interface does not exist in
	// the caller's network namespace.
	ErrNoInterface = errors.New("no such interface")
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

// Stats counts what a Link did. Every frame the kernel handed over is either
// delivered or counted under a drop reason.
type Stats struct {
	RxFrames      uint64 // frames delivered by ReadBatch
	RxBytes       uint64 // bytes delivered (Ethernet header included)
	RxTruncated   uint64 // dropped: longer than the caller's buffer (MSG_TRUNC)
	RxOutgoing    uint64 // dropped: our own transmissions looped back (PACKET_OUTGOING)
	RxShort       uint64 // dropped: shorter than the virtio-net header
	RxCsumPartial uint64 // delivered with VIRTIO_NET_HDR_F_NEEDS_CSUM
	RxCsumValid   uint64 // delivered with VIRTIO_NET_HDR_F_DATA_VALID
	RxGSO         uint64 // delivered GSO super-frames (gso_type != NONE)
	KernelDrops   uint64 // dropped by the kernel: socket buffer full (PACKET_STATISTICS)
	TxFrames      uint64 // frames accepted by sendmmsg
	TxBytes       uint64 // bytes accepted by sendmmsg
	TxErrors      uint64 // frames the kernel refused (e.g. EMSGSIZE)
}
