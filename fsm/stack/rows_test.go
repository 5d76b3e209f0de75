package stack

import (
	"testing"

	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// TestDialSourceAddressBeforeSyn (RFC 9293 §3.9.1.1, MUST-44): an active
// OPEN names no local address, so the stack picks its own before the first
// SYN: Status shows it as soon as Dial returns, and the SYN carries it as
// its IPv4 source (and in its TCP checksum's pseudo-header, which the peer
// verifies: the handshake completes).
func TestDialSourceAddressBeforeSyn(t *testing.T) {
	n := newSim(t, 24)
	if _, err := n.b.Listen(n.now, 9, 4); err != nil {
		t.Fatal(err)
	}
	fd, err := n.a.Dial(n.now, addrB, 9)
	if err != nil {
		t.Fatal(err)
	}
	st, err := n.a.Status(fd)
	if err != nil || st.Local != addrA || st.LocalPort == 0 {
		t.Fatalf("status after Dial: %+v, %v; want local %v and a port", st, err, addrA)
	}
	var synSrc []wire.Addr
	n.trace = func(from string, f []byte) {
		if len(f) < 14+20+20 || f[12] != 0x08 || f[13] != 0x00 || f[14+9] != 6 {
			return
		}
		ihl := int(f[14]&0xf) * 4
		if f[14+ihl+13]&0x02 != 0 && from == addrA.String() { // SYN
			synSrc = append(synSrc, wire.Addr(f[14+12:14+16]))
		}
	}
	n.run(func() bool {
		st, _ := n.a.Status(fd)
		return st.State == tcp.StateEstablished.String()
	})
	if len(synSrc) == 0 || synSrc[0] != addrA {
		t.Fatalf("SYN sources %v, want %v", synSrc, addrA)
	}
}
