package stack

import (
	"errors"
	"testing"

	"github.com/netspec/netspec/fsm/sock"
)

// TestSetBuffersLockSizes: SetReadBuffer and SetWriteBuffer fix a
// connection's buffers (auto-tuning off, as SO_RCVBUF/SO_SNDBUF); a bad
// descriptor is an error.
func TestSetBuffersLockSizes(t *testing.T) {
	n := newSim(t, 21)
	cfd, sfd := n.connect(7)
	if err := n.b.SetReadBuffer(n.now, sfd, 100<<10); err != nil {
		t.Fatal(err)
	}
	if err := n.a.SetWriteBuffer(n.now, cfd, 20<<10); err != nil {
		t.Fatal(err)
	}
	sc, _ := n.b.connOf(sfd)
	cc, _ := n.a.connOf(cfd)
	if got, fixed := sc.RecvBuffer(); got != 100<<10 || !fixed {
		t.Errorf("server receive buffer %d fixed %v", got, fixed)
	}
	if got, fixed := cc.SendBuffer(); got != 20<<10 || !fixed {
		t.Errorf("client send buffer %d fixed %v", got, fixed)
	}
	if got, fixed := cc.RecvBuffer(); got != 64<<10 || fixed {
		t.Errorf("client receive buffer %d fixed %v: want the auto-tuned default", got, fixed)
	}
	if err := n.a.SetReadBuffer(n.now, 999, 1); !errors.Is(err, sock.ErrBadFD) {
		t.Errorf("bad descriptor: %v", err)
	}
}

// TestStackUrgent: Stack.Urgent reaches the connection's urgent state
// (nothing pending on a fresh connection) and refuses a bad descriptor.
func TestStackUrgent(t *testing.T) {
	n := newSim(t, 22)
	_, sfd := n.connect(7)
	if p, ok, err := n.b.Urgent(sfd); p != 0 || ok || err != nil {
		t.Errorf("Urgent() = %d, %v, %v on a fresh connection", p, ok, err)
	}
	if _, _, err := n.b.Urgent(999); !errors.Is(err, sock.ErrBadFD) {
		t.Errorf("bad descriptor: %v", err)
	}
}
