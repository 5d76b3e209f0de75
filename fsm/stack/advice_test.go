package stack

import (
	"testing"

	"github.com/netspec/netspec/fsm/link"
)

// TestTCPR1AdviceReprobesARP: when the peer falls silent, TCP's third
// retransmission of a segment (R1, RFC 9293 §3.8.3 MUST-20) gives IP
// negative advice, and the next hop's ARP entry, reachable until then,
// turns STALE and is asked again (RFC 1122 §2.3.2.1).
func TestTCPR1AdviceReprobesARP(t *testing.T) {
	n := newSim(t, 5)
	cfd, _ := n.connect(80)
	if st, ok := n.a.ARP().State(addrB); !ok || st != link.Reachable {
		t.Fatalf("B's ARP entry %v %v before the test", st, ok)
	}
	n.loss = 1 // the peer is gone
	if _, err := n.a.Send(n.now, cfd, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	reqs := n.a.Port().Counters().ARPRequestsOut
	n.run(func() bool { return n.a.tcp.Counters().R1Advice > 0 })
	if got := n.a.Counters().ARPAdvice; got != 1 {
		t.Fatalf("ARPAdvice %d, want 1", got)
	}
	if st, _ := n.a.ARP().State(addrB); st != link.Stale {
		t.Fatalf("B's ARP entry %v after the advice, want Stale", st)
	}
	if st, err := n.a.Status(cfd); err != nil || !st.Retrying {
		t.Fatalf("Status %+v, %v: want Retrying (SHLD-9)", st, err)
	}
	// The retransmission that follows the advice makes ARP ask again.
	n.run(func() bool { return n.a.Port().Counters().ARPRequestsOut > reqs })
}
