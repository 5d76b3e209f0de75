package fdlink

import (
	"encoding/binary"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/stack"
)

// VnetHdrLen is the length of the legacy virtio-net header (struct
// virtio_net_hdr) that AF_PACKET (PACKET_VNET_HDR) and TAP (IFF_VNET_HDR)
// put before each frame.
const VnetHdrLen = 10

// VnetHdr is one virtio-net header.
type VnetHdr = [VnetHdrLen]byte

// virtio-net header values (virtio spec 1.1 §5.1.6, linux/virtio_net.h).
const (
	vnetFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum left for the receiver
	vnetFlagDataValid = 2 // VIRTIO_NET_HDR_F_DATA_VALID: checksum already verified
	vnetGSONone       = 0 // VIRTIO_NET_HDR_GSO_NONE
	vnetGSOTCPv4      = 1 // VIRTIO_NET_HDR_GSO_TCPV4
)

// PutVnetHdr encodes m as a virtio-net header in h (virtio spec 1.1
// §5.1.6.2), in the host's byte order as Linux's packet sockets and TAP
// devices expect from a little-endian host: flags, gso_type, hdr_len,
// gso_size, csum_start, csum_offset. A zero m gives a zero header.
func PutVnetHdr(h *VnetHdr, m *driver.TxMeta) {
	h[0], h[1] = 0, 0
	if m.NeedsCsum {
		h[0] = vnetFlagNeedsCsum
	}
	if m.GSO == stack.GSOTCPv4 {
		h[1] = vnetGSOTCPv4
	}
	binary.NativeEndian.PutUint16(h[2:], m.HdrLen)
	binary.NativeEndian.PutUint16(h[4:], m.GSOSize)
	binary.NativeEndian.PutUint16(h[6:], m.CsumStart)
	binary.NativeEndian.PutUint16(h[8:], m.CsumOffset)
}

// rxVnetHdr reads what a received frame's virtio-net header tells the stack
// (virtio spec 1.1 §5.1.6.4): the checksum is still to be computed
// (NEEDS_CSUM: the sender offloaded it; the stack treats it as valid) or was
// verified (DATA_VALID), and whether the frame is a GSO super-frame.
func rxVnetHdr(h *VnetHdr) (csumPartial, csumValid, gso bool) {
	return h[0]&vnetFlagNeedsCsum != 0, h[0]&vnetFlagDataValid != 0, h[1] != vnetGSONone
}
