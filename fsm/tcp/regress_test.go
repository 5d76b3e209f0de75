package tcp

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// Named regression tests for bugs fixed in the engine (issue 4).

// TestSynSentSynAckText: a SYN,ACK carrying text in SYN-SENT continues at
// step 6 (RFC 9293 §3.10.7.3 step 4) with the text starting at IRS+1; it
// used to be taken at IRS and held out of order below RCV.NXT forever.
func TestSynSentSynAckText(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	r.send(seg{flags: SYN | ACK, seq: 300, ack: 101, data: []byte("hello")})
	r.state(StateEstablished)
	r.recv(seg{flags: ACK, seq: 101, ack: 306})
	b := make([]byte, 16)
	n, err := r.c.Recv(r.now, b)
	if err != nil || string(b[:n]) != "hello" {
		t.Fatalf("Recv %q %v", b[:n], err)
	}
	if len(r.c.rcv.buf.ooo) != 0 {
		t.Fatalf("out-of-order ranges held: %v", r.c.rcv.buf.ooo)
	}
}

// TestSynSentSynAckTextBeyondWindow: text on a SYN,ACK is cut to the window
// our SYN offered, like any segment (RFC 9293 §3.10.7.4 step 1); it used to
// be written past the receive buffer.
func TestSynSentSynAckTextBeyondWindow(t *testing.T) {
	r := newRig(t, Config{RecvBuf: 1000}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	data := pattern(1, 1500)
	r.send(seg{flags: SYN | ACK, seq: 300, ack: 101, data: data})
	r.state(StateEstablished)
	r.recv(seg{flags: ACK, seq: 101, ack: 1301})
	b := make([]byte, 2000)
	n, _ := r.c.Recv(r.now, b)
	if !bytes.Equal(b[:n], data[:1000]) {
		t.Fatalf("read %d octets, want the first 1000", n)
	}
}

// TestSynReceivedSimultaneousSynAckText: in a simultaneous open the peer's
// SYN,ACK repeats its SYN at IRS; text on it starts at IRS+1 (RFC 9293 §3.5).
func TestSynReceivedSimultaneousSynAckText(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	r.send(seg{flags: SYN, seq: 300})
	r.state(StateSynReceived)
	r.recv(seg{flags: SYN | ACK, seq: 100, ack: 301})
	r.send(seg{flags: SYN | ACK, seq: 300, ack: 101, data: []byte("abc")})
	r.state(StateEstablished)
	b := make([]byte, 16)
	n, err := r.c.Recv(r.now, b)
	if err != nil || string(b[:n]) != "abc" {
		t.Fatalf("Recv %q %v", b[:n], err)
	}
	if got := r.c.tcb.RcvNxt; got != 304 {
		t.Fatalf("RCV.NXT %d, want 304", got)
	}
}

// TestSynSentCloseWriteQueuesFin: CloseWrite before the handshake completes
// queues the FIN behind the data Send accepted; it used to delete the
// connection and drop the data. Reading continues after the half-close.
func TestSynSentCloseWriteQueuesFin(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	if n, err := r.c.Send(r.now, []byte("abc")); n != 3 || err != nil {
		t.Fatalf("Send %d %v", n, err)
	}
	if err := r.c.CloseWrite(r.now); err != nil {
		t.Fatal(err)
	}
	r.state(StateSynSent)
	r.recvNothing()
	if _, err := r.c.Send(r.now, []byte("x")); err == nil {
		t.Fatal("Send after CloseWrite accepted")
	}
	r.send(seg{flags: SYN | ACK, seq: 300, ack: 101})
	r.state(StateFinWait1)
	r.recv(seg{flags: ACK | FIN, seq: 101, ack: 301, data: []byte("abc")})
	r.recvNothing()
	r.send(seg{flags: ACK, seq: 301, ack: 105, data: []byte("hi")})
	r.state(StateFinWait2)
	b := make([]byte, 16)
	n, err := r.c.Recv(r.now, b)
	if err != nil || string(b[:n]) != "hi" {
		t.Fatalf("Recv %q %v", b[:n], err)
	}
}

// TestSynSentCloseWriteNoData: a half-close with nothing queued still keeps
// the connection (the user reads on) and sends the FIN once synchronized.
func TestSynSentCloseWriteNoData(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	if err := r.c.CloseWrite(r.now); err != nil {
		t.Fatal(err)
	}
	r.state(StateSynSent)
	r.send(seg{flags: SYN | ACK, seq: 300, ack: 101})
	r.state(StateFinWait1)
	r.recv(seg{flags: ACK | FIN, seq: 101, ack: 301})
}

// TestSynSentCloseWithDataQueuesFin: CLOSE with data accepted is graceful
// too; CLOSE with nothing queued deletes the TCB at once (RFC 9293 §3.10.4).
func TestSynSentCloseWithDataQueuesFin(t *testing.T) {
	r := newRig(t, Config{}, 100, 500)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	r.c.Send(r.now, []byte("abc"))
	if err := r.c.Close(r.now); err != nil {
		t.Fatal(err)
	}
	r.state(StateSynSent)
	r.send(seg{flags: SYN | ACK, seq: 300, ack: 101})
	r.recv(seg{flags: ACK | FIN, seq: 101, ack: 301, data: []byte("abc")})
	r.state(StateFinWait1)

	r.pport++
	r.connect()
	r.recv(seg{flags: SYN, seq: 500})
	if err := r.c.Close(r.now); err != nil {
		t.Fatal(err)
	}
	r.state(StateClosed)
	r.recvNothing()
}

// TestSynSentCloseWriteSimultaneousOpen: the queued FIN survives the
// SYN-SENT -> SYN-RECEIVED path of a simultaneous open (RFC 9293 §3.5).
func TestSynSentCloseWriteSimultaneousOpen(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	r.c.Send(r.now, []byte("abc"))
	r.c.CloseWrite(r.now)
	r.send(seg{flags: SYN, seq: 300})
	r.state(StateSynReceived)
	r.recv(seg{flags: SYN | ACK, seq: 100, ack: 301})
	r.send(seg{flags: ACK, seq: 301, ack: 101})
	r.state(StateFinWait1)
	r.recv(seg{flags: ACK | FIN, seq: 101, ack: 301, data: []byte("abc")})
}

// TestSynSentRetransmittedSynEchoNoSample: the SYN was answered late (the
// peer's SYN,ACK was lost and retransmitted) and the SYN,ACK echoes our
// first SYN's timestamp: that echo times the whole backoff and gives no RTT
// sample (RFC 7323 §4.3 case C). It used to set SRTT to a second, which
// ruled the RTO of a lossy transfer for tens of seconds.
func TestSynSentRetransmittedSynEchoNoSample(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	first := optsOf(t, r.recv(seg{flags: SYN, seq: 100}))
	r.advance(time.Second)
	r.recv(seg{flags: SYN, seq: 100})
	r.advance(20 * time.Millisecond)
	opts := wire.TCPOptions{HasTimestamps: true, TSVal: 7000, TSEcr: first.TSVal, SACKPermitted: true, HasMSS: true, MSS: 1460}
	r.send(seg{flags: SYN | ACK, seq: 300, ack: 101, opts: opts})
	r.state(StateEstablished)
	if r.c.snd.hasRTT {
		t.Fatalf("RTT sampled from the echo of a retransmitted SYN: srtt %v", r.c.snd.srtt)
	}
}

// TestKarnNoTimerSampleAcrossRetransmission: a new segment timed after a
// retransmission is acknowledged by the same ACK as the retransmitted octets;
// its clock sample would include the repair and is not taken (MUST-18).
func TestKarnNoTimerSampleAcrossRetransmission(t *testing.T) {
	r := newRig(t, Config{NoDelay: true}, 299)
	r.establishedPassive(99, 299)
	r.c.Send(r.now, []byte("x"))
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("x")})
	srtt := r.c.snd.srtt
	r.advance(r.c.RTO())
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("x")})
	r.c.Send(r.now, []byte("y"))
	r.recv(seg{flags: ACK, seq: 301, ack: 100, data: []byte("y")})
	r.advance(500 * time.Millisecond)
	r.send(seg{flags: ACK, seq: 100, ack: 302})
	if r.c.snd.srtt != srtt {
		t.Fatalf("clock sample across a retransmission: srtt %v -> %v", srtt, r.c.snd.srtt)
	}
}

