package tcp

import (
	"errors"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// stuckPeer is a SACK peer that never takes segment 0 of a flight of ten
// (rig write, MSS 1000): segment 0 is either lost on the path every time it
// is sent (talk: the peer then sends an octet of its own every 50 ms, an
// ACK that does not move SND.UNA) or reaches a receiver that drops it, as
// Linux under memory pressure does (TCPRcvQDrop), and answers it with a
// duplicate ACK. Segments 1..9 arrive, the first transmission of each too
// unless tail (then the tail of the flight is lost and a loss probe finds
// it); each draws, one RTT (100 ms) later, a duplicate ACK of segment 0 whose SACK
// blocks give what the peer has, the arriving segment's block first (RFC
// 2018 §4), no D-SACK.
type stuckPeer struct {
	r        *rig
	talk     bool
	tail     bool
	have     [10]bool
	sent     [10]bool
	peerSeq  uint32
	nextTalk time.Time
}

// run runs the rig against the peer from deadline to deadline until the
// connection closes or limit has passed; it returns how long it lived.
func (p *stuckPeer) run(limit time.Duration) time.Duration {
	r := p.r
	r.t.Helper()
	r.write(10 * rkMSS)
	start := r.now
	p.peerSeq, p.nextTalk = rkIRS+1, r.now.Add(50*time.Millisecond)
	for r.c.State() != StateClosed && r.now.Sub(start) < limit {
		if p.deliver(r.drain()) {
			continue
		}
		next := r.l.time(r.c.earliest())
		if p.talk && (next.IsZero() || p.nextTalk.Before(next)) {
			r.advance(p.nextTalk.Sub(r.now))
			r.send(seg{flags: ACK, seq: p.peerSeq, ack: segAt(0), data: []byte("x")})
			p.peerSeq++
			p.nextTalk = r.now.Add(50 * time.Millisecond)
			continue
		}
		if next.IsZero() {
			r.t.Fatal("no timer runs with data outstanding")
		}
		r.advance(next.Sub(r.now))
	}
	return r.now.Sub(start)
}

// deliver takes our segments and answers those that arrive; it reports
// whether any did.
func (p *stuckPeer) deliver(segs []sentSeg) bool {
	r := p.r
	var got []int
	for _, s := range segs {
		if s.n == 0 {
			continue
		}
		k := int((s.seq - segAt(0)) / rkMSS)
		first := !p.sent[k]
		p.sent[k] = true
		switch {
		case k == 0 && p.talk, p.tail && first:
		case k == 0:
			got = append(got, 0)
		default:
			p.have[k] = true
			got = append(got, k)
		}
	}
	if len(got) == 0 {
		return false
	}
	r.advance(100 * time.Millisecond) // the handshake's RTT
	for _, k := range got {
		var o wire.TCPOptions
		b := p.blocks(k)
		for i := 0; i < len(b); i += 2 {
			o.SACK[o.NumSACK] = wire.SACKBlock{Start: b[i], End: b[i+1]}
			o.NumSACK++
		}
		r.send(seg{flags: ACK, seq: p.peerSeq, ack: segAt(0), opts: o})
	}
	return true
}

// blocks returns the peer's SACK blocks: the one holding segment k first,
// then the others from the highest, at most three.
func (p *stuckPeer) blocks(k int) []uint32 {
	var b []uint32
	add := func(i int) {
		lo, hi := i, i
		for lo > 1 && p.have[lo-1] {
			lo--
		}
		for hi < 9 && p.have[hi+1] {
			hi++
		}
		for j := 0; j < len(b); j += 2 {
			if b[j] == segAt(lo) {
				return
			}
		}
		b = append(b, segAt(lo), segAt(hi+1))
	}
	if k > 0 {
		add(k)
	}
	for i := 9; i > 0 && len(b) < 6; i-- {
		if p.have[i] {
			add(i)
		}
	}
	return b
}

// TestRecoveryProbesReachR2: in fast recovery, with the hole at SND.UNA
// never repaired and the peer answering (or talking) without advancing
// SND.UNA, loss probes stop after Config.TLPMaxProbes and the
// retransmission timer backs off to R2 (MaxRetries), which aborts the
// connection (RFC 9293 §3.8.3 MUST-20, RFC 8985 §7.3). An ACK that does
// not move SND.UNA is no progress: it neither restarts the probe count nor
// keeps the RTO from firing. (A recovery probe ended by any ACK restarted
// the count, and each probe restarted the RTO: probes went every 2*PTO
// forever and the retry count stayed 0.)
func TestRecoveryProbesReachR2(t *testing.T) {
	for _, tc := range []struct{ talk, tail bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		r := newRig(t, Config{MaxRetries: 4})
		r.establishedSACK()
		p := &stuckPeer{r: r, talk: tc.talk, tail: tc.tail}
		lived := p.run(10 * time.Minute)
		ctr := r.l.Counters()
		if ctr.FastRetransmits == 0 {
			t.Fatalf("%+v: no fast recovery: %+v", tc, *ctr)
		}
		if r.c.State() != StateClosed {
			t.Fatalf("%+v: still %v after %v: %d probes, %d timeouts, retries %d", tc, r.c.State(), lived, ctr.TLPProbes, ctr.Timeouts, r.c.snd.retries)
		}
		if !errors.Is(r.c.Err(), sock.ErrTimeout) {
			t.Fatalf("%+v: error %v, want ErrTimeout", tc, r.c.Err())
		}
		if want := uint64(r.l.cfg.TLPMaxProbes); ctr.TLPProbes > want || ctr.Timeouts != 4 {
			t.Fatalf("%+v: %d probes, %d timeouts; want at most %d probes (none restarted without progress), 4 timeouts", tc, ctr.TLPProbes, ctr.Timeouts, want)
		}
	}
}

// TestRecoveryProbesSpentStaySpent: once Config.TLPMaxProbes recovery
// probes went without SND.UNA advancing, an ACK that asks for a new probe
// (here a D-SACK for a segment the network duplicated) schedules none: the
// count is of probes since SND.UNA last advanced, not of probes of the
// current episode, and the RTO stays where the last probe put it.
func TestRecoveryProbesSpentStaySpent(t *testing.T) {
	r := newRig(t, Config{MaxRetries: 4})
	r.establishedSACK()
	r.write(10 * rkMSS)
	r.drain()
	r.now = r.now.Add(20 * time.Millisecond)
	r.sackAck(segAt(0), segAt(1), segAt(3))
	r.sackAck(segAt(0), segAt(1), segAt(5))
	r.sackAck(segAt(0), segAt(1), segAt(10))
	for r.l.Counters().TLPProbes < uint64(r.l.cfg.TLPMaxProbes) {
		if r.c.snd.tlpAt.IsZero() || r.c.snd.rtxAt.Before(r.c.snd.tlpAt) {
			t.Fatalf("%d probes, and no probe before the RTO", r.l.Counters().TLPProbes)
		}
		r.advance(r.c.snd.tlpAt.Sub(r.c.l.tick(r.now)))
		r.drain()
		r.sackAck(segAt(0), segAt(1), segAt(10)) // the probe answered: SND.UNA stays
	}
	rto := r.c.snd.rtxAt
	r.sackAck(segAt(0), segAt(5), segAt(6), segAt(1), segAt(10)) // D-SACK: segment 5 twice
	if !r.c.snd.tlpAt.IsZero() || r.c.snd.rtxAt != rto {
		t.Fatalf("after %d probes without progress a D-SACK scheduled another at +%v (RTO at +%v, was +%v)", r.l.cfg.TLPMaxProbes,
			r.c.snd.tlpAt.Sub(r.c.l.tick(r.now)), r.c.snd.rtxAt.Sub(r.c.l.tick(r.now)), rto.Sub(r.c.l.tick(r.now)))
	}
	r.advance(rto.Sub(r.c.l.tick(r.now)))
	if ctr := r.l.Counters(); ctr.Timeouts != 1 || ctr.TLPProbes != uint64(r.l.cfg.TLPMaxProbes) {
		t.Fatalf("%d timeouts, %d probes at the RTO; want 1 and %d", ctr.Timeouts, ctr.TLPProbes, r.l.cfg.TLPMaxProbes)
	}
}

// TestZeroWindowProbesLiveThenDead (RFC 9293 §3.8.6.1, §3.8.3): a peer
// whose window stays closed is probed with backoff. While it does not
// answer the probes count toward R1 (Conn.Retrying, SHLD-9); once it
// answers each probe with its zero window it may keep the window closed
// for ever (MUST-37): the count starts over and Retrying clears, as the
// path works. When it falls silent again, R2 (MaxRetries) probes later
// the connection is aborted.
func TestZeroWindowProbesLiveThenDead(t *testing.T) {
	const maxRetries = 6
	r := newRig(t, Config{MaxRetries: maxRetries, RTOMax: 10 * time.Second}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 300, wnd0: true})
	r.c.Send(r.now, []byte("0123456789"))
	probes := 0
	probe := func() {
		t.Helper()
		r.advance(r.l.NextDeadline().Sub(r.now))
		r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("0")})
		r.recvNothing()
		probes++
	}
	for probes <= r.l.cfg.R1 { // the persist probe, then R1 retransmissions of it
		probe()
	}
	if !r.c.Retrying() {
		t.Fatalf("%d probes unanswered and not retrying", probes)
	}
	for range 3 * maxRetries {
		r.send(seg{flags: ACK, seq: 100, ack: 300, wnd0: true})
		if r.c.Retrying() || r.c.snd.retries != 0 {
			t.Fatalf("after %d probes the peer answered with its zero window: retrying %v, retries %d", probes, r.c.Retrying(), r.c.snd.retries)
		}
		probe()
	}
	r.state(StateEstablished)
	for range maxRetries - 1 {
		probe()
	}
	r.state(StateEstablished)
	r.advance(r.l.NextDeadline().Sub(r.now))
	r.state(StateClosed)
	r.recvErr(sock.ErrTimeout)
}

