package tcp

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// sentSeg is one segment we emitted, parsed.
type sentSeg struct {
	seq, ack uint32
	n        int
	flags    wire.TCPFlags
	opts     wire.TCPOptions
}

// tsWindow establishes a connection with timestamps and SACK (our ISS
// 5000, the peer's 1000), writes ten segments and drains them; it returns
// what left and at(k), the sequence number of segment k.
func (r *rig) tsWindow() (orig []sentSeg, at func(k int) uint32) {
	r.t.Helper()
	r.establishedTS(1000, 5000, 1, true)
	mss := uint32(r.c.snd.mss)
	r.write(10 * int(mss))
	return r.drain(), func(k int) uint32 { return 5001 + uint32(k)*mss }
}

// drain parses and removes everything we sent.
func (r *rig) drain() []sentSeg {
	r.t.Helper()
	var out []sentSeg
	for _, s := range r.o.take() {
		t, err := wire.ParseTCP(s.b)
		if err != nil {
			r.t.Fatal(err)
		}
		var o wire.TCPOptions
		if err := wire.ParseTCPOptions(t.Options(), &o); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, sentSeg{seq: t.Seq(), ack: t.Ack(), n: len(t.Payload()), flags: t.Flags(), opts: o})
	}
	return out
}

// dataSegs returns the sequence numbers of the data segments in segs.
func dataSegs(segs []sentSeg) []uint32 {
	var seqs []uint32
	for _, s := range segs {
		if s.n > 0 {
			seqs = append(seqs, s.seq)
		}
	}
	return seqs
}

// Sequence space of the RACK rigs: IRS 1000, ISS 5000, MSS 1000 (no
// timestamps) so segment k (from 0) starts at 5001 + 1000k.
const (
	rkIRS = 1000
	rkISS = 5000
	rkMSS = 1000
)

func segAt(k int) uint32 { return rkISS + 1 + uint32(k)*rkMSS }

// establishedSACK brings the rig to ESTABLISHED (passive) with SACK and an
// MSS of 1000 negotiated, no timestamps; SRTT is 100 ms.
func (r *rig) establishedSACK() {
	r.t.Helper()
	r.isses = append(r.isses, rkISS)
	r.listen(0)
	r.send(seg{flags: SYN, seq: rkIRS, opts: wire.TCPOptions{HasMSS: true, MSS: rkMSS, SACKPermitted: true}})
	r.recv(seg{flags: SYN | ACK, seq: rkISS, ack: rkIRS + 1})
	r.now = r.now.Add(100 * time.Millisecond)
	r.send(seg{flags: ACK, seq: rkIRS + 1, ack: rkISS + 1})
	r.state(StateEstablished)
	if _, err := r.ln.Accept(r.now); err != nil {
		r.t.Fatal(err)
	}
	if !r.c.sackOK || r.c.snd.mss != rkMSS {
		r.t.Fatalf("sackOK %v, MSS %d", r.c.sackOK, r.c.snd.mss)
	}
}

// sackAck sends an ACK of ack with SACK blocks (pairs of start, end).
func (r *rig) sackAck(ack uint32, blocks ...uint32) {
	r.t.Helper()
	var o wire.TCPOptions
	for i := 0; i+1 < len(blocks); i += 2 {
		o.SACK[o.NumSACK] = wire.SACKBlock{Start: blocks[i], End: blocks[i+1]}
		o.NumSACK++
	}
	r.send(seg{flags: ACK, seq: rkIRS + 1, ack: ack, opts: o})
}

func (r *rig) write(n int) {
	r.t.Helper()
	if got, err := r.c.Send(r.now, pattern(1, n)); err != nil || got != n {
		r.t.Fatalf("Send: %d, %v", got, err)
	}
}

func contains(seqs []uint32, v uint32) bool {
	for _, s := range seqs {
		if s == v {
			return true
		}
	}
	return false
}

