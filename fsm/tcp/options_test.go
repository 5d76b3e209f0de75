package tcp

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

func optsOf(t *testing.T, h wire.TCP) wire.TCPOptions {
	t.Helper()
	var o wire.TCPOptions
	if err := wire.ParseTCPOptions(h.Options(), &o); err != nil {
		t.Fatalf("options: %v", err)
	}
	return o
}

func tsOpt(val, ecr uint32) wire.TCPOptions {
	return wire.TCPOptions{HasTimestamps: true, TSVal: val, TSEcr: ecr}
}

// establishedTS brings the rig to ESTABLISHED (passive) with Timestamps and
// SACK-permitted negotiated; the peer's clock starts at tsval. It returns
// our TSval from the SYN,ACK.
func (r *rig) establishedTS(irs, iss, tsval uint32, finalTS bool) uint32 {
	r.t.Helper()
	r.isses = append(r.isses, iss)
	r.listen(0)
	r.send(seg{flags: SYN, seq: irs, opts: wire.TCPOptions{HasMSS: true, MSS: 1460, HasTimestamps: true, TSVal: tsval, SACKPermitted: true}})
	sa := r.recv(seg{flags: SYN | ACK, seq: iss, ack: irs + 1})
	o := optsOf(r.t, sa)
	if !o.HasTimestamps || o.TSEcr != tsval || !o.SACKPermitted {
		r.t.Fatalf("SYN,ACK options %+v: want timestamps echoing %d and SACK-permitted", o, tsval)
	}
	r.now = r.now.Add(100 * time.Millisecond)
	ack := seg{flags: ACK, seq: irs + 1, ack: iss + 1}
	if finalTS {
		ack.opts = tsOpt(tsval+100, o.TSVal)
	}
	r.send(ack)
	r.state(StateEstablished)
	if _, err := r.ln.Accept(r.now); err != nil {
		r.t.Fatal(err)
	}
	return o.TSVal
}

// TestSynSentOffersTimestampsAndSACK: an active OPEN offers Timestamps
// (TSecr zero) and SACK-permitted (RFC 7323 §3.2, RFC 2018 §2); the offset
// makes TSval differ from the raw clock and between 4-tuples.
func TestSynSentOffersTimestampsAndSACK(t *testing.T) {
	r := newRig(t, Config{}, 100, 200)
	r.connect()
	o := optsOf(t, r.recv(seg{flags: SYN, seq: 100}))
	if !o.HasTimestamps || o.TSEcr != 0 || !o.SACKPermitted {
		t.Fatalf("SYN options %+v", o)
	}
	if o.TSVal == uint32(r.now.UnixMilli()) {
		t.Fatal("TSval is the raw clock: no per-connection offset (RFC 7323 §5.4)")
	}
	r.pport = 1001
	r.connect()
	o2 := optsOf(t, r.recv(seg{flags: SYN, seq: 200}))
	if o2.TSVal == o.TSVal {
		t.Fatal("two connections share a timestamp offset")
	}
	r2 := newRig(t, Config{NoTimestamps: true, NoSACK: true}, 100)
	r2.connect()
	if o := optsOf(t, r2.recv(seg{flags: SYN, seq: 100})); o.HasTimestamps || o.SACKPermitted {
		t.Fatalf("options offered while turned off: %+v", o)
	}
}

// TestSynReceivedNoTimestampsUnlessOffered: a SYN without the options gets a
// SYN,ACK without them, and later segments carry none.
func TestSynReceivedNoTimestampsUnlessOffered(t *testing.T) {
	r := newRig(t, Config{}, 300)
	r.listen(0)
	r.send(seg{flags: SYN, seq: 100})
	if o := optsOf(t, r.recv(seg{flags: SYN | ACK, seq: 300, ack: 101})); o.HasTimestamps || o.SACKPermitted {
		t.Fatalf("SYN,ACK options %+v for a SYN without them", o)
	}
	r.send(seg{flags: ACK, seq: 101, ack: 301})
	r.c.Send(r.now, []byte("x"))
	if o := optsOf(t, r.recv(seg{flags: ACK, seq: 301, ack: 101, data: []byte("x")})); o.HasTimestamps {
		t.Fatal("timestamps on a connection that did not negotiate them")
	}
}

// TestSynReceivedAckWithoutTimestamp: the final ACK of the handshake is
// accepted even without a timestamp (a gVisor bug dropped it).
func TestSynReceivedAckWithoutTimestamp(t *testing.T) {
	r := newRig(t, Config{}, 300)
	r.establishedTS(100, 300, 5000, false)
	r.state(StateEstablished)
}