// TestHandshakeRetriesNotResetByAnswers (MUST-22, RFC 9293 §3.8.3): the
// SYN and SYN,ACK retransmissions count toward their R2 (SynRetries,
// SynAckRetries) whatever the peer sends meanwhile that does not complete
// the handshake: an ACK of the wrong number (answered with a reset), a RST
// without ACK in SYN-SENT (ignored), the peer's retransmitted SYN in
// SYN-RECEIVED (answered with the SYN,ACK again). The handshake gives up
// 1+2+4 s after the first SYN with two retries, as unanswered.
func TestHandshakeRetriesNotResetByAnswers(t *testing.T) {
	for _, active := range []bool{true, false} {
		r := newRig(t, Config{SynRetries: 2, SynAckRetries: 2}, 300)
		var answer []seg
		if active {
			r.connect()
			answer = []seg{{flags: ACK, seq: 700, ack: 250}, {flags: RST, seq: 700}}
		} else {
			r.listen(0)
			r.send(seg{flags: SYN, seq: 100})
			answer = []seg{{flags: SYN, seq: 100}, {flags: ACK, seq: 101, ack: 250}}
		}
		start := r.now
		for r.c.State() != StateClosed && r.now.Sub(start) < time.Minute {
			r.o.take()
			for _, a := range answer {
				r.advance(100 * time.Millisecond)
				r.send(a)
			}
			r.advance(r.l.NextDeadline().Sub(r.now))
		}
		if got := r.now.Sub(start); r.c.State() != StateClosed || got != 7*time.Second {
			t.Fatalf("active %v: %v %v after the first SYN, want closed after 7s", active, r.c.State(), got)
		}
	}
}