// TestRACKFastRetransmitsOnTime: a hole below SACKed segments sent at the
// same time is lost once RACK.rtt has passed (reo_wnd 0: no reordering seen
// and DupThresh segments SACKed, RFC 8985 §6.2 step 4), and the first ACK
// that shows it starts recovery with its retransmission.
func TestRACKFastRetransmitsOnTime(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedSACK()
	r.write(10 * rkMSS)
	if got := dataSegs(r.drain()); len(got) != 10 {
		t.Fatalf("initial window: %d segments", len(got))
	}
	r.now = r.now.Add(20 * time.Millisecond)
	// Segment 1 lost; 2..4 SACKed in three ACKs.
	r.sackAck(segAt(1), segAt(2), segAt(3))
	r.sackAck(segAt(1), segAt(2), segAt(4))
	if got := dataSegs(r.drain()); len(got) != 0 {
		t.Fatalf("retransmitted %v before DupThresh segments were SACKed", got)
	}
	r.sackAck(segAt(1), segAt(2), segAt(5))
	got := dataSegs(r.drain())
	if len(got) == 0 || got[0] != segAt(1) {
		t.Fatalf("sent %v, want the retransmission of %d first", got, segAt(1))
	}
	ctr := r.l.Counters()
	if ctr.RACKLosses != 1 || ctr.FastRetransmits != 1 || !r.c.snd.rec.active {
		t.Fatalf("RACK losses %d, fast retransmits %d, recovering %v", ctr.RACKLosses, ctr.FastRetransmits, r.c.snd.rec.active)
	}
}

// TestRACKLostRetransmission: the retransmission of a lost segment is lost
// too; a segment sent after it is SACKed a round trip later, so RACK marks
// the retransmission lost and sends it again, with no timeout (RFC 8985
// §2.2, the point of RACK; Linux's LINUX_MIB_TCPLOSTRETRANSMIT).
func TestRACKLostRetransmission(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedSACK()
	r.write(30 * rkMSS)
	r.drain()
	r.now = r.now.Add(20 * time.Millisecond)
	r.sackAck(segAt(1), segAt(2), segAt(5))
	first := dataSegs(r.drain())
	if len(first) == 0 || first[0] != segAt(1) {
		t.Fatalf("sent %v, want the retransmission of %d", first, segAt(1))
	}
	// The ACKs of segments 5..9 let new data out (sent after the
	// retransmission); the retransmission itself is lost.
	for k := 6; k <= 10; k++ {
		r.sackAck(segAt(1), segAt(2), segAt(k))
	}
	after := dataSegs(r.drain())
	if len(after) == 0 || after[0] < segAt(10) {
		t.Fatalf("sent %v during recovery, want new data from %d", after, segAt(10))
	}
	if contains(after, segAt(1)) {
		t.Fatalf("retransmitted %d again before any evidence: %v", segAt(1), after)
	}
	// A round trip later the new data is SACKed: the retransmission sent
	// before it is lost.
	r.now = r.now.Add(20 * time.Millisecond)
	r.sackAck(segAt(1), segAt(2), segAt(10), after[0], after[0]+rkMSS)
	again := dataSegs(r.drain())
	if !contains(again, segAt(1)) {
		t.Fatalf("sent %v, want %d retransmitted again", again, segAt(1))
	}
	ctr := r.l.Counters()
	if ctr.LostRetransmits != 1 || ctr.Timeouts != 0 {
		t.Fatalf("lost retransmits %d, timeouts %d; want 1, 0", ctr.LostRetransmits, ctr.Timeouts)
	}
	// The hole fills: everything up to the SACKed data is acknowledged.
	r.sackAck(segAt(10), after[0], after[0]+rkMSS)
	if uint32(r.c.tcb.SndUna) != segAt(10) {
		t.Fatalf("SND.UNA %d", r.c.tcb.SndUna)
	}
}