// TestKarnNoSampleFromSynAckResent: a SYN,ACK sent again for the peer's
// retransmitted SYN (oowSynAck) after our own timeout resent it is a
// retransmission of <SEQ=ISS>: the final ACK may answer an earlier copy
// (here the timeout's, 250 ms before it), so it gives no sample (Karn,
// MUST-18). Timed from the last copy it gave 50 ms, an RTO below the path's
// round trip.
func TestKarnNoSampleFromSynAckResent(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.listen(0)
	r.send(seg{flags: SYN, seq: 99})
	r.recv(seg{flags: SYN | ACK, seq: 299, ack: 100}) // lost
	r.advance(time.Second)
	r.recv(seg{flags: SYN | ACK, seq: 299, ack: 100}) // the timeout's copy: it arrives
	r.advance(200 * time.Millisecond)
	r.send(seg{flags: SYN, seq: 99}) // the peer's own retransmission crossed it
	r.recv(seg{flags: SYN | ACK, seq: 299, ack: 100})
	r.advance(50 * time.Millisecond)
	r.send(seg{flags: ACK, seq: 100, ack: 300}) // answers the copy sent 250 ms ago
	r.state(StateEstablished)
	if r.c.snd.hasRTT {
		t.Fatalf("RTT sampled from a resent SYN,ACK: srtt %v, RTO %v", r.c.snd.srtt, r.c.RTO())
	}
}

