package tcp

import (
	"encoding/binary"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/siphash"
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
	return seqnum.Value(m + uint32(siphash.Sum64(l.secret[0], l.secret[1], b[:])))
}
