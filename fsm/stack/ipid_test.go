package stack

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// learn makes s know host ip at mac, as if it had asked for s's address.
func learn(s *Stack, now time.Time, ip wire.Addr, mac wire.MAC) {
	req := make([]byte, wire.EthernetHeaderLen+wire.ARPLen)
	wire.PutEthernet(req, wire.BroadcastMAC, mac, wire.EtherTypeARP)
	wire.PutARP(req[wire.EthernetHeaderLen:], wire.ARPRequest, mac, ip, wire.MAC{}, s.cfg.Addr)
	s.Input(now, req, RxMeta{})
	s.Output(func([]byte, TxMeta) {}) // the ARP reply
}

// TestIPIDAtomicIsZero: datagrams sent with DF and not fragmented (every
// TCP segment) carry ID 0 (RFC 6864 §4.1), so the ID counts nothing.
func TestIPIDAtomicIsZero(t *testing.T) {
	n := newSim(t, 51)
	var tcpIDs, n0 int
	n.trace = func(from string, f []byte) {
		eth, _ := wire.ParseEthernet(f)
		if eth.Type() != wire.EtherTypeIPv4 {
			return
		}
		ip, _ := wire.ParseIPv4(eth.Payload())
		if ip.Protocol() == wire.ProtoTCP {
			tcpIDs++
			if ip.ID() == 0 && ip.DontFragment() {
				n0++
			}
		}
	}
	transfer(t, n, 100_000)
	if tcpIDs < 50 || n0 != tcpIDs {
		t.Fatalf("%d of %d TCP datagrams atomic with ID 0", n0, tcpIDs)
	}
}