// TestEstablishedWindowFromRetransmittedSegment: a retransmitted segment
// from the peer has a SEQ older than SND.WL1 but its ACK advances SND.UNA;
// its window is the peer's current one and is taken (as Linux does), else
// SND.UNA+SND.WND would run past the edge the peer offered.
func TestEstablishedWindowFromRetransmittedSegment(t *testing.T) {
	r := newRig(t, Config{NoDelay: true}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("abc"), wnd: 4000})
	r.send(seg{flags: ACK, seq: 103, ack: 300, wnd: 4000}) // SND.WL1 = 103
	r.o.take()
	r.c.Send(r.now, make([]byte, 3000))
	r.o.take()
	// A retransmission that also carries new octets: acceptable, SEQ < SND.WL1.
	r.send(seg{flags: ACK, seq: 100, ack: 1372, data: []byte("abcdef"), wnd: 1000})
	if got := r.c.tcb.SndWnd; got != 1000 {
		t.Fatalf("SND.WND %d, want 1000 from the segment that advanced SND.UNA", got)
	}
	for _, s := range r.o.take() {
		tc, _ := wire.ParseTCP(s.b)
		if end := tc.Seq() + uint32(len(tc.Payload())); int32(end-2372) > 0 {
			t.Fatalf("sent up to %d, beyond the peer's edge 2372", end)
		}
	}
}