// TestRACKOffKeepsRetransmissionToTimeout: with Config.NoRACK the same lost
// retransmission waits for the RTO (RFC 6675 retransmits a hole once per
// recovery), which the RACK test above avoids.
func TestRACKOffKeepsRetransmissionToTimeout(t *testing.T) {
	r := newRig(t, Config{NoRACK: true})
	r.establishedSACK()
	r.write(30 * rkMSS)
	r.drain()
	r.now = r.now.Add(20 * time.Millisecond)
	r.sackAck(segAt(1), segAt(2), segAt(5))
	if got := dataSegs(r.drain()); len(got) == 0 || got[0] != segAt(1) {
		t.Fatalf("sent %v, want the retransmission of %d", got, segAt(1))
	}
	for k := 6; k <= 10; k++ {
		r.sackAck(segAt(1), segAt(2), segAt(k))
	}
	after := dataSegs(r.drain())
	r.now = r.now.Add(20 * time.Millisecond)
	r.sackAck(segAt(1), segAt(2), segAt(10), after[0], after[0]+rkMSS)
	if again := dataSegs(r.drain()); contains(again, segAt(1)) {
		t.Fatalf("without RACK, %d was retransmitted again before the RTO: %v", segAt(1), again)
	}
	if r.l.Counters().TLPProbes != 0 || !r.c.snd.tlpAt.IsZero() || !r.c.snd.rackAt.IsZero() {
		t.Fatal("RACK-TLP timers or probes with NoRACK")
	}
}

// TestRACKReorderingWindow: once reordering was seen (a segment never
// retransmitted delivered below RACK.fack), a hole is not lost at once: the
// reordering timer waits min_RTT/4 (RFC 8985 §6.2 step 4, §6.3), then marks
// it and recovery retransmits it.
func TestRACKReorderingWindow(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedSACK()
	r.write(20 * rkMSS)
	r.drain()
	r.now = r.now.Add(100 * time.Millisecond)
	// Reordering: 1 is SACKed first, then 0 arrives.
	r.sackAck(segAt(0), segAt(1), segAt(2))
	r.sackAck(segAt(2))
	if !r.c.snd.rack.reoSeen {
		t.Fatal("reordering not seen")
	}
	r.drain()
	// Now a hole at 2 with 3..6 SACKed: not lost yet.
	r.sackAck(segAt(2), segAt(3), segAt(7))
	if got := dataSegs(r.drain()); contains(got, segAt(2)) {
		t.Fatalf("hole retransmitted at once despite reordering: %v", got)
	}
	if r.c.snd.rackAt.IsZero() {
		t.Fatal("no reordering timer armed")
	}
	wait := r.c.snd.rackAt.Sub(r.c.l.tick(r.now))
	if want := r.c.snd.rack.minRTT / 4; wait <= 0 || wait > want {
		t.Fatalf("reordering timer in %v, want (0, %v]", wait, want)
	}
	r.advance(wait)
	if got := dataSegs(r.drain()); len(got) == 0 || got[0] != segAt(2) {
		t.Fatalf("after the reordering timer sent %v, want %d", got, segAt(2))
	}
	if r.l.Counters().Timeouts != 0 {
		t.Fatal("a timeout fired")
	}
}

// TestTLPProbesTail: the last segments of a flight are lost and no ACK
// comes; after PTO = 2*SRTT the last segment goes again as a probe
// (no new data to send), a second is scheduled after twice the PTO in case
// no ACK comes, the probe's SACK lets RACK find the rest of the tail lost,
// and it is repaired without a timeout (RFC 8985 §7).
func TestTLPProbesTail(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedSACK()
	r.write(4 * rkMSS)
	r.drain()
	srtt := r.c.snd.srtt
	pto := r.c.snd.tlpAt.Sub(r.c.l.tick(r.now))
	if want := max(2*srtt, minPTO); pto != want {
		t.Fatalf("PTO %v, want %v (SRTT %v)", pto, want, srtt)
	}
	if !r.c.snd.tlpAt.Before(r.c.snd.rtxAt) {
		t.Fatal("PTO not before the RTO")
	}
	r.now = r.now.Add(50 * time.Millisecond)
	r.sackAck(segAt(1)) // segment 0 arrives; 1..3 are lost
	r.drain()
	r.advance(r.c.snd.tlpAt.Sub(r.c.l.tick(r.now)))
	probe := r.drain()
	if len(probe) != 1 || probe[0].seq != segAt(3) || probe[0].n != rkMSS {
		t.Fatalf("probe %+v, want the last segment %d", probe, segAt(3))
	}
	if ctr := r.l.Counters(); ctr.TLPProbes != 1 || ctr.Timeouts != 0 {
		t.Fatalf("probes %d, timeouts %d", ctr.TLPProbes, ctr.Timeouts)
	}
	if want := r.now.Add(2 * r.c.snd.pto()); !r.c.snd.tlpAt.Equal(r.c.l.tick(want)) {
		t.Fatalf("next probe at +%v, want +%v: twice the PTO (Config.TLPMaxProbes)", r.c.snd.tlpAt.Sub(r.c.l.tick(r.now)), want.Sub(r.now))
	}
	r.now = r.now.Add(srtt)
	r.sackAck(segAt(1), segAt(3), segAt(4))
	got := dataSegs(r.drain())
	if !contains(got, segAt(1)) || !contains(got, segAt(2)) {
		t.Fatalf("after the probe's SACK sent %v, want %d and %d", got, segAt(1), segAt(2))
	}
	r.sackAck(segAt(4))
	if ctr := r.l.Counters(); ctr.Timeouts != 0 || r.c.tcb.SndUna != r.c.tcb.SndNxt {
		t.Fatalf("timeouts %d, SND.UNA %d SND.NXT %d", ctr.Timeouts, r.c.tcb.SndUna, r.c.tcb.SndNxt)
	}
}

