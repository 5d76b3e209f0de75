package tcp

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

const (
	ECE = wire.FlagECE
	CWR = wire.FlagCWR
)

// TestECNNegotiationMatrix: two layers with every pair of ECN modes
// establish a connection; ECN is on exactly when the client asks (ECNOn)
// and the server does not refuse (RFC 3168 §6.1.1).
func TestECNNegotiationMatrix(t *testing.T) {
	modes := []ECNMode{ECNAccept, ECNOn, ECNOff}
	for _, cm := range modes {
		for _, sm := range modes {
			p := newWirePair(t, 1, Config{ECN: cm}, faults{})
			p.b = NewLayer(Config{ECN: sm}, p.ob, rand.New(rand.NewPCG(1, 3)))
			layersUnderTest = append(layersUnderTest, p.b)
			client, server := p.connect()
			want := cm == ECNOn && sm != ECNOff
			if client.ECNEnabled() != want || server.ECNEnabled() != want {
				t.Errorf("client %v, server %v: ECN client %v server %v, want %v", cm, sm, client.ECNEnabled(), server.ECNEnabled(), want)
			}
			n := uint64(0)
			if want {
				n = 1
			}
			if p.a.Counters().ECNNegotiated != n || p.b.Counters().ECNNegotiated != n {
				t.Errorf("client %v, server %v: ECNNegotiated %d/%d, want %d", cm, sm, p.a.Counters().ECNNegotiated, p.b.Counters().ECNNegotiated, n)
			}
		}
	}
}

// TestListenECNSetupSyn: an ECN-setup SYN (ECE and CWR) gets an ECN-setup
// SYN,ACK (ECE, not CWR), not ECT; the data that follows is ECT(0), the
// ACKs are not (RFC 3168 §6.1.1, §6.1.4).
func TestListenECNSetupSyn(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.listen(0)
	r.send(seg{flags: SYN | ECE | CWR, seq: 300})
	r.recv(seg{flags: SYN | ACK | ECE, seq: 100, ack: 301})
	r.wantMeta(0, 0)
	r.send(seg{flags: ACK, seq: 301, ack: 101})
	r.state(StateEstablished)
	if !r.c.ECNEnabled() {
		t.Fatal("ECN not negotiated")
	}
	r.c.Send(r.now, []byte("data"))
	r.recv(seg{flags: ACK, seq: 101, ack: 301, data: []byte("data")})
	r.wantMeta(ECT0, 0)
	r.send(seg{flags: ACK, seq: 301, ack: 105, data: []byte("x"), tos: ECT0})
	r.advance(time.Second)
	r.recv(seg{flags: ACK, seq: 105, ack: 302})
	r.wantMeta(0, 0) // a pure ACK is never ECT
}

// TestListenSynOnlyECENotECN: a SYN with ECE alone (or CWR alone) is not an
// ECN-setup SYN: the SYN,ACK carries no ECE and data is not ECT. A SYN
// with ECN flags is still answered, never reset, in every mode.
func TestListenSynOnlyECENotECN(t *testing.T) {
	for _, f := range []wire.TCPFlags{ECE, CWR} {
		r := newRig(t, Config{}, 100)
		r.listen(0)
		r.send(seg{flags: SYN | f, seq: 300})
		r.recv(seg{flags: SYN | ACK, seq: 100, ack: 301})
		r.send(seg{flags: ACK, seq: 301, ack: 101})
		if r.c.ECNEnabled() {
			t.Fatalf("SYN|%v negotiated ECN", f)
		}
	}
	for _, m := range []ECNMode{ECNAccept, ECNOn, ECNOff} {
		r := newRig(t, Config{ECN: m}, 100)
		r.listen(0)
		r.send(seg{flags: SYN | ECE | CWR, seq: 300})
		want := SYN | ACK | ECE
		if m == ECNOff {
			want = SYN | ACK
		}
		r.recv(seg{flags: want, seq: 100, ack: 301})
	}
}

