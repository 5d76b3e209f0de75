package fdlink

import (
	"encoding/binary"
	"testing"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/stack"
)

// TestPutVnetHdr: the fields land where struct virtio_net_hdr has them
// (virtio spec 1.1 §5.1.6), in host byte order; a zero TxMeta gives a zero
// header, also over a used buffer.
func TestPutVnetHdr(t *testing.T) {
	h := VnetHdr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	PutVnetHdr(&h, &driver.TxMeta{})
	if h != (VnetHdr{}) {
		t.Fatalf("zero meta: % x", h)
	}
	m := driver.TxMeta{GSO: stack.GSOTCPv4, NeedsCsum: true, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	PutVnetHdr(&h, &m)
	u16 := func(i int) uint16 { return binary.NativeEndian.Uint16(h[i:]) }
	if h[0] != 1 || h[1] != 1 || u16(2) != 54 || u16(4) != 1448 || u16(6) != 34 || u16(8) != 16 {
		t.Fatalf("super-frame header % x", h)
	}
}

// TestRxVnetHdr: NEEDS_CSUM, DATA_VALID and any gso_type but NONE are read
// from a received header.
func TestRxVnetHdr(t *testing.T) {
	for _, c := range []struct {
		h                     VnetHdr
		partial, valid, isGSO bool
	}{
		{VnetHdr{}, false, false, false},
		{VnetHdr{1}, true, false, false},
		{VnetHdr{2}, false, true, false},
		{VnetHdr{1, 1}, true, false, true},
		{VnetHdr{0, 4}, false, false, true}, // VIRTIO_NET_HDR_GSO_TCPV6
	} {
		p, v, g := rxVnetHdr(&c.h)
		if p != c.partial || v != c.valid || g != c.isGSO {
			t.Errorf("% x: partial %v valid %v gso %v", c.h, p, v, g)
		}
	}
}