// TestTLPProbeNewData: with Config.TLPNewData and unsent data the probe
// is a new segment beyond cwnd (RFC 8985 §7.3, Linux); its ACK ends the
// episode.
func TestTLPProbeNewData(t *testing.T) {
	r := newRig(t, Config{TLPNewData: true})
	r.establishedSACK()
	r.write(14 * rkMSS) // 10 go (IW10), 4 wait for cwnd
	if got := dataSegs(r.drain()); len(got) != 10 {
		t.Fatalf("sent %d", len(got))
	}
	r.advance(r.c.snd.tlpAt.Sub(r.c.l.tick(r.now)))
	all := r.drain()
	probe := dataSegs(all)
	if len(probe) != 1 || probe[0] != segAt(10) {
		t.Fatalf("probe %+v, want new data at %d", all, segAt(10))
	}
	if !r.c.snd.tlp.active || r.c.snd.tlp.isRtx {
		t.Fatalf("tlp state %+v", r.c.snd.tlp)
	}
	r.sackAck(segAt(11))
	if r.c.snd.tlp.active {
		t.Fatal("a probe of new data still outstanding after its ACK")
	}
}

// TestTLPProbeLastByDefault: by default the probe is the last segment sent,
// again, even with unsent data (rack.go tlpFire: a receiver answers a
// duplicate at once where it may delay a lone new segment), and a D-SACK
// for it ends the episode without a congestion response.
func TestTLPProbeLastByDefault(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedSACK()
	r.write(14 * rkMSS)
	if got := dataSegs(r.drain()); len(got) != 10 {
		t.Fatalf("sent %d", len(got))
	}
	r.advance(r.c.snd.tlpAt.Sub(r.c.l.tick(r.now)))
	all := r.drain()
	probe := dataSegs(all)
	if len(probe) != 1 || probe[0] != segAt(9) {
		t.Fatalf("probe %+v, want the last segment again, at %d", all, segAt(9))
	}
	if !r.c.snd.tlp.active || !r.c.snd.tlp.isRtx {
		t.Fatalf("tlp state %+v", r.c.snd.tlp)
	}
}

// TestTLPDSACKMeansNoLoss: a retransmitted probe that a D-SACK reports as
// a duplicate repaired nothing; congestion control does not respond
// (RFC 8985 §7.4.2), and RACK takes the D-SACK for no reordering.
func TestTLPDSACKMeansNoLoss(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedSACK()
	r.write(2 * rkMSS)
	r.drain()
	r.advance(r.c.snd.tlpAt.Sub(r.c.l.tick(r.now)))
	if got := dataSegs(r.drain()); len(got) != 1 || got[0] != segAt(1) {
		t.Fatalf("probe %v", got)
	}
	cwnd := r.c.snd.cc.cwnd
	r.sackAck(segAt(2), segAt(1), segAt(2)) // everything, and the probe was a duplicate
	r.write(rkMSS)
	r.sackAck(segAt(3))
	if ctr := r.l.Counters(); ctr.DSACKsRcvd != 1 || ctr.TLPRecoveries != 0 || r.c.snd.cc.cwnd < cwnd {
		t.Fatalf("D-SACKs %d, TLP recoveries %d, cwnd %d (was %d)", ctr.DSACKsRcvd, ctr.TLPRecoveries, r.c.snd.cc.cwnd, cwnd)
	}
	if k := &r.c.snd.rack; k.reoMult > 1 || k.dsackOn {
		t.Fatalf("the probe's own D-SACK widened RACK's reordering window: multiplier %d, round open %v", k.reoMult, k.dsackOn)
	}
}