// TestSynSentECNSetup: with ECNOn our SYN is an ECN-setup SYN; a SYN,ACK
// with ECE alone agrees, one with ECE and CWR does not (RFC 3168 §6.1.1).
func TestSynSentECNSetup(t *testing.T) {
	for _, c := range []struct {
		f    wire.TCPFlags
		want bool
	}{{ECE, true}, {ECE | CWR, false}, {0, false}} {
		r := newRig(t, Config{ECN: ECNOn}, 100)
		r.connect()
		r.recv(seg{flags: SYN | ECE | CWR, seq: 100})
		r.wantMeta(0, 0)
		r.send(seg{flags: SYN | ACK | c.f, seq: 300, ack: 101})
		r.recv(seg{flags: ACK, seq: 101, ack: 301})
		if r.c.ECNEnabled() != c.want {
			t.Fatalf("SYN,ACK|%v: ECN %v, want %v", c.f, r.c.ECNEnabled(), c.want)
		}
	}
}

// TestSynSentECEIgnoredWithoutRequest: an ECE on the SYN,ACK answering a
// SYN that did not ask for ECN is ignored (RFC 3168 §6.1.1).
func TestSynSentECEIgnoredWithoutRequest(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	r.send(seg{flags: SYN | ACK | ECE, seq: 300, ack: 101})
	r.recv(seg{flags: ACK, seq: 101, ack: 301})
	if r.c.ECNEnabled() {
		t.Fatal("ECN on without asking")
	}
	r.c.Send(r.now, []byte("a"))
	r.recv(seg{flags: ACK, seq: 101, ack: 301, data: []byte("a")})
	r.wantMeta(0, 0)
}

// TestSynSentRetransmitDropsECN: a retransmitted SYN asks no more for ECN
// (RFC 3168 §6.1.1.1 fallback, as Linux's tcp_ecn_fallback).
func TestSynSentRetransmitDropsECN(t *testing.T) {
	r := newRig(t, Config{ECN: ECNOn}, 100)
	r.connect()
	r.recv(seg{flags: SYN | ECE | CWR, seq: 100})
	r.advance(time.Second)
	r.recv(seg{flags: SYN, seq: 100})
	r.send(seg{flags: SYN | ACK | ECE, seq: 300, ack: 101})
	r.recv(seg{flags: ACK, seq: 101, ack: 301})
	if r.c.ECNEnabled() {
		t.Fatal("ECN agreed to a non-ECN SYN")
	}
}

// ecnPassive establishes an ECN connection as the passive side: ISS 100,
// IRS 300.
func ecnPassive(t *testing.T, cfg Config) *rig {
	r := newRig(t, cfg, 100)
	r.listen(0)
	r.send(seg{flags: SYN | ECE | CWR, seq: 300})
	r.recv(seg{flags: SYN | ACK | ECE, seq: 100, ack: 301})
	r.now = r.now.Add(100 * time.Millisecond)
	r.send(seg{flags: ACK, seq: 301, ack: 101})
	if _, err := r.ln.Accept(r.now); err != nil || !r.c.ECNEnabled() {
		t.Fatalf("accept %v, ECN %v", err, r.c.ECNEnabled())
	}
	return r
}

// TestECNEchoUntilCWR: a CE-marked data segment is ACKed at once with ECE;
// every ACK carries ECE until a segment with CWR arrives (RFC 3168 §6.1.3).
func TestECNEchoUntilCWR(t *testing.T) {
	r := ecnPassive(t, Config{})
	d := []byte("0123456789")
	r.send(seg{flags: ACK, seq: 301, ack: 101, data: d, tos: ECNCE})
	r.recv(seg{flags: ACK | ECE, seq: 101, ack: 311}) // at once, not delayed
	r.send(seg{flags: ACK, seq: 311, ack: 101, data: d, tos: ECT0})
	r.advance(time.Second)
	r.recv(seg{flags: ACK | ECE, seq: 101, ack: 321}) // still echoing
	r.c.Send(r.now, []byte("reply"))
	r.recv(seg{flags: ACK | ECE, seq: 101, ack: 321, data: []byte("reply")}) // on data too
	r.send(seg{flags: ACK | CWR, seq: 321, ack: 106, data: d, tos: ECT0})
	r.advance(time.Second)
	r.recv(seg{flags: ACK, seq: 106, ack: 331}) // CWR seen: echo stops
	if n := r.l.Counters().ECNCEReceived; n != 1 {
		t.Fatalf("ECNCEReceived %d, want 1", n)
	}
	// A CE-marked segment that carries CWR keeps the echo going.
	r.send(seg{flags: ACK | CWR, seq: 331, ack: 106, data: d, tos: ECNCE})
	r.recv(seg{flags: ACK | ECE, seq: 106, ack: 341})
}

