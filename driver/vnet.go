package driver

import (
	"encoding/binary"

	"github.com/netspec/netspec/fsm/stack"
)

// VnetHdrLen is the length of the legacy virtio-net header (struct
// virtio_net_hdr) that AF_PACKET (PACKET_VNET_HDR) and TAP (IFF_VNET_HDR)
// put before each frame.
const VnetHdrLen = 10

// virtio-net header values (virtio spec 1.1 §5.1.6, linux/virtio_net.h).
const (
	vnetFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
	vnetGSOTCPv4      = 1 // VIRTIO_NET_HDR_GSO_TCPV4
)

// PutVnetHdr encodes m as a virtio-net header in h[:VnetHdrLen] (virtio spec
// 1.1 §5.1.6.2), in the host's byte order as Linux's packet sockets and TAP
// devices expect from a little-endian host: flags, gso_type, hdr_len,
// gso_size, csum_start, csum_offset. A zero m gives a zero header.
func PutVnetHdr(h []byte, m *TxMeta) {
	_ = h[VnetHdrLen-1]
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