// TestTLPRecoveryReducesCwnd: a retransmitted probe that repaired a loss
// (the ACK covers it and data beyond, no D-SACK) counts as a loss: cwnd
// falls once (RFC 8985 §7.4.2).
func TestTLPRecoveryReducesCwnd(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedSACK()
	r.write(2 * rkMSS)
	r.drain()
	r.advance(r.c.snd.tlpAt.Sub(r.c.l.tick(r.now)))
	r.drain()
	cwnd := r.c.snd.cc.cwnd
	r.sackAck(segAt(2))
	r.write(rkMSS)
	r.sackAck(segAt(3))
	if ctr := r.l.Counters(); ctr.TLPRecoveries != 1 || r.c.snd.cc.cwnd >= cwnd {
		t.Fatalf("TLP recoveries %d, cwnd %d (was %d)", ctr.TLPRecoveries, r.c.snd.cc.cwnd, cwnd)
	}
}

// TestTLPBlackHoleOneProbe: with the peer gone, one probe goes out (at
// the PTO, never later than the RTO) and then only the RTO backoff runs:
// the probe is not counted toward R2, and R2 still ends the connection
// with a timeout (RFC 8985 §7.3, RFC 9293 §3.8.3).
func TestTLPBlackHoleOneProbe(t *testing.T) {
	r := newRig(t, Config{MaxRetries: 6, TLPMaxProbes: 1})
	r.establishedSACK()
	r.write(100)
	sent := len(dataSegs(r.drain()))
	for i := 0; i < 100 && r.c.State() != StateClosed; i++ {
		r.advance(r.c.earliest().Sub(r.c.l.tick(r.now)))
		sent += len(dataSegs(r.drain()))
	}
	ctr := r.l.Counters()
	if ctr.TLPProbes != 1 || ctr.Timeouts != 6 || sent != 1+1+6 {
		t.Fatalf("probes %d, timeouts %d, transmissions %d; want 1, 6, 8", ctr.TLPProbes, ctr.Timeouts, sent)
	}
	if r.c.State() != StateClosed || r.c.Err() == nil {
		t.Fatalf("state %v, error %v", r.c.State(), r.c.Err())
	}
}

// TestTLPOneSegmentWaitsForDelayedACK: with one segment in flight the PTO
// adds the worst-case delayed-ACK time, and is never later than the RTO
// (RFC 8985 §7.2): here 2*100 ms + 200 ms is cut to the RTO's 300 ms.
func TestTLPOneSegmentWaitsForDelayedACK(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedSACK()
	r.write(100)
	r.drain()
	if want := 2*r.c.snd.srtt + wcDelAckT; want <= r.c.snd.rto {
		t.Fatalf("setup: PTO %v would not reach the RTO %v", want, r.c.snd.rto)
	}
	if !r.c.snd.tlpAt.Equal(r.c.snd.rtxAt) {
		t.Fatalf("PTO at +%v, RTO at +%v: want the PTO cut to the RTO", r.c.snd.tlpAt.Sub(r.c.l.tick(r.now)), r.c.snd.rtxAt.Sub(r.c.l.tick(r.now)))
	}
	r.advance(r.c.snd.tlpAt.Sub(r.c.l.tick(r.now)))
	if ctr := r.l.Counters(); ctr.TLPProbes != 1 || ctr.Timeouts != 0 {
		t.Fatalf("probes %d, timeouts %d: the probe goes instead of the RTO", ctr.TLPProbes, ctr.Timeouts)
	}
}

