// Package afpacket is the Linux AF_PACKET raw-socket link driver. Frames carry
// the kernel's virtio-net header (PACKET_VNET_HDR), so the stack learns which
// checksums the sender offloaded and receives GSO/TSO super-frames whole.
// Receive is batched, with recvmmsg or from a TPACKET_V3 ring shared with
// the kernel (Options.Receive), and send with sendmmsg. The link core
// (driver/fdlink) does the rest: ReadBatch waits in the Go netpoller, so
// deadlines and Close from another goroutine need no spin.
package afpacket

import (
	"errors"
	"log/slog"

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
	// DefaultRingBlockSize is the size of one receive ring block: three
	// 64 KiB super-frames or ~1,600 small frames.
	DefaultRingBlockSize = 256 << 10
	// DefaultRingBlocks is the number of ring blocks: 8 MiB, DefaultRcvBuf's
	// budget, of frames rather than socket-buffer truesize.
	DefaultRingBlocks = 32
)

var (
	// ErrNoInterface is wrapped by Open when the interface does not exist in
	// the caller's network namespace.
	// It is fdlink.ErrNoInterface, as is tap.ErrNoInterface.
	ErrNoInterface = fdlink.ErrNoInterface
	// ErrNotSupported is returned by Open on systems without AF_PACKET.
	ErrNotSupported = errors.New("afpacket: AF_PACKET is only supported on Linux")
)

// Receive selects how a Link receives frames.
type Receive uint8

// Receive paths.
const (
	// ReceiveDefault is ReceiveRing.
	ReceiveDefault Receive = iota
	// ReceiveMmsg copies batches of frames out of the socket's queue with
	// recvmmsg: one system call per batch, the kernel's per-frame work of a
	// socket queue.
	ReceiveMmsg
	// ReceiveRing reads frames from a TPACKET_V3 receive ring mapped into
	// the process (no system call per batch under load), and falls back to
	// recvmmsg, logging why, when the ring cannot be set up.
	ReceiveRing
)

// Send selects how a Link sends frames.
type Send uint8

// Send paths.
const (
	// SendDefault is SendRing.
	SendDefault Send = iota
	// SendMmsg sends each batch with sendmmsg: one system call per batch,
	// one message (header and iovecs) per frame.
	SendMmsg
	// SendRing writes the plain frames of each batch into a TPACKET_V2
	// send ring mapped into the process and makes one sendto for them
	// (GSO super-frames still go with sendmmsg, see txring_linux.go); it
	// needs the virtio-net header and falls back to sendmmsg, logging why,
	// when the ring cannot be set up.
	SendRing
)

// SendEnv names the environment variable that, set to "mmsg", makes Links
// opened with SendDefault send with sendmmsg alone: the operator's switch
// for the send ring, as Options.Send is the program's.
const SendEnv = "NETSPEC_AFPACKET_SEND"

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
	// With the ring it does not apply: the ring's size bounds what waits.
	RcvBuf int
	// Receive selects the receive path (zero: ReceiveDefault).
	Receive Receive
	// RingBlockSize and RingBlocks shape the ring (zero: DefaultRingBlockSize,
	// DefaultRingBlocks). A block must hold the largest frame (MaxFrame)
	// whole and be a multiple of the page size.
	RingBlockSize, RingBlocks int
	// Send selects the send path (zero: SendDefault).
	Send Send
	// TxRingFrames is the number of send ring slots (zero:
	// DefaultTxRingFrames); each holds a frame of the interface's MTU.
	TxRingFrames int
	// Logger receives the reason when a ring cannot be set up (nil:
	// slog.Default()).
	Logger *slog.Logger
}

// Stats counts what a Link did: the link core's counters (fdlink.Stats)
// and AF_PACKET's own drop reasons. Every frame the kernel handed over is
// either delivered or counted under a drop reason.
type Stats struct {
	fdlink.Stats
	RxOutgoing  uint64 // dropped: our own transmissions looped back (PACKET_OUTGOING)
	KernelDrops uint64 // dropped by the kernel: socket buffer or ring full (PACKET_STATISTICS)
	RingBad     uint64 // dropped: ring frames the kernel claimed but did not fill, or malformed
	RingBlocks  uint64 // ring blocks handed back to the kernel
	RingFreezes uint64 // times the kernel found the ring full (tp_freeze_q_cnt)
	TxRingFull  uint64 // sends that found every send ring slot in flight and waited
}
