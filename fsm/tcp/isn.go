package tcp

import (
	"encoding/binary"
	"math/bits"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
)

// isn returns ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
// (RFC 9293 §3.4.1, SHLD-1): M a 4-microsecond clock (MUST-8) and F
// SipHash-2-4 keyed by the layer's secret, which never leaves it (MUST-9).
func (l *Layer) isn(now time.Time, k connKey) seqnum.Value {
	if l.issHook != nil {
		return l.issHook()
	}
	var b [12]byte
	copy(b[0:4], k.laddr[:])
	copy(b[4:8], k.raddr[:])
	binary.BigEndian.PutUint16(b[8:], k.lport)
	binary.BigEndian.PutUint16(b[10:], k.rport)
	m := uint32(now.UnixNano() / 4000)
	return seqnum.Value(m + uint32(siphash24(l.secret[0], l.secret[1], b[:])))
}

// siphash24 is SipHash-2-4 (Aumasson and Bernstein) of msg under key (k0, k1).
func siphash24(k0, k1 uint64, msg []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		round()
		round()
		v0 ^= m
		msg = msg[8:]
	}
	var last [8]byte
	copy(last[:], msg)
	last[7] = byte(n)
	m := binary.LittleEndian.Uint64(last[:])
	v3 ^= m
	round()
	round()
	v0 ^= m
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