// TestEstablishedZeroWindowAcceptsAck: with our receive window at zero the
// peer's window probe (one octet at RCV.NXT) and its later ACKs at RCV.NXT+1
// are not acceptable segments, but their ACKs are processed (RFC 9293
// §3.10.7.4 step 1, "special allowance should be made to accept valid
// ACKs"); the probe's text is dropped and ACKed with the zero window.
func TestEstablishedZeroWindowAcceptsAck(t *testing.T) {
	r := newRig(t, Config{RecvBuf: 1000, NoDelay: true}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: make([]byte, 1000)})
	r.advance(200 * time.Millisecond)
	r.recv(seg{flags: ACK, seq: 300, ack: 1100, wnd0: true})
	if r.c.rcv.wnd() != 0 {
		t.Fatalf("RCV.WND %d, want 0", r.c.rcv.wnd())
	}
	r.c.Send(r.now, []byte("hello"))
	r.recv(seg{flags: ACK, seq: 300, ack: 1100, data: []byte("hello")})
	// The peer's probe octet acknowledges "hel".
	r.send(seg{flags: ACK, seq: 1100, ack: 303, data: []byte("p")})
	if r.c.tcb.SndUna != 303 {
		t.Fatalf("SND.UNA %d after the probe's ACK, want 303", r.c.tcb.SndUna)
	}
	r.recv(seg{flags: ACK, seq: 305, ack: 1100})
	// A pure ACK past the probe octet acknowledges the rest and shrinks nothing.
	r.send(seg{flags: ACK, seq: 1101, ack: 305})
	if r.c.tcb.SndUna != 305 {
		t.Fatalf("SND.UNA %d after the ACK at RCV.NXT+1, want 305", r.c.tcb.SndUna)
	}
	r.recvNothing()
	// Further away it is still unacceptable: ACKed, not processed.
	r.send(seg{flags: ACK, seq: 1102, ack: 305, wnd: 10})
	r.recv(seg{flags: ACK, seq: 305, ack: 1100})
	if r.c.tcb.SndWnd == 10 {
		t.Fatal("window taken from an unacceptable segment")
	}
}

// TestTimeWaitReadSendsNoWindowUpdate: reading after the peer's FIN sends no
// window update; in TIME-WAIT the peer is usually gone and would answer with
// a RST that ends TIME-WAIT early.
func TestTimeWaitReadSendsNoWindowUpdate(t *testing.T) {
	r := newRig(t, Config{RecvBuf: 4000}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: make([]byte, 3000)})
	r.c.CloseWrite(r.now)
	r.o.take()
	r.send(seg{flags: ACK | FIN, seq: 3100, ack: 301})
	r.state(StateTimeWait)
	r.o.take()
	n, _ := r.c.Recv(r.now, make([]byte, 4000))
	if n != 3000 {
		t.Fatalf("read %d, want 3000", n)
	}
	r.recvNothing()
}

// TestSynSentRetriesAtLeastThreeMinutes: by default an unanswered SYN is
// retransmitted for at least 3 minutes before the OPEN fails (MUST-23), with
// the RTO doubling from 1 s (RFC 6298 §5.5); the limit is configurable.
func TestSynSentRetriesAtLeastThreeMinutes(t *testing.T) {
	for _, tc := range []struct {
		retries  int
		min, max time.Duration
		syns     int
	}{
		{0, 3 * time.Minute, 5 * time.Minute, 8}, // default: 255 s, 8 SYNs
		{2, 7 * time.Second, 7 * time.Second, 3}, // configured: 1+2+4 s
	} {
		r := newRig(t, Config{SynRetries: tc.retries}, 100)
		r.connect()
		start := r.now
		syns := 0
		for r.c.State() == StateSynSent {
			for _, s := range r.o.take() {
				if tcp, _ := wire.ParseTCP(s.b); tcp.Flags()&SYN != 0 {
					syns++
				}
			}
			d := r.l.NextDeadline()
			if d.IsZero() {
				t.Fatal("SYN-SENT with no timer")
			}
			r.now = d
			r.l.Poll(d)
		}
		if took := r.now.Sub(start); took < tc.min || took > tc.max || syns != tc.syns {
			t.Errorf("SynRetries %d: gave up after %v and %d SYNs, want %v..%v and %d", tc.retries, took, syns, tc.min, tc.max, tc.syns)
		}
		r.recvErr(sock.ErrTimeout)
	}
}