// TestOrphanZeroWindowAborted: a peer that answers every window probe with
// a zero window keeps a connection its user holds open for ever (MUST-37),
// but one its user closed is aborted once the probes' backoff reaches
// RTOMax (orphanStuck, as Linux's tcp_orphan_retries), and counted; the
// same peer, the same probes, only the Close differs.
func TestOrphanZeroWindowAborted(t *testing.T) {
	for _, orphan := range []bool{false, true} {
		r := newRig(t, Config{RTOMax: 10 * time.Second}, 299)
		r.establishedPassive(99, 299)
		r.send(seg{flags: ACK, seq: 100, ack: 300, wnd0: true})
		r.c.Send(r.now, []byte("0123456789"))
		if orphan {
			r.c.Close(r.now)
		}
		start, probes := r.now, 0
		for r.c.State() != StateClosed && r.now.Sub(start) < 30*time.Minute {
			next := r.l.NextDeadline()
			if next.IsZero() {
				t.Fatalf("orphan %v: no timer while %v behind a zero window", orphan, r.c.State())
			}
			r.advance(next.Sub(r.now))
			if len(r.o.segs) > 0 {
				probes += len(r.o.segs)
				r.o.segs = r.o.segs[:0]
				r.send(seg{flags: ACK, seq: 100, ack: 300, wnd0: true}) // answered: the window stays shut
			}
		}
		aborted := r.l.Counters().OrphanZeroWindow
		if !orphan {
			if r.c.State() == StateClosed || aborted != 0 {
				t.Fatalf("held connection: %v after 30 min of answered probes (%d aborted): want it kept (MUST-37)", r.c.State(), aborted)
			}
			continue
		}
		if r.c.State() != StateClosed || aborted != 1 {
			t.Fatalf("orphan: %v after %v and %d probes, %d counted: want aborted and counted", r.c.State(), r.now.Sub(start), probes, aborted)
		}
		if d := r.now.Sub(start); d > 2*time.Minute || probes < 4 {
			t.Errorf("orphan aborted after %v and %d probes: want a few probes, within about RTOMax's backoff", d, probes)
		}
	}
}
