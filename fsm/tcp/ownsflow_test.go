package tcp

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// TestConnectTakesOnlyOwnedPorts: with Config.OwnsFlow an active OPEN
// takes only the ephemeral ports it accepts, with the flow's 4-tuple, and
// runs out of ports when it accepts none; an explicit port is not asked.
func TestConnectTakesOnlyOwnedPorts(t *testing.T) {
	asked := 0
	owns := func(local wire.Addr, lport uint16, remote wire.Addr, rport uint16) bool {
		asked++
		if local != addrA || remote != addrB || rport != 80 {
			t.Fatalf("OwnsFlow(%v, %d, %v, %d)", local, lport, remote, rport)
		}
		return (lport^rport)%3 == 1
	}
	l := NewLayer(Config{OwnsFlow: owns}, &capture{}, rand.New(rand.NewPCG(1, 2)))
	seen := map[uint16]bool{}
	for i := range 50 {
		c, err := l.Connect(epoch, addrA, 0, addrB, 80, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		p := c.key.lport
		if (p^80)%3 != 1 || p < ephFirst || seen[p] {
			t.Fatalf("connection %d took port %d", i, p)
		}
		seen[p] = true
	}
	if asked < 50 {
		t.Fatalf("OwnsFlow asked %d times for 50 connections", asked)
	}
	asked = 0
	if _, err := l.Connect(epoch, addrA, 40001, addrB, 80, 99); err != nil || asked != 0 {
		t.Fatalf("explicit port: %v, OwnsFlow asked %d times", err, asked)
	}
	none := NewLayer(Config{OwnsFlow: func(wire.Addr, uint16, wire.Addr, uint16) bool { return false }}, &capture{}, rand.New(rand.NewPCG(1, 2)))
	if _, err := none.Connect(epoch, addrA, 0, addrB, 80, 1); !errors.Is(err, sock.ErrNoPorts) {
		t.Fatalf("no port owned: %v, want ErrNoPorts", err)
	}
}