// TestTimeWaitRst: in TIME-WAIT a RST exactly at RCV.NXT ends the wait
// (RFC 9293 §3.10.7.4 step 2: "enter the CLOSED state, delete the TCB"); an
// in-window RST elsewhere draws a challenge ACK (RFC 5961 §3.2) and one out
// of the window is dropped; neither ends TIME-WAIT.
func TestTimeWaitRst(t *testing.T) {
	r := newRig(t, Config{}, 99)
	r.timeWaitActive()
	r.send(seg{flags: RST, seq: 311})
	r.recv(seg{flags: ACK, seq: 101, ack: 301})
	r.dropped(DropRstChallenge, 1)
	r.send(seg{flags: RST, seq: 301 + 1<<20})
	r.recvNothing()
	r.dropped(DropRstOutOfWindow, 1)
	r.state(StateTimeWait)
	r.send(seg{flags: RST, seq: 301})
	r.state(StateClosed)
	r.recvNothing()
	if len(r.l.conns) != 0 {
		t.Fatal("TIME-WAIT connection not freed by RST")
	}
}

// TestEstablishedChallengeAckRateLimited: challenge ACKs are limited per
// connection (RFC 5961 §7; default one per 500 ms): a burst of in-window
// RSTs and SYNs draws one, and the limit never holds back the ACK owed for
// data that arrives meanwhile; another connection has its own budget.
func TestEstablishedChallengeAckRateLimited(t *testing.T) {
	r := newRig(t, Config{DelayedACK: -1}, 299, 599)
	r.establishedPassive(99, 299)
	for range 5 {
		r.send(seg{flags: RST, seq: 110})
		r.send(seg{flags: SYN, seq: 120})
	}
	r.recv(seg{flags: ACK, seq: 300, ack: 100})
	r.recvNothing()
	if c := r.l.Counters(); c.ChallengeACKs != 1 || c.ChallengeLimited != 9 {
		t.Fatalf("challenge ACKs %d sent, %d limited; want 1, 9", c.ChallengeACKs, c.ChallengeLimited)
	}
	// Data is ACKed at once whatever the budget.
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("data")})
	r.recv(seg{flags: ACK, seq: 300, ack: 104})
	// A second connection challenges independently.
	first := r.c
	r.c, r.pport = nil, 1001
	r.send(seg{flags: SYN, seq: 7000})
	r.recv(seg{flags: SYN | ACK, seq: 599, ack: 7001})
	r.send(seg{flags: ACK, seq: 7001, ack: 600})
	r.send(seg{flags: RST, seq: 7010})
	r.recv(seg{flags: ACK, seq: 600, ack: 7001})
	// After the interval the first connection may challenge again.
	r.c, r.pport = first, 1000
	r.advance(500 * time.Millisecond)
	r.send(seg{flags: RST, seq: 110})
	r.recv(seg{flags: ACK, seq: 300, ack: 104})
}

// TestEstablishedUrgentInline: urgent data is parsed and delivered inline,
// in sequence (RFC 9293 §3.8.5, MUST-30, MUST-31); the urgent pointer only
// moves RCV.UP forward, whatever its value (zero, beyond the text, beyond
// the window), and an URG segment at a zero window has its pointer
// processed too (MUST-66).
func TestEstablishedUrgentInline(t *testing.T) {
	r := newRig(t, Config{RecvBuf: 1000}, 299)
	r.establishedPassive(99, 299)
	urg := func(seq uint32, data []byte, up uint16) {
		h := wire.TCPHeader{SrcPort: r.pport, DstPort: r.uport, Seq: seq, Ack: 300, Flags: ACK | wire.FlagURG, Window: 0xffff, Urgent: up}
		b := make([]byte, h.Len()+len(data))
		copy(b[h.Put(b):], data)
		wire.SetTCPChecksum(b, r.peer, r.us)
		r.l.Input(r.now, r.peer, r.us, b, false)
	}
	urg(100, []byte("ab!cd"), 3)
	if r.c.tcb.RcvUp != 103 {
		t.Fatalf("RCV.UP %d, want 103", r.c.tcb.RcvUp)
	}
	urg(105, []byte("ef"), 0)      // pointer 0: nothing new
	urg(107, []byte("gh"), 0xffff) // far beyond the text and the window
	if r.c.tcb.RcvUp != 107+0xffff {
		t.Fatalf("RCV.UP %d, want %d", r.c.tcb.RcvUp, 107+0xffff)
	}
	b := make([]byte, 100)
	n, err := r.c.Recv(r.now, b)
	if err != nil || string(b[:n]) != "ab!cdefgh" {
		t.Fatalf("Recv %q %v, want the urgent octets inline", b[:n], err)
	}
	// Fill the window, then an empty URG segment at RCV.NXT still counts.
	r.send(seg{flags: ACK, seq: 109, ack: 300, data: make([]byte, 1000)})
	if r.c.rcv.wnd() != 0 {
		t.Fatalf("RCV.WND %d, want 0", r.c.rcv.wnd())
	}
	nxt := uint32(r.c.tcb.RcvNxt)
	urg(nxt, nil, 0xffff)
	if uint32(r.c.tcb.RcvUp) != nxt+0xffff {
		t.Fatalf("RCV.UP %d at a zero window, want %d", r.c.tcb.RcvUp, nxt+0xffff)
	}
	r.state(StateEstablished)
}

