package stack

import (
	"errors"
	"testing"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
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

// TestSetMTUMovesTCPMSS: lowering the stack's MTU cuts an established
// connection's segments to the new MTU at once (SHLD-6: no fragments, no DF
// refusals), and raising it lets them grow back to the peer's MSS.
func TestSetMTUMovesTCPMSS(t *testing.T) {
	n := newSim(t, 23)
	cfd, sfd := n.connect(9)
	largest := 0
	n.trace = func(from string, f []byte) {
		if from == addrA.String() {
			largest = max(largest, len(f)-wire.EthernetHeaderLen)
		}
	}
	move := func(size int) {
		t.Helper()
		data := randomBytes(5, size)
		got := 0
		buf := make([]byte, 64<<10)
		n.run(func() bool {
			if len(data) > 0 {
				k, _ := n.a.Send(n.now, cfd, data)
				data = data[k:]
			}
			k, _ := n.b.Recv(n.now, sfd, buf)
			got += k
			return got == size
		})
	}
	n.a.SetMTU(n.now, 1000)
	if n.a.MTU() != 1000 {
		t.Fatalf("MTU %d", n.a.MTU())
	}
	move(100 << 10)
	if largest > 1000 || largest < 900 {
		t.Errorf("largest IP datagram after SetMTU(1000): %d", largest)
	}
	if c := n.a.IPSender().Counters(); c.TooBigDF != 0 {
		t.Errorf("%d datagrams refused for DF", c.TooBigDF)
	}
	largest = 0
	n.a.SetMTU(n.now, 1500)
	move(100 << 10)
	if largest != 1500 {
		t.Errorf("largest IP datagram after SetMTU(1500): %d, want 1500", largest)
	}
}