// TestECNReduceOncePerWindow: ECE halves the window through the congestion
// controller once per window of data, retransmitting nothing; the next new
// data segment carries CWR and is ECT; ECE for data sent after the
// reduction reduces again (RFC 3168 §6.1.2).
func TestECNReduceOncePerWindow(t *testing.T) {
	r := ecnPassive(t, Config{CC: NewReno})
	mss := r.c.snd.mss
	data := make([]byte, 8*mss)
	r.c.SetNoDelay(r.now, true)
	r.c.Send(r.now, data)
	for i := 0; i < 8; i++ {
		r.recv(seg{flags: ACK, seq: 101 + uint32(i*mss), ack: 301, data: data[:mss]})
		r.wantMeta(ECT0, 0)
	}
	cwnd := r.c.snd.cc.cwnd
	// Two ECE ACKs for the same window: one reduction.
	r.send(seg{flags: ACK | ECE, seq: 301, ack: 101 + uint32(mss)})
	r.send(seg{flags: ACK | ECE, seq: 301, ack: 101 + uint32(2*mss)})
	ctr := r.l.Counters()
	if ctr.ECNECEReceived != 2 || ctr.ECNCwndReductions != 1 {
		t.Fatalf("ECE %d, reductions %d; want 2, 1", ctr.ECNECEReceived, ctr.ECNCwndReductions)
	}
	if r.c.snd.cc.cwnd >= cwnd || r.c.snd.cc.ssthresh != uint32(8*mss/2) || r.c.snd.cc.cwnd != r.c.snd.cc.ssthresh {
		t.Fatalf("cwnd %d (was %d), ssthresh %d, want both %d: ECE ACKs never raise cwnd", r.c.snd.cc.cwnd, cwnd, r.c.snd.cc.ssthresh, 8*mss/2)
	}
	if ctr.Retransmits != 0 || ctr.FastRetransmits != 0 {
		t.Fatalf("retransmits %d, fast %d", ctr.Retransmits, ctr.FastRetransmits)
	}
	r.recvNothing()
	// Everything acknowledged: the next new segment carries CWR.
	r.send(seg{flags: ACK | ECE, seq: 301, ack: 101 + uint32(8*mss)})
	if r.l.Counters().ECNCwndReductions != 1 {
		t.Fatal("reduced twice for one window")
	}
	r.c.Send(r.now, data[:100])
	r.recv(seg{flags: ACK | CWR, seq: 101 + uint32(8*mss), ack: 301, data: data[:100]})
	r.wantMeta(ECT0, 0)
	r.c.Send(r.now, data[:100])
	r.send(seg{flags: ACK, seq: 301, ack: 201 + uint32(8*mss)})
	r.recv(seg{flags: ACK, seq: 201 + uint32(8*mss), ack: 301, data: data[:100]}) // CWR only once
	// ECE for data sent after the reduction: a new reduction.
	r.send(seg{flags: ACK | ECE, seq: 301, ack: 301 + uint32(8*mss)})
	if n := r.l.Counters().ECNCwndReductions; n != 2 {
		t.Fatalf("reductions %d, want 2", n)
	}
}

