package stack

import (
	"errors"
	"io"
	"testing"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/tcp"
)

// findSocket returns the socket of st in state with remote port rport (0:
// any), or fails.
func findSocket(t *testing.T, socks []TCPSocket, state tcp.State, lport, rport uint16) TCPSocket {
	t.Helper()
	for _, s := range socks {
		if s.State == state && s.LPort == lport && (rport == 0 || s.RPort == rport) {
			return s
		}
	}
	t.Fatalf("no %v socket :%d -> :%d in %+v", state, lport, rport, socks)
	return TCPSocket{}
}

// TestTCPSocketsSnapshot: the snapshot lists the listener, an accepted
// connection with its descriptor, queues and RTT estimates, a connection
// waiting in the accept queue without a descriptor, and a TIME-WAIT record.
func TestTCPSocketsSnapshot(t *testing.T) {
	n := newSim(t, 7)
	cfd, sfd := n.connect(80)
	ln := FD(0) // connect's listener: B's first descriptor
	msg := make([]byte, 5000)
	if k, err := n.a.Send(n.now, cfd, msg); k != len(msg) || err != nil {
		t.Fatalf("send = %d, %v", k, err)
	}
	// A second connection B does not accept.
	if _, err := n.a.Dial(n.now, addrB, 80); err != nil {
		t.Fatal(err)
	}
	n.run(func() bool {
		unread := 0
		for _, s := range n.b.TCPSockets(nil) {
			if s.State == tcp.StateEstablished {
				unread += s.RecvQ
			}
		}
		for _, s := range n.a.TCPSockets(nil) {
			if s.State != tcp.StateEstablished || s.SendQ != 0 {
				return false
			}
		}
		return unread == len(msg) && findSocket(t, n.b.TCPSockets(nil), tcp.StateListen, 80, 0).RecvQ == 1
	})
	b := n.b.TCPSockets(nil)
	lsock := findSocket(t, b, tcp.StateListen, 80, 0)
	if lsock.FD != ln || lsock.RecvQ != 1 || lsock.SendQ != 16 {
		t.Errorf("listener %+v: want fd %d, accept queue 1 of 16", lsock, ln)
	}
	a := n.a.TCPSockets(nil)
	if len(a) != 2 {
		t.Fatalf("A has %d sockets, want 2: %+v", len(a), a)
	}
	client := a[0]
	if a[1].FD == cfd {
		client = a[1]
	}
	served := findSocket(t, b, tcp.StateEstablished, 80, client.LPort)
	if served.FD != sfd || served.RecvQ != len(msg) || served.Remote != addrA || served.Local != addrB {
		t.Errorf("served %+v: want fd %d holding %d unread octets from %v", served, sfd, len(msg), addrA)
	}
	if client.FD != cfd || client.SendQ != 0 || client.SRTT <= 0 || client.RTO <= 0 || client.Cwnd == 0 || client.MSS != 1448 {
		t.Errorf("client %+v: want fd %d, all acknowledged, an RTT sample, a window, MSS 1448 (1460 less timestamps)", client, cfd)
	}
	var queued TCPSocket
	for _, s := range b {
		if s.State == tcp.StateEstablished && s.RPort != client.LPort {
			queued = s
		}
	}
	if queued.FD != -1 || queued.HasID {
		t.Errorf("unaccepted connection %+v: want no descriptor", queued)
	}

	// A closes first and ends in TIME-WAIT, a record no descriptor holds.
	if err := n.a.Close(n.now, cfd); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	n.run(func() bool {
		_, err := n.b.Recv(n.now, sfd, buf)
		if err != nil && !errors.Is(err, sock.ErrWouldBlock) && err != io.EOF {
			t.Fatal(err)
		}
		return err == io.EOF
	})
	if err := n.b.Close(n.now, sfd); err != nil {
		t.Fatal(err)
	}
	n.run(func() bool {
		for _, s := range n.a.TCPSockets(nil) {
			if s.State == tcp.StateTimeWait {
				return true
			}
		}
		return false
	})
	tw := findSocket(t, n.a.TCPSockets(nil), tcp.StateTimeWait, client.LPort, 80)
	if tw.FD != -1 || tw.Remote != addrB {
		t.Errorf("TIME-WAIT %+v: want no descriptor, remote %v", tw, addrB)
	}
}

// TestTCPSocketsRuleLastFired: a connection's Rule is the spec row that
// last fired for it: after a segment, the row its journey trace line names
// as deciding it; after a user call (Recv), that call's row. Listeners
// have none.
func TestTCPSocketsRuleLastFired(t *testing.T) {
	n := newSim(t, 11)
	last := map[uint16]int{} // remote port -> the row that decided its last segment
	n.b.SetTracer(func(tr *Trace) {
		if r := tr.decisive(traceTCP, traceTCP); r != nil && tr.HasPorts {
			last[tr.SrcPort] = int(r.ID())
		}
	})
	cfd, sfd := n.connect(80)
	msg := make([]byte, 3000)
	if k, err := n.a.Send(n.now, cfd, msg); k != len(msg) || err != nil {
		t.Fatalf("send = %d, %v", k, err)
	}
	var served TCPSocket
	n.run(func() bool {
		for _, s := range n.b.TCPSockets(nil) {
			if s.FD == sfd {
				served = s
			}
		}
		return served.RecvQ == len(msg)
	})
	// The last segment carried data: its text row decided it, not the
	// FIN stage that ended its pipeline.
	if want, ok := last[served.RPort]; !ok || served.Rule != want || tcp.Rules[want].Event != tcp.EvSegText {
		t.Fatalf("served connection's rule %d, want the last row traced for its segments (%d, %v)", served.Rule, want, ok)
	}
	if _, err := n.b.Recv(n.now, sfd, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	after := findSocket(t, n.b.TCPSockets(nil), tcp.StateEstablished, 80, served.RPort)
	if after.Rule < 0 || tcp.Rules[after.Rule].Event != tcp.EvReceive {
		t.Errorf("after Recv the rule is %d, want a Receive row", after.Rule)
	}
	if ln := findSocket(t, n.b.TCPSockets(nil), tcp.StateListen, 80, 0); ln.Rule != -1 {
		t.Errorf("listener's rule %d, want -1", ln.Rule)
	}
}