// TestEstablishedTimestampsEchoed: every segment carries TSval and echoes
// TS.Recent (RFC 7323 §3.2, §4.3); the effective MSS shrinks by the option
// (MUST-16).
func TestEstablishedTimestampsEchoed(t *testing.T) {
	r := newRig(t, Config{DelayedACK: -1}, 300)
	ours := r.establishedTS(100, 300, 5000, true)
	r.send(seg{flags: ACK, seq: 101, ack: 301, data: []byte("a"), opts: tsOpt(5200, ours)})
	o := optsOf(t, r.recv(seg{flags: ACK, seq: 301, ack: 102}))
	if !o.HasTimestamps || o.TSEcr != 5200 {
		t.Fatalf("ACK options %+v, want TSecr 5200", o)
	}
	r.c.Send(r.now, make([]byte, 3000))
	first := r.recv(seg{flags: ACK, seq: 301, ack: 102, data: make([]byte, 1448)})
	if len(first.Payload())+len(first.Options()) != 1460 {
		t.Fatalf("segment of %d octets with %d of options: want 1460 in all", len(first.Payload()), len(first.Options()))
	}
}

// TestEstablishedPAWS: a segment with a timestamp older than TS.Recent is
// dropped and ACKed; a RST with one is dropped silently (RFC 7323 §5.3).
func TestEstablishedPAWS(t *testing.T) {
	r := newRig(t, Config{DelayedACK: -1}, 300)
	ours := r.establishedTS(100, 300, 5000, true)
	r.send(seg{flags: ACK, seq: 101, ack: 301, data: []byte("new"), opts: tsOpt(6000, ours)})
	r.recv(seg{flags: ACK, seq: 301, ack: 104})
	r.send(seg{flags: ACK, seq: 104, ack: 301, data: []byte("old"), opts: tsOpt(5999, ours)})
	r.recv(seg{flags: ACK, seq: 301, ack: 104})
	r.dropped(DropPAWS, 1)
	r.send(seg{flags: RST, seq: 104, opts: tsOpt(10, 0)})
	r.recvNothing()
	r.state(StateEstablished)
	r.dropped(DropPAWS, 2)
	// Without a timestamp the segment is not checked.
	r.send(seg{flags: ACK, seq: 104, ack: 301, data: []byte("bare")})
	r.recv(seg{flags: ACK, seq: 301, ack: 108})
}

// TestEstablishedDisorderedAckReplayWindow: in the linux profile a pure
// ACK at RCV.NXT for SND.UNA with the same window whose TSval is at most
// one RTO of a 1200 Hz clock behind TS.Recent passes PAWS unanswered
// (Linux's tcp_disordered_ack); one tick older it is rejected (ACKed and
// dropped), and so is one with another window; the rfc9293 profile
// rejects every one (RFC 7323 §5.3 R1).
func TestEstablishedDisorderedAckReplayWindow(t *testing.T) {
	for _, p := range []Profile{ProfileLinux, ProfileRfc9293} {
		r := newRig(t, Config{DelayedACK: -1, OOWAckInterval: -1, Profile: p}, 300)
		ours := r.establishedTS(100, 300, 5000, true) // TS.Recent 5100
		replay := uint32(r.c.snd.rto/time.Millisecond) * tsReplayHz / 1000
		if replay == 0 {
			t.Fatal("no replay window")
		}
		r.send(seg{flags: ACK, seq: 101, ack: 301, opts: tsOpt(5100-replay, ours)})
		if p == ProfileLinux {
			r.recvNothing()
			r.dropped(DropPAWS, 0)
		} else {
			r.recv(seg{flags: ACK, seq: 301, ack: 101})
			r.dropped(DropPAWS, 1)
			continue
		}
		r.send(seg{flags: ACK, seq: 101, ack: 301, opts: tsOpt(5100-replay-1, ours)})
		r.recv(seg{flags: ACK, seq: 301, ack: 101})
		r.dropped(DropPAWS, 1)
		r.send(seg{flags: ACK, seq: 101, ack: 301, wnd: 65535, opts: tsOpt(5099, ours)})
		r.recvNothing() // the window the handshake gave (65535): no update
		r.dropped(DropPAWS, 1)
		// A smaller window would be taken by our window update (Linux
		// ignores it): rejected, the window unchanged.
		r.send(seg{flags: ACK, seq: 101, ack: 301, wnd: 1000, opts: tsOpt(5099, ours)})
		r.recv(seg{flags: ACK, seq: 301, ack: 101})
		r.dropped(DropPAWS, 2)
		if r.c.tcb.SndWnd != 65535 {
			t.Fatalf("SND.WND %d, want 65535", r.c.tcb.SndWnd)
		}
		if r.c.rcv.tsRecent != 5100 {
			t.Fatalf("TS.Recent %d, want 5100 (not moved back)", r.c.rcv.tsRecent)
		}
	}
}