// TestEstablishedSACKDupAckWindowGrows is the regression test for fast
// retransmit never starting against Linux: its receiver raises the window in
// nearly every ACK (autotuning), and duplicate ACKs were only counted when the
// window stayed the same (RFC 5681 §2), so every loss waited for the RTO
// (11-22 of 30-50 retransmissions were timeouts in e2e TestLossTransfersLinux).
// With SACK, an ACK that SACKs new octets is a duplicate ACK whatever its
// window (RFC 6675 §2).
func TestEstablishedSACKDupAckWindowGrows(t *testing.T) {
	r := newRig(t, Config{NoDelay: true}, 300)
	ours := r.establishedTS(100, 300, 5000, true)
	const n = 6 * 1448
	if k, err := r.c.Send(r.now, make([]byte, n)); k != n || err != nil {
		t.Fatalf("Send = %d, %v", k, err)
	}
	type sent struct{ seq, len uint32 }
	var segs []sent
	for _, s := range r.o.segs {
		h, _ := wire.ParseTCP(s.b)
		if len(h.Payload()) > 0 {
			segs = append(segs, sent{h.Seq(), uint32(len(h.Payload()))})
		}
	}
	r.o.segs = r.o.segs[:0]
	if len(segs) < 5 {
		t.Fatalf("only %d data segments in the first flight", len(segs))
	}
	// The first segment is lost; the peer SACKs the others one by one, its
	// window growing each time.
	first := segs[0].seq
	for i := 1; i < 5; i++ {
		end := segs[i].seq + segs[i].len
		o := tsOpt(5200, ours)
		o.NumSACK = 1
		o.SACK[0] = wire.SACKBlock{Start: segs[1].seq, End: end}
		r.send(seg{flags: ACK, seq: 101, ack: first, wnd: uint16(2000 + 100*i), opts: o})
	}
	for _, s := range r.o.segs {
		if h, _ := wire.ParseTCP(s.b); h.Seq() == first && len(h.Payload()) > 0 {
			if r.l.Counters().FastRetransmits == 0 {
				t.Fatal("retransmitted, but not counted as a fast retransmit")
			}
			return
		}
	}
	t.Fatalf("no fast retransmit of %d after 4 SACKing duplicate ACKs with a growing window", first)
}

