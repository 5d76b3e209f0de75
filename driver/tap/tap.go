// Package tap is the Linux TAP link driver: netspec attaches to a TAP device
// through /dev/net/tun (TUNSETIFF with IFF_TAP|IFF_NO_PI) and exchanges whole
// Ethernet frames with the kernel, which sees the device as an ordinary
// interface (bridge it, address it, capture on it).
//
// With the virtio-net header (IFF_VNET_HDR, the default) and TUNSETOFFLOAD,
// the kernel may hand over frames whose checksum is still pending and TCP
// super-frames up to 64 KiB (the same metadata the AF_PACKET driver reads with
// PACKET_VNET_HDR); RxMeta.CsumPartial and RxMeta.CsumValid carry it to the
// stack. A TAP file descriptor delivers one frame per read(2): a batch is read
// until EAGAIN. The link core (driver/fdlink) does the rest: ReadBatch waits
// in the Go netpoller, so deadlines and Close from another goroutine need no
// spin.
//
// The kernel side of a TAP device has its own MAC address: it is the stack's
// peer, not the stack. The Link's MAC (Options.MAC, or a random locally
// administered address) is the address netspec answers to.
package tap

import (
	"errors"

	"github.com/netspec/netspec/driver/fdlink"
	"github.com/netspec/netspec/fsm/wire"
)

// Defaults used when an Options field is zero.
const (
	// DefaultBatch is the most frames one ReadBatch delivers.
	DefaultBatch = fdlink.DefaultBatch
	// DefaultMaxFrame holds a 64 KiB TSO super-frame (IPv4 total length is at
	// most 65535) plus an Ethernet header and two VLAN tags.
	DefaultMaxFrame = fdlink.DefaultMaxFrame
)

// TUNSETOFFLOAD flags (linux/if_tun.h): the offloads the reader accepts, that
// is the transmit features of the TAP net device.
const (
	tunFCsum = 0x01 // TUN_F_CSUM: frames may carry a pending checksum
	tunFTSO4 = 0x02 // TUN_F_TSO4: TCPv4 super-frames (needs TUN_F_CSUM)
	tunFTSO6 = 0x04 // TUN_F_TSO6: TCPv6 super-frames (needs TUN_F_CSUM)
)

var (
	// ErrNoInterface is wrapped by Open when Options.NoCreate is set and the
	// device does not exist in the caller's network namespace. It is
	// fdlink.ErrNoInterface, as is afpacket.ErrNoInterface.
	ErrNoInterface = fdlink.ErrNoInterface
	// ErrNotTAP is wrapped by Open when the named interface exists but is not
	// a TAP device (a veth, a TUN device, a multi-queue TAP).
	ErrNotTAP = errors.New("not a single-queue TAP device")
	// ErrBusy is wrapped by Open when another file descriptor is already
	// attached to the device.
	ErrBusy = errors.New("device busy (another process has it open)")
	// ErrPermission is wrapped by Open when the caller may not open
	// /dev/net/tun or attach the device (needs CAP_NET_ADMIN or the
	// device's owner).
	ErrPermission = errors.New("permission denied (needs root/CAP_NET_ADMIN or the device's owner)")
	// ErrNotSupported is returned by Open on systems without /dev/net/tun.
	ErrNotSupported = errors.New("tap: TAP devices are only supported on Linux")
)

// Options tune a Link. The zero value is the recommended configuration.
type Options struct {
	// MAC is the stack's own hardware address on the link. The zero value
	// picks a random locally administered unicast address that differs from
	// the kernel side's address.
	MAC wire.MAC
	// NoCreate refuses to create the device: Open fails with ErrNoInterface
	// when it does not exist. By default a missing device is created (it then
	// lives as long as the Link, unless Persist).
	NoCreate bool
	// Persist marks the device persistent (TUNSETPERSIST), so it outlives the
	// Link; delete it with "ip tuntap del".
	Persist bool
	// NoUp leaves the kernel side's administrative state alone. By default
	// Open sets the device up (IFF_UP), without which the kernel neither
	// sends to it nor accepts frames from it.
	NoUp bool
	// NoVnetHdr disables the virtio-net header (and with it every offload):
	// frames then carry no metadata and RxMeta.CsumPartial/CsumValid stay false.
	NoVnetHdr bool
	// NoOffload keeps the virtio-net header but tells the kernel (TUNSETOFFLOAD
	// 0) to finish checksums and segment TCP before handing frames over.
	NoOffload bool
	// Batch is the most frames one ReadBatch delivers; zero means DefaultBatch.
	Batch int
	// MaxFrame is the largest frame delivered; zero means DefaultMaxFrame.
	// Longer frames are counted (RxTruncated) and dropped, never cut.
	MaxFrame int
}

// Stats counts what a Link did: the link core's counters. Every frame read
// from the device is either delivered or counted under a drop reason.
type Stats = fdlink.Stats