// TestEstablishedTimestampRTT: the RTT comes from the echoed timestamp, also
// for a retransmitted segment (RFC 7323 §4.1).
func TestEstablishedTimestampRTT(t *testing.T) {
	r := newRig(t, Config{}, 300)
	r.establishedTS(100, 300, 5000, true)
	r.c.Send(r.now, []byte("x"))
	sent := optsOf(t, r.recv(seg{flags: ACK, seq: 301, ack: 101, data: []byte("x")}))
	r.advance(r.c.RTO())
	rtx := optsOf(t, r.recv(seg{flags: ACK, seq: 301, ack: 101, data: []byte("x")}))
	r.advance(30 * time.Millisecond)
	_ = sent
	r.send(seg{flags: ACK, seq: 101, ack: 302, opts: tsOpt(5300, rtx.TSVal)})
	// The handshake ACK gave 100ms; the retransmission's echo gives 30ms.
	if want := (7*100*time.Millisecond + 30*time.Millisecond) / 8; r.c.snd.srtt != want {
		t.Fatalf("srtt %v, want %v", r.c.snd.srtt, want)
	}
}

// TestEstablishedSACKBlocks: with SACK negotiated, the duplicate ACK for
// out-of-order data lists the held ranges, the most recent first (RFC 2018 §4).
func TestEstablishedSACKBlocks(t *testing.T) {
	r := newRig(t, Config{}, 300)
	ours := r.establishedTS(100, 300, 5000, true)
	r.send(seg{flags: ACK, seq: 111, ack: 301, data: []byte("bbbbb"), opts: tsOpt(5100, ours)})
	o := optsOf(t, r.recv(seg{flags: ACK, seq: 301, ack: 101}))
	if o.NumSACK != 1 || o.SACK[0] != (wire.SACKBlock{Start: 111, End: 116}) {
		t.Fatalf("SACK %+v", o.SACK[:o.NumSACK])
	}
	r.send(seg{flags: ACK, seq: 121, ack: 301, data: []byte("ccccc"), opts: tsOpt(5100, ours)})
	o = optsOf(t, r.recv(seg{flags: ACK, seq: 301, ack: 101}))
	if o.NumSACK != 2 || o.SACK[0] != (wire.SACKBlock{Start: 121, End: 126}) || o.SACK[1] != (wire.SACKBlock{Start: 111, End: 116}) {
		t.Fatalf("SACK %+v", o.SACK[:o.NumSACK])
	}
	r.send(seg{flags: ACK, seq: 101, ack: 301, data: []byte("aaaaaaaaaa"), opts: tsOpt(5100, ours)})
	o = optsOf(t, r.recv(seg{flags: ACK, seq: 301, ack: 116}))
	if o.NumSACK != 1 || o.SACK[0] != (wire.SACKBlock{Start: 121, End: 126}) {
		t.Fatalf("SACK after a partial fill %+v", o.SACK[:o.NumSACK])
	}
}

// TestTimeWaitReopenByTimestamp: with timestamps, a SYN reopens TIME-WAIT
// when its timestamp is newer, even at a lower sequence number (SHLD-4,
// RFC 6191).
func TestTimeWaitReopenByTimestamp(t *testing.T) {
	r := newRig(t, Config{}, 300, 7000)
	ours := r.establishedTS(100, 300, 5000, true)
	r.c.Close(r.now)
	r.recv(seg{flags: FIN | ACK, seq: 301, ack: 101})
	r.send(seg{flags: FIN | ACK, seq: 101, ack: 302, opts: tsOpt(5200, ours)})
	r.recv(seg{flags: ACK, seq: 302, ack: 102})
	r.state(StateTimeWait)
	r.c = nil
	r.send(seg{flags: SYN, seq: 50, opts: tsOpt(5300, 0)}) // lower SEQ, newer timestamp
	r.recv(seg{flags: SYN | ACK, seq: 7000, ack: 51})
	r.state(StateSynReceived)
}