// TestRACKSkipsSpuriousRetransmissionSample: a retransmitted segment whose
// cumulative ACK echoes the original's TSval was delivered by the
// original, so its retransmission time does not become RACK.xmit_ts (RFC
// 8985 §6.2 step 2); echoing the retransmission's TSval, it does. (A SACK
// echoes neither: TestRACKLostRetransmissionBelowSACKedOnes.)
func TestRACKSkipsSpuriousRetransmissionSample(t *testing.T) {
	for _, spurious := range []bool{true, false} {
		r := newRig(t, Config{})
		orig, at := r.tsWindow()
		r.now = r.now.Add(20 * time.Millisecond)
		o := tsOpt(200, orig[0].opts.TSVal)
		o.SACK[0], o.NumSACK = wire.SACKBlock{Start: at(2), End: at(5)}, 1
		r.send(seg{flags: ACK, seq: 1001, ack: at(1), opts: o})
		rtx := r.drain()
		if len(rtx) == 0 || rtx[0].seq != at(1) {
			t.Fatalf("no retransmission of %d: %+v", at(1), rtx)
		}
		rtxAt := r.now.UnixNano()
		r.now = r.now.Add(25 * time.Millisecond) // beyond min_RTT (20 ms): the min-RTT test passes
		echo := rtx[0].opts.TSVal
		if spurious {
			echo = orig[1].opts.TSVal
		}
		r.send(seg{flags: ACK, seq: 1001, ack: at(5), opts: tsOpt(201, echo)})
		if got := r.c.snd.rack.xmit == rtxAt; got == spurious {
			t.Fatalf("spurious=%v: RACK.xmit_ts is the retransmission's: %v", spurious, got)
		}
	}
}

// TestTLPBlackHoleProbesBounded: with the peer gone and several segments in
// flight, Config.TLPMaxProbes (default 3) probes go, each after twice the
// previous PTO while that is before the RTO (here 1 s), then only the RTO
// backoff runs and R2 ends the connection.
func TestTLPBlackHoleProbesBounded(t *testing.T) {
	r := newRig(t, Config{MaxRetries: 6, RTOMin: time.Second})
	r.establishedSACK()
	r.write(4 * rkMSS)
	r.drain()
	for i := 0; i < 100 && r.c.State() != StateClosed; i++ {
		r.advance(r.c.earliest().Sub(r.c.l.tick(r.now)))
		r.drain()
	}
	ctr := r.l.Counters()
	if want := uint64(r.l.cfg.TLPMaxProbes); ctr.TLPProbes != want || ctr.Timeouts != 6 {
		t.Fatalf("probes %d, timeouts %d; want %d, 6", ctr.TLPProbes, ctr.Timeouts, want)
	}
	if r.c.State() != StateClosed || r.c.Err() == nil {
		t.Fatalf("state %v, error %v", r.c.State(), r.c.Err())
	}
}

// TestTLPNoStormWithoutProgress: ACKs that acknowledge nothing new (here
// the peer's own data, every millisecond, with an unchanged ACK field and a
// window that does not reach our flight) do not restart the probe count:
// at most Config.TLPMaxProbes probes go before the RTO (here 5 s), and
// none into a zero window. (A count restarted by every ACK probed every
// 2*PTO for as long as the peer talked.)
func TestTLPNoStormWithoutProgress(t *testing.T) {
	for _, wnd0 := range []bool{false, true} {
		r := newRig(t, Config{RTOMin: 5 * time.Second})
		r.establishedSACK()
		r.write(4 * rkMSS)
		r.drain()
		seq := uint32(rkIRS + 1)
		start := r.now
		for r.now.Sub(start) < 3*time.Second {
			r.advance(time.Millisecond)
			r.send(seg{flags: ACK, seq: seq, ack: rkISS + 1, data: []byte("x"), wnd0: wnd0})
			seq++
			r.drain()
		}
		ctr := r.l.Counters()
		want := uint64(r.l.cfg.TLPMaxProbes)
		if wnd0 {
			want = 0
		}
		if ctr.TLPProbes > want || ctr.Timeouts != 0 {
			t.Fatalf("zero window %v: %d probes and %d timeouts in 3 s without progress, want at most %d probes before the RTO", wnd0, ctr.TLPProbes, ctr.Timeouts, want)
		}
	}
}