// TestEstablishedFinWithDataBeyondIt: a FIN at RCV.NXT while octets after it
// are held out of order (found by FuzzConnProgram, corpus entry
// closewait-ooo-beyond-fin). The FIN ends the peer's stream, so the held
// octets are discarded and counted as text after FIN; they used to stay
// held at the new RCV.NXT in CLOSE-WAIT, breaking the invariant that
// out-of-order ranges lie beyond RCV.NXT.
func TestEstablishedFinWithDataBeyondIt(t *testing.T) {
	r := newRig(t, Config{}, 300)
	r.establishedPassive(100, 300)
	r.send(seg{flags: ACK, seq: 102, ack: 301, data: pattern(2, 48)})
	r.recv(seg{flags: ACK, seq: 301, ack: 101}) // duplicate ACK for the hole
	if len(r.c.rcv.buf.ooo) != 1 {
		t.Fatalf("held ranges %v, want one", r.c.rcv.buf.ooo)
	}
	r.send(seg{flags: FIN | ACK, seq: 101, ack: 301})
	r.recv(seg{flags: ACK, seq: 301, ack: 102})
	r.state(StateCloseWait)
	if len(r.c.rcv.buf.ooo) != 0 || r.c.rcv.oooHeld != 0 || r.l.oooBytes != 0 {
		t.Fatalf("after the FIN: ranges %v, %d octets held (layer %d)", r.c.rcv.buf.ooo, r.c.rcv.oooHeld, r.l.oooBytes)
	}
	r.dropped(DropTextAfterFin, 1)
	r.recvErr(io.EOF)
	if err := NewInvariantChecker().Check(r.now, r.l); err != nil {
		t.Fatal(err)
	}
}

// TestSynSentCloseWriteSynAckText: after CloseWrite in SYN-SENT, a SYN,ACK
// carrying text goes to FIN-WAIT-1 (RFC 9293 §3.10.7.3 step 4, the FIN
// queued as §3.10.4 says) with the text starting at IRS+1, as without the
// queued FIN: all of it is read and acknowledged, none held out of order.
func TestSynSentCloseWriteSynAckText(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	if err := r.c.CloseWrite(r.now); err != nil {
		t.Fatal(err)
	}
	r.send(seg{flags: SYN | ACK, seq: 300, ack: 101, data: []byte("hello")})
	r.state(StateFinWait1)
	r.recv(seg{flags: ACK | FIN, seq: 101, ack: 306})
	r.recvNothing()
	b := make([]byte, 16)
	n, err := r.c.Recv(r.now, b)
	if err != nil || string(b[:n]) != "hello" {
		t.Fatalf("Recv %q %v", b[:n], err)
	}
	if got := r.c.tcb.RcvNxt; got != 306 || len(r.c.rcv.buf.ooo) != 0 {
		t.Fatalf("RCV.NXT %d, %d out-of-order ranges; want 306, none", got, len(r.c.rcv.buf.ooo))
	}
}

// TestSynTimeoutFallbackRTO (RFC 6298 §5.7): when the SYN or SYN,ACK timed
// out and the handshake gave no RTT sample (no timestamps; Karn), data
// transmission starts with a 3 s RTO, not the backed-off 2 s of the
// handshake nor the initial 1 s; with a sample, the RTO follows it.
func TestSynTimeoutFallbackRTO(t *testing.T) {
	for _, tc := range []struct{ ours, theirs seg }{
		{seg{flags: SYN, seq: 299}, seg{flags: SYN | ACK, seq: 99, ack: 300}},            // active
		{seg{flags: SYN | ACK, seq: 299, ack: 100}, seg{flags: ACK, seq: 100, ack: 300}}, // passive
	} {
		r := newRig(t, Config{NoTimestamps: true}, 299)
		if tc.ours.flags&ACK == 0 {
			r.connect()
		} else {
			r.listen(0)
			r.send(seg{flags: SYN, seq: 99})
		}
		r.recv(tc.ours)
		r.advance(time.Second)
		r.recv(tc.ours) // the timeout's copy
		r.advance(100 * time.Millisecond)
		r.send(tc.theirs)
		r.o.take() // the active side's ACK
		r.state(StateEstablished)
		if r.c.snd.hasRTT || r.c.RTO() != 3*time.Second {
			t.Fatalf("%v: after a handshake timeout without a sample: RTT sampled %v, RTO %v; want none and 3s", tc.ours, r.c.snd.hasRTT, r.c.RTO())
		}
		r.c.Send(r.now, []byte("x"))
		r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("x")})
		r.advance(3*time.Second - 1)
		r.recvNothing()
		r.advance(1)
		r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("x")})
	}
}
