package tcp

import (
	"errors"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// TestDSACKSentForDuplicates: a segment wholly below RCV.NXT is reported
// in the next ACK as a D-SACK, the first SACK block (RFC 2883 §4.1.1); a
// duplicate of data held out of order is reported first, followed by the
// block that holds it (§4.2.3).
func TestDSACKSentForDuplicates(t *testing.T) {
	r := newRig(t, Config{DelayedACK: -1})
	r.establishedSACK()
	data := make([]byte, 100)
	r.send(seg{flags: ACK, seq: rkIRS + 1, ack: rkISS + 1, data: data})
	r.drain()
	r.send(seg{flags: ACK, seq: rkIRS + 1, ack: rkISS + 1, data: data}) // again
	got := r.drain()
	if len(got) != 1 || got[0].opts.NumSACK != 1 || got[0].opts.SACK[0] != (wire.SACKBlock{Start: rkIRS + 1, End: rkIRS + 101}) {
		t.Fatalf("ACK of the duplicate %+v, want D-SACK [1001,1101)", got)
	}
	// Out of order: 1201..1301 held above a hole, then sent again.
	r.send(seg{flags: ACK, seq: rkIRS + 201, ack: rkISS + 1, data: data})
	r.drain()
	r.send(seg{flags: ACK, seq: rkIRS + 201, ack: rkISS + 1, data: data})
	got = r.drain()
	want := wire.SACKBlock{Start: rkIRS + 201, End: rkIRS + 301}
	if len(got) != 1 || got[0].opts.NumSACK != 2 || got[0].opts.SACK[0] != want || got[0].opts.SACK[1] != want {
		t.Fatalf("ACK of the out-of-order duplicate %+v, want D-SACK then its block", got)
	}
	// Reported once: the next ACK carries only the ordinary block.
	r.send(seg{flags: ACK, seq: rkIRS + 401, ack: rkISS + 1, data: data})
	got = r.drain()
	if len(got) != 1 || got[0].opts.SACK[0].Start == rkIRS+1 {
		t.Fatalf("D-SACK repeated: %+v", got)
	}
	if n := r.l.Counters().DSACKsSent; n != 2 {
		t.Fatalf("DSACKsSent %d, want 2", n)
	}
}

// TestDSACKReceivedIsNotNewSACK: a D-SACK below the cumulative ACK is
// counted, not merged into the scoreboard, and not a duplicate ACK
// (RFC 2883 §4, RFC 6675 §2).
func TestDSACKReceivedIsNotNewSACK(t *testing.T) {
	r := newRig(t, Config{NoRACK: true})
	r.establishedSACK()
	r.write(10 * rkMSS)
	r.drain()
	r.sackAck(segAt(2))
	r.sackAck(segAt(2), segAt(1), segAt(2))
	if ctr := r.l.Counters(); ctr.DSACKsRcvd != 1 || r.c.snd.dupAcks != 0 || len(r.c.snd.rec.sb.r) != 0 {
		t.Fatalf("D-SACKs %d, dupAcks %d, scoreboard ranges %d", ctr.DSACKsRcvd, r.c.snd.dupAcks, len(r.c.snd.rec.sb.r))
	}
	// Inside the second block (RFC 2883 §4.2.2 form): also a D-SACK.
	r.sackAck(segAt(2), segAt(4), segAt(5), segAt(4), segAt(6))
	if ctr := r.l.Counters(); ctr.DSACKsRcvd != 2 {
		t.Fatalf("D-SACKs %d, want 2", ctr.DSACKsRcvd)
	}
}

// recoveryEpisode sends ten segments and makes RACK find segment 1 lost:
// recovery starts and retransmits it. It returns cwnd before recovery.
func recoveryEpisode(t *testing.T, r *rig) uint32 {
	t.Helper()
	r.establishedSACK()
	r.write(10 * rkMSS)
	r.drain()
	cwnd := r.c.snd.cc.cwnd
	r.now = r.now.Add(20 * time.Millisecond)
	r.sackAck(segAt(1), segAt(2), segAt(5))
	if got := dataSegs(r.drain()); len(got) == 0 || got[0] != segAt(1) {
		t.Fatalf("sent %v, want the retransmission of %d", got, segAt(1))
	}
	if !r.c.snd.rec.active || r.c.snd.cc.cwnd >= cwnd {
		t.Fatalf("recovering %v, cwnd %d (was %d)", r.c.snd.rec.active, r.c.snd.cc.cwnd, cwnd)
	}
	return cwnd
}

// TestUndoByDSACK: the segment thought lost was only delayed: the full ACK
// comes with a D-SACK for the retransmission, so every retransmission of
// the episode was a duplicate and cwnd and ssthresh come back (RFC 2883 §5).
func TestUndoByDSACK(t *testing.T) {
	r := newRig(t, Config{})
	cwnd := recoveryEpisode(t, r)
	r.sackAck(segAt(10), segAt(1), segAt(2))
	ctr := r.l.Counters()
	if ctr.UndoDSACK != 1 || ctr.Undos != 1 || r.c.snd.cc.cwnd < cwnd || r.c.snd.rec.active {
		t.Fatalf("D-SACK undos %d, cwnd %d (before recovery %d), recovering %v", ctr.UndoDSACK, r.c.snd.cc.cwnd, cwnd, r.c.snd.rec.active)
	}
}

// TestNoUndoAfterRealLoss: the retransmission filled a real hole: the full
// ACK has no D-SACK, nor does any later ACK for that range, and a D-SACK
// for other data (a duplicate the network made) undoes nothing.
func TestNoUndoAfterRealLoss(t *testing.T) {
	r := newRig(t, Config{})
	cwnd := recoveryEpisode(t, r)
	r.sackAck(segAt(10))
	r.sackAck(segAt(10), segAt(3), segAt(4)) // a network duplicate of segment 3
	if ctr := r.l.Counters(); ctr.Undos != 0 || r.c.snd.cc.cwnd >= cwnd {
		t.Fatalf("undos %d, cwnd %d (before recovery %d)", ctr.Undos, r.c.snd.cc.cwnd, cwnd)
	}
}

// rtoEpisode: one segment with timestamps, unacknowledged until the RTO
// resends it; it returns the TSvals of the original and the retransmission
// and cwnd before the timeout.
func rtoEpisode(t *testing.T, r *rig) (orig, rtx uint32, cwnd uint32) {
	t.Helper()
	r.establishedTS(1000, 5000, 1, true)
	r.write(500)
	s := r.drain()
	if len(s) != 1 {
		t.Fatalf("sent %d", len(s))
	}
	cwnd = r.c.snd.cc.cwnd
	r.advance(r.c.snd.rtxAt.Sub(r.c.l.tick(r.now)))
	s2 := r.drain()
	if len(s2) != 1 || s2[0].seq != s[0].seq || r.l.Counters().Timeouts != 1 {
		t.Fatalf("after the RTO sent %+v", s2)
	}
	if s2[0].opts.TSVal == s[0].opts.TSVal {
		t.Fatal("retransmission carries the original's TSval")
	}
	return s[0].opts.TSVal, s2[0].opts.TSVal, cwnd
}

// TestUndoSpuriousRTO: the first ACK after the timeout echoes the
// original's TSval, so the original arrived and the timeout was spurious
// (Eifel detection, RFC 3522): cwnd comes back and the backoff ends (RFC
// 4015).
func TestUndoSpuriousRTO(t *testing.T) {
	r := newRig(t, Config{NoRACK: true})
	orig, _, cwnd := rtoEpisode(t, r)
	backedOff := r.c.snd.rto
	r.now = r.now.Add(10 * time.Millisecond)
	r.send(seg{flags: ACK, seq: 1001, ack: 5501, opts: tsOpt(500, orig)})
	ctr := r.l.Counters()
	if ctr.UndoRTO != 1 || r.c.snd.cc.cwnd < cwnd || r.c.snd.rto >= backedOff || r.c.snd.rec.rtoRec {
		t.Fatalf("RTO undos %d, cwnd %d (before %d), RTO %v (backed off %v)", ctr.UndoRTO, r.c.snd.cc.cwnd, cwnd, r.c.snd.rto, backedOff)
	}
}

// TestNoUndoRealRTO: the ACK echoes the retransmission's TSval: it was
// the retransmission that arrived, the loss was real, nothing is undone.
func TestNoUndoRealRTO(t *testing.T) {
	r := newRig(t, Config{NoRACK: true})
	_, rtx, cwnd := rtoEpisode(t, r)
	r.now = r.now.Add(10 * time.Millisecond)
	r.send(seg{flags: ACK, seq: 1001, ack: 5501, opts: tsOpt(500, rtx)})
	if ctr := r.l.Counters(); ctr.Undos != 0 || r.c.snd.cc.cwnd >= cwnd {
		t.Fatalf("undos %d, cwnd %d (before %d)", ctr.Undos, r.c.snd.cc.cwnd, cwnd)
	}
}

// advCapture is a capture that takes negative advice.
type advCapture struct {
	*capture
	advised [][2]wire.Addr
}

func (a *advCapture) Advise(src, dst wire.Addr) {
	a.advised = append(a.advised, [2]wire.Addr{src, dst})
}

// TestR1NegativeAdvice: at R1 (default 3) retransmissions of one segment,
// IP gets negative advice once and the application is told the connection
// is retrying, with a readiness notification (RFC 9293 §3.8.3, MUST-20,
// SHLD-9, SHLD-10); an ACK of new data ends it.
func TestR1NegativeAdvice(t *testing.T) {
	r := newRig(t, Config{})
	adv := &advCapture{capture: r.o}
	r.l.out = adv
	r.establishedPassive(1000, 5000)
	r.c.SetID(9)
	r.write(100)
	r.drain()
	for i := 1; i <= 5; i++ {
		r.o.notes = nil
		r.advance(r.c.snd.rtxAt.Sub(r.c.l.tick(r.now)))
		r.drain()
		if got, want := r.c.Retrying(), i >= 3; got != want {
			t.Fatalf("after %d timeouts Retrying() = %v", i, got)
		}
		if i == 3 {
			woke := false
			for _, n := range r.o.notes {
				woke = woke || (n.id == 9 && n.ev&sock.Writable != 0)
			}
			if !woke {
				t.Fatalf("no readiness at R1: %+v", r.o.notes)
			}
		}
	}
	if len(adv.advised) != 1 || adv.advised[0] != [2]wire.Addr{addrB, addrA} || r.l.Counters().R1Advice != 1 {
		t.Fatalf("advice %v (counter %d), want once for %v->%v", adv.advised, r.l.Counters().R1Advice, addrB, addrA)
	}
	r.send(seg{flags: ACK, seq: 1001, ack: 5101})
	if r.c.Retrying() {
		t.Fatal("still retrying after an ACK of new data")
	}
}

// TestR2DefaultAtLeast100s: with the default configuration a connection
// whose data is never acknowledged is given up (R2) no sooner than 100 s
// after the first transmission (RFC 9293 §3.8.3 SHLD-11), and then with
// ErrTimeout.
func TestR2DefaultAtLeast100s(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedPassive(1000, 5000)
	start := r.now
	r.write(100)
	for i := 0; i < 100 && r.c.State() != StateClosed; i++ {
		r.advance(r.c.earliest().Sub(r.c.l.tick(r.now)))
	}
	if r.c.State() != StateClosed {
		t.Fatal("never gave up")
	}
	if d := r.now.Sub(start); d < 100*time.Second {
		t.Fatalf("gave up after %v, want at least 100 s", d)
	}
	if !errors.Is(r.c.Err(), sock.ErrTimeout) {
		t.Fatalf("error %v", r.c.Err())
	}
}

// TestUndoEifelRecovery: fast recovery retransmitted a segment that was
// only reordered; the full ACK echoes the TSval of the original (sent
// before the retransmission), so the recovery was spurious and cwnd and
// ssthresh come back (RFC 3522 §2).
func TestUndoEifelRecovery(t *testing.T) {
	r := newRig(t, Config{})
	orig, at := r.tsWindow()
	if len(orig) != 10 {
		t.Fatalf("sent %d", len(orig))
	}
	cwnd := r.c.snd.cc.cwnd
	r.now = r.now.Add(20 * time.Millisecond)
	o := tsOpt(200, orig[0].opts.TSVal)
	o.SACK[0], o.NumSACK = wire.SACKBlock{Start: at(2), End: at(5)}, 1
	r.send(seg{flags: ACK, seq: 1001, ack: at(1), opts: o})
	rtx := r.drain()
	if len(rtx) == 0 || rtx[0].seq != at(1) || rtx[0].opts.TSVal == orig[1].opts.TSVal {
		t.Fatalf("sent %+v, want the retransmission of %d with a newer TSval", rtx, at(1))
	}
	if r.c.snd.cc.cwnd >= cwnd {
		t.Fatal("no window reduction")
	}
	r.send(seg{flags: ACK, seq: 1001, ack: at(10), opts: tsOpt(201, orig[1].opts.TSVal)})
	if ctr := r.l.Counters(); ctr.UndoEifel != 1 || r.c.snd.cc.cwnd < cwnd || r.c.snd.rec.active {
		t.Fatalf("Eifel undos %d, cwnd %d (before %d), recovering %v", ctr.UndoEifel, r.c.snd.cc.cwnd, cwnd, r.c.snd.rec.active)
	}
}

// TestRACKReoWndGrowsWithDSACKRounds: a D-SACK widens the reordering
// window by min_RTT/4 once per round trip (RACK.dsack_round), and it
// persists for 16 recoveries (RFC 8985 §6.2 step 4).
func TestRACKReoWndGrowsWithDSACKRounds(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedSACK()
	r.write(10 * rkMSS)
	r.drain()
	r.now = r.now.Add(40 * time.Millisecond)
	r.sackAck(segAt(2))
	base := r.c.snd.rackReoWnd()
	if base == 0 || base != r.c.snd.rack.minRTT/4 {
		t.Fatalf("reo_wnd %v, want min_RTT/4 = %v", base, r.c.snd.rack.minRTT/4)
	}
	r.sackAck(segAt(2), segAt(0), segAt(1)) // D-SACK: round 1
	r.sackAck(segAt(2), segAt(1), segAt(2)) // same round: no more
	// (Multiplier times min_RTT, then /4: each transmission is stamped a
	// nanosecond after the last, so min_RTT need not divide by 4.)
	if got, want := r.c.snd.rackReoWnd(), 2*r.c.snd.rack.minRTT/4; got != want {
		t.Fatalf("reo_wnd after D-SACKs in one round %v, want %v", got, want)
	}
	r.sackAck(segAt(10)) // the round ends
	r.write(rkMSS)
	r.sackAck(segAt(10), segAt(3), segAt(4)) // D-SACK: round 2
	if got, want := r.c.snd.rackReoWnd(), 3*r.c.snd.rack.minRTT/4; got != want {
		t.Fatalf("reo_wnd after a second round %v, want %v", got, want)
	}
	for range 16 {
		r.c.snd.rackRecoveryEnded()
	}
	if got, want := r.c.snd.rackReoWnd(), r.c.snd.rack.minRTT/4; got != want {
		t.Fatalf("reo_wnd after 16 recoveries %v, want %v", got, want)
	}
}

// TestR1NoAdviceForEmbryos: a listener's SYN,ACK retransmissions give no
// negative advice (a spoofed SYN must not make the stack re-probe its
// neighbours); an active OPEN's SYN retransmissions do (RFC 9293 §3.8.3).
func TestR1NoAdviceForEmbryos(t *testing.T) {
	r := newRig(t, Config{SynAckRetries: 5})
	adv := &advCapture{capture: r.o}
	r.l.out = adv
	r.isses = append(r.isses, 5000)
	r.listen(0)
	r.send(seg{flags: SYN, seq: 1000})
	for range 4 {
		r.advance(r.c.snd.rtxAt.Sub(r.c.l.tick(r.now)))
	}
	if len(adv.advised) != 0 || r.c.Retrying() {
		t.Fatalf("embryo: advice %v, retrying %v", adv.advised, r.c.Retrying())
	}
	a := newRig(t, Config{})
	aadv := &advCapture{capture: a.o}
	a.l.out = aadv
	a.isses = append(a.isses, 100)
	a.connect()
	for range 3 {
		a.advance(a.c.snd.rtxAt.Sub(a.c.l.tick(a.now)))
	}
	if len(aadv.advised) != 1 || !a.c.Retrying() {
		t.Fatalf("active OPEN: advice %v, retrying %v", aadv.advised, a.c.Retrying())
	}
}

// TestNoUndoForDuplicatedRetransmission: with timestamps, the
// retransmission repaired a real loss and the network then duplicated it:
// the D-SACK for it comes on an ACK echoing the retransmission's TSval,
// which proves nothing, so nothing is undone (undo.go undoDSACK).
func TestNoUndoForDuplicatedRetransmission(t *testing.T) {
	r := newRig(t, Config{})
	orig, at := r.tsWindow()
	cwnd := r.c.snd.cc.cwnd
	r.now = r.now.Add(20 * time.Millisecond)
	o := tsOpt(200, orig[0].opts.TSVal)
	o.SACK[0], o.NumSACK = wire.SACKBlock{Start: at(2), End: at(5)}, 1
	r.send(seg{flags: ACK, seq: 1001, ack: at(1), opts: o})
	rtx := r.drain()
	if len(rtx) == 0 || rtx[0].seq != at(1) {
		t.Fatalf("no retransmission: %+v", rtx)
	}
	r.now = r.now.Add(20 * time.Millisecond)
	r.send(seg{flags: ACK, seq: 1001, ack: at(10), opts: tsOpt(201, rtx[0].opts.TSVal)})
	o = tsOpt(202, rtx[0].opts.TSVal)
	o.SACK[0], o.NumSACK = wire.SACKBlock{Start: at(1), End: at(2)}, 1
	r.send(seg{flags: ACK, seq: 1001, ack: at(10), opts: o})
	if ctr := r.l.Counters(); ctr.DSACKsRcvd != 1 || ctr.Undos != 0 || r.c.snd.cc.cwnd >= cwnd {
		t.Fatalf("D-SACKs %d, undos %d, cwnd %d (before %d)", ctr.DSACKsRcvd, ctr.Undos, r.c.snd.cc.cwnd, cwnd)
	}
}