// TestECNNoECTOnRetransmission: a retransmitted segment is not ECT
// (RFC 3168 §6.1.5), and a window probe is not either (§6.1.6).
func TestECNNoECTOnRetransmission(t *testing.T) {
	r := ecnPassive(t, Config{})
	r.c.Send(r.now, []byte("hello"))
	r.recv(seg{flags: ACK, seq: 101, ack: 301, data: []byte("hello")})
	r.wantMeta(ECT0, 0)
	r.advance(time.Second)
	r.recv(seg{flags: ACK, seq: 101, ack: 301, data: []byte("hello")})
	r.wantMeta(0, 0)
	// The RTO reduced the window: the next new data says CWR.
	r.send(seg{flags: ACK, seq: 301, ack: 106, wnd0: true})
	r.c.Send(r.now, []byte("more"))
	r.recvNothing() // zero window
	r.advance(2 * time.Second)
	r.recv(seg{flags: ACK, seq: 106, ack: 301, data: []byte("m")})
	r.wantMeta(0, 0) // a window probe
}

// TestECNCookie: a connection made from a SYN cookie keeps ECN when
// timestamps carry it (bit 5 of the cookie's TSval), and runs without it
// otherwise.
func TestECNCookie(t *testing.T) {
	for _, ts := range []bool{true, false} {
		r := newRig(t, Config{SynBacklog: 1}, 100)
		r.listen(0)
		r.send(seg{flags: SYN, seq: 500, opts: wire.TCPOptions{HasTimestamps: true, TSVal: 1}}) // fills the SYN queue
		r.recv(seg{flags: SYN | ACK, seq: 100, ack: 501})
		r.c = nil
		r.pport = 1001
		syn := seg{flags: SYN | ECE | CWR, seq: 300}
		if ts {
			syn.opts = wire.TCPOptions{HasTimestamps: true, TSVal: 7}
		}
		r.send(syn)
		want := SYN | ACK | ECE
		if !ts {
			want = SYN | ACK
		}
		if len(r.o.segs) != 1 {
			t.Fatalf("ts %v: %d segments sent, want a SYN,ACK", ts, len(r.o.segs))
		}
		got, _ := wire.ParseTCP(r.o.take()[0].b)
		if got.Flags() != want || got.Ack() != 301 {
			t.Fatalf("ts %v: sent %v ack %d, want %v", ts, got.Flags(), got.Ack(), want)
		}
		var o wire.TCPOptions
		wire.ParseTCPOptions(got.Options(), &o)
		ack := seg{flags: ACK, seq: 301, ack: got.Seq() + 1}
		if ts {
			ack.opts = wire.TCPOptions{HasTimestamps: true, TSVal: 8, TSEcr: o.TSVal}
		}
		r.send(ack)
		if r.l.Counters().CookiesValidated != 1 {
			t.Fatalf("ts %v: cookie not validated", ts)
		}
		c := r.l.demux[connKey{r.us, r.peer, r.uport, r.pport}]
		if c == nil || c.ECNEnabled() != ts {
			t.Fatalf("ts %v: cookie connection %v ECN", ts, c)
		}
	}
}

// TestECNTransferCEMarks: two layers with ECN on exchange 2 MB over a link
// that CE-marks 2% of the ECN-capable segments instead of dropping them:
// the stream arrives whole with no retransmission, and the marks caused
// window reductions.
func TestECNTransferCEMarks(t *testing.T) {
	p := newWirePair(t, 5, Config{ECN: ECNOn}, faults{ce: 0.02, rate: 100e6, queue: 1000})
	client, server := p.connect()
	if !client.ECNEnabled() || !server.ECNEnabled() {
		t.Fatal("ECN not negotiated")
	}
	want := pattern(5, 2<<20)
	cs := &streamer{c: client, out: want}
	ss := &streamer{c: server}
	p.runUntil(func() bool {
		cs.pump(p.now)
		ss.pump(p.now)
		return ss.eof
	}, 1_000_000)
	if !bytes.Equal(ss.in, want) {
		t.Fatalf("received %d octets, not the stream sent", len(ss.in))
	}
	ca, cb := p.a.Counters(), p.b.Counters()
	if ca.Retransmits != 0 || p.tailDrops != 0 {
		t.Fatalf("retransmits %d, tail drops %d: want none", ca.Retransmits, p.tailDrops)
	}
	if p.ceMarks == 0 || cb.ECNCEReceived != uint64(p.ceMarks) || ca.ECNECEReceived == 0 || ca.ECNCwndReductions == 0 {
		t.Fatalf("marks %d, CE received %d, ECE received %d, reductions %d", p.ceMarks, cb.ECNCEReceived, ca.ECNECEReceived, ca.ECNCwndReductions)
	}
	t.Logf("%d CE marks, %d ECE ACKs, %d reductions, %v simulated", p.ceMarks, ca.ECNECEReceived, ca.ECNCwndReductions, p.now.Sub(epoch))
}

