package tcp

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
)

// Per-row tests of paths no other test takes to the end, smoltcp style
// (test_<state>_<event>): each asserts what the row sends, the state it
// leaves, what the application is told and that no drop is counted.

// TestSynReceivedCloseThenAck: CLOSE in SYN-RECEIVED (a simultaneous open,
// the only SYN-RECEIVED the user holds) queues the FIN "for processing
// after entering ESTABLISHED state" (RFC 9293 §3.10.4): nothing is sent;
// the ACK completing the handshake (§3.10.7.4 step 5) tells the
// application it is connected and goes on to FIN-WAIT-1, which sends the
// FIN.
func TestSynReceivedCloseThenAck(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	r.send(seg{flags: SYN, seq: 300}) // simultaneous open (Figure 8)
	r.state(StateSynReceived)
	r.recv(seg{flags: SYN | ACK, seq: 100, ack: 301})
	if err := r.c.CloseWrite(r.now); err != nil {
		t.Fatalf("CLOSE in SYN-RECEIVED: %v", err)
	}
	r.state(StateSynReceived)
	r.recvNothing()
	r.o.notes = nil
	r.send(seg{flags: ACK, seq: 301, ack: 101})
	r.state(StateFinWait1)
	r.recv(seg{flags: FIN | ACK, seq: 101, ack: 301})
	connected := false
	for _, n := range r.o.notes {
		connected = connected || (n.id == 2 && n.ev&sock.Connected != 0)
	}
	if !connected {
		t.Fatalf("the application was not told the connection opened: %+v", r.o.notes)
	}
	if r.c.tcb.SndUna != 101 {
		t.Fatalf("SND.UNA %d after the ACK of our SYN, want 101", r.c.tcb.SndUna)
	}
	r.noDrops()
}

// TestClosingAck: the ACK of our FIN in CLOSING moves to TIME-WAIT (RFC
// 9293 §3.10.7.4 step 5) with the 2*MSL timer running; the segment is
// taken, not dropped.
func TestClosingAck(t *testing.T) {
	r := newRig(t, Config{MSL: 5 * time.Second}, 299)
	r.closingPassive()
	r.send(seg{flags: ACK, seq: 101, ack: 301})
	r.state(StateTimeWait)
	r.recvNothing()
	r.noDrops()
	if d := r.l.NextDeadline().Sub(r.now); d != 10*time.Second {
		t.Fatalf("next deadline in %v, want 2*MSL", d)
	}
	r.advance(10 * time.Second)
	r.state(StateClosed)
}

// TestTimeWaitFin: a FIN at RCV.NXT in TIME-WAIT (not the retransmission
// of the peer's FIN, which sits at RCV.NXT-1) reaches step 8: "Remain in
// the TIME-WAIT state. Acknowledge it, and restart the 2 MSL timeout"
// (RFC 9293 §3.10.7.4 step 8, MUST-13); nothing is dropped.
func TestTimeWaitFin(t *testing.T) {
	r := newRig(t, Config{MSL: 5 * time.Second}, 299)
	r.timeWaitWrite(99, 299)
	r.advance(6 * time.Second)
	r.send(seg{flags: FIN | ACK, seq: 101, ack: 301})
	r.recv(seg{flags: ACK, seq: 301, ack: 101})
	r.state(StateTimeWait)
	r.noDrops()
	if d := r.l.NextDeadline().Sub(r.now); d != 10*time.Second {
		t.Fatalf("next deadline in %v, want 2*MSL again", d)
	}
}

// TestEstablishedZeroWindowProbeTimestamp: with our window at zero the
// peer's probe at RCV.NXT is taken for its ACK (RFC 9293 §3.10.7.4 step 1)
// and its timestamp too: SEG.SEQ = RCV.NXT = Last.ACK.sent, so TS.Recent
// takes its TSval (RFC 7323 §4.3) and the ACK we answer with echoes it.
func TestEstablishedZeroWindowProbeTimestamp(t *testing.T) {
	r := newRig(t, Config{RecvBuf: 1000, DelayedACK: -1}, 300)
	ours := r.establishedTS(100, 300, 5000, true)
	r.send(seg{flags: ACK, seq: 101, ack: 301, data: make([]byte, 1000), opts: tsOpt(5100, ours)})
	if o := optsOf(t, r.recv(seg{flags: ACK, seq: 301, ack: 1101, wnd0: true})); o.TSEcr != 5100 {
		t.Fatalf("ACK of the data echoes TSval %d, want 5100", o.TSEcr)
	}
	if r.c.rcv.wnd() != 0 {
		t.Fatalf("RCV.WND %d, want 0", r.c.rcv.wnd())
	}
	r.send(seg{flags: ACK, seq: 1101, ack: 301, data: []byte("p"), opts: tsOpt(5300, ours)})
	if o := optsOf(t, r.recv(seg{flags: ACK, seq: 301, ack: 1101})); o.TSEcr != 5300 {
		t.Fatalf("ACK of the window probe echoes TSval %d, want the probe's 5300 (TS.Recent not updated)", o.TSEcr)
	}
}

// TestSynReceivedAckSimultaneous: the ACK completing a simultaneous open
// (RFC 9293 Figure 8) initialises the send window from the segment (step
// 5: "set SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK") and
// tells the application it is connected; nothing is dropped.
func TestSynReceivedAckSimultaneous(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	r.send(seg{flags: SYN, seq: 300})
	r.state(StateSynReceived)
	r.recv(seg{flags: SYN | ACK, seq: 100, ack: 301})
	r.send(seg{flags: ACK, seq: 301, ack: 101, wnd: 1234})
	r.state(StateEstablished)
	if tcb := r.c.tcb; tcb.SndWnd != 1234 || tcb.SndWl1 != 301 || tcb.SndWl2 != 101 {
		t.Fatalf("send window not initialised from the ACK: SND.WND %d WL1 %d WL2 %d, want 1234 301 101", tcb.SndWnd, tcb.SndWl1, tcb.SndWl2)
	}
	r.noDrops()
}

// TestSynReceivedSimultaneousSynAckTextBeyondWindow: text on the peer's
// SYN,ACK in a simultaneous open (linux accepts it at IRS, RFC 9293 §3.5)
// is cut to the window we offered, like any segment (step 1): only
// RecvBuf octets are taken.
func TestSynReceivedSimultaneousSynAckTextBeyondWindow(t *testing.T) {
	r := newRig(t, Config{RecvBuf: 1000}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	r.send(seg{flags: SYN, seq: 300})
	r.state(StateSynReceived)
	r.recv(seg{flags: SYN | ACK, seq: 100, ack: 301})
	data := pattern(2, 1500)
	r.send(seg{flags: SYN | ACK, seq: 300, ack: 101, data: data})
	r.state(StateEstablished)
	if got := r.c.tcb.RcvNxt; got != 301+1000 {
		t.Fatalf("RCV.NXT %d, want %d: text beyond the offered window taken", got, 301+1000)
	}
	b := make([]byte, 2000)
	if n, _ := r.c.Recv(r.now, b); n != 1000 || string(b[:n]) != string(data[:1000]) {
		t.Fatalf("read %d octets, want the first 1000", n)
	}
}