// TestECNBlocksUndo: an ECE ACK disarms the undo of a loss episode's
// reduction (RFC 4015 §3.4: the sender MUST NOT reverse its congestion
// response when the ACK signals congestion).
func TestECNBlocksUndo(t *testing.T) {
	r := ecnPassive(t, Config{})
	r.c.Send(r.now, []byte("hello"))
	r.recv(seg{flags: ACK, seq: 101, ack: 301, data: []byte("hello")})
	r.c.snd.undoArm(false)
	if !r.c.snd.undo.armed {
		t.Fatal("undo not armed")
	}
	r.send(seg{flags: ACK | ECE, seq: 301, ack: 101})
	if r.c.snd.undo.armed {
		t.Fatal("an ECE ACK left the undo armed")
	}
}

// TestECNLossInReducedWindow: a loss detected in the window an ECE already
// reduced for is repaired (fast retransmit) without reducing ssthresh a
// second time (RFC 3168 §6.1.2); a loss after that window reduces again.
func TestECNLossInReducedWindow(t *testing.T) {
	r := ecnPassive(t, Config{CC: NewReno, NoSACK: true})
	mss := r.c.snd.mss
	data := make([]byte, 8*mss)
	r.c.SetNoDelay(r.now, true)
	r.c.Send(r.now, data)
	r.o.take()
	r.send(seg{flags: ACK | ECE, seq: 301, ack: 101 + uint32(mss)})
	ss := r.c.snd.cc.ssthresh
	if ss != uint32(8*mss/2) || r.l.Counters().ECNCwndReductions != 1 {
		t.Fatalf("ssthresh %d after ECE, want %d", ss, 8*mss/2)
	}
	for i := 0; i < 3; i++ { // segment 2 lost: three duplicate ACKs
		r.send(seg{flags: ACK, seq: 301, ack: 101 + uint32(mss)})
	}
	if r.l.Counters().FastRetransmits != 1 {
		t.Fatal("no fast retransmit")
	}
	got := r.o.take()
	if len(got) == 0 || wire.TCP(got[0].b).Seq() != 101+uint32(mss) {
		t.Fatalf("hole not retransmitted: %d segments", len(got))
	}
	if r.c.snd.cc.ssthresh != ss {
		t.Fatalf("ssthresh %d, want %d kept: the window was already reduced", r.c.snd.cc.ssthresh, ss)
	}
	// Everything acknowledged, new data, a new loss: a new reduction.
	r.send(seg{flags: ACK, seq: 301, ack: 101 + uint32(8*mss)})
	r.c.Send(r.now, data)
	r.o.take()
	r.send(seg{flags: ACK, seq: 301, ack: 101 + uint32(9*mss)}) // past the old recovery point
	r.o.take()
	for i := 0; i < 3; i++ {
		r.send(seg{flags: ACK, seq: 301, ack: 101 + uint32(9*mss)})
	}
	if r.l.Counters().FastRetransmits != 2 || r.c.snd.cc.ssthresh == ss {
		t.Fatalf("fast retransmits %d, ssthresh %d: want a second reduction", r.l.Counters().FastRetransmits, r.c.snd.cc.ssthresh)
	}
}
