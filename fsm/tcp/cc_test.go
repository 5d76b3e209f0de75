package tcp

import (
	"math/rand/v2"
	"testing"
	"time"
)

// ccConn returns a bare connection for congestion-control unit tests.
func ccConn(cc CongestionControl) *Conn {
	l := NewLayer(Config{CC: cc}, &capture{}, rand.New(rand.NewPCG(1, 1)))
	c := new(Conn)
	l.initConn(c)
	c.snd.mss = 1000
	c.snd.cc.cwnd = 10000
	c.snd.srtt = 100 * time.Millisecond
	return c
}

// TestCongestionWindowBounds: whatever the sequence of ACKs and losses, the
// window stays within [1 MSS, maxCwnd] and ssthresh >= 2 MSS (RFC 5681 §3.1).
func TestCongestionWindowBounds(t *testing.T) {
	for _, cc := range []CongestionControl{NewReno, CUBIC} {
		c := ccConn(cc)
		r := rand.New(rand.NewPCG(3, uint64(cc)))
		now := epoch
		for i := range 200000 {
			now = now.Add(time.Duration(r.IntN(50)) * time.Millisecond)
			switch r.IntN(20) {
			case 0:
				c.tcb.SndNxt = c.tcb.SndUna.Add(seqnumSize(uint32(r.IntN(1 << 20))))
				c.snd.ccLoss(now)
				c.snd.cc.enterRecovery()
			case 1:
				c.snd.ccLoss(now)
				c.snd.cc.timeout(c.snd.mss)
			default:
				c.snd.ccAck(uint32(r.IntN(1<<31)), now) // hostile: huge ACKs
			}
			if c.snd.cc.cwnd < uint32(c.snd.mss) || c.snd.cc.cwnd > maxCwnd || c.snd.cc.ssthresh < uint32(2*c.snd.mss) {
				t.Fatalf("%v step %d: cwnd %d ssthresh %d", cc, i, c.snd.cc.cwnd, c.snd.cc.ssthresh)
			}
		}
	}
}

// TestCubicRegrowsToWMax: after a loss CUBIC cuts to beta*W and grows back to
// W_max in about K = cbrt(W_max*(1-beta)/C) seconds (RFC 9438 §4.2), faster
// than NewReno's one MSS per RTT.
func TestCubicRegrowsToWMax(t *testing.T) {
	grow := func(cc CongestionControl) (time.Duration, uint32) {
		c := ccConn(cc)
		c.snd.cc.cwnd = 100_000 // 100 segments
		c.tcb.SndNxt = c.tcb.SndUna.Add(100_000)
		now := epoch
		c.snd.ccLoss(now)
		c.snd.cc.enterRecovery()
		after := c.snd.cc.cwnd
		for c.snd.cc.cwnd < 100_000 && now.Sub(epoch) < time.Minute {
			now = now.Add(c.snd.srtt)
			for range c.snd.cc.cwnd / 1000 { // one window of ACKs per RTT
				c.snd.ccAck(1000, now)
			}
		}
		return now.Sub(epoch), after
	}
	tc, cutC := grow(CUBIC)
	tr, cutR := grow(NewReno)
	if cutC != 70_000 || cutR != 50_000 {
		t.Fatalf("cut to %d (cubic) and %d (newreno), want 70000 and 50000", cutC, cutR)
	}
	// K = cbrt(100*0.3/0.4) = 4.2 s.
	if tc < 3*time.Second || tc > 6*time.Second {
		t.Fatalf("CUBIC took %v to regain W_max, want about 4.2 s", tc)
	}
	if tr <= tc {
		t.Fatalf("NewReno (%v) regrew no slower than CUBIC (%v)", tr, tc)
	}
}

// TestScoreboardMerge: SACK blocks merge, trim at SND.UNA and ignore blocks
// outside (SND.UNA, SND.NXT] (RFC 2018 §4).
func TestScoreboardMerge(t *testing.T) {
	b := scoreboard{r: make([]seqRange, 0, maxOOO)}
	b.add(100, 200)
	b.add(300, 400)
	b.add(200, 300)
	if len(b.r) != 1 || b.r[0] != (seqRange{100, 400}) {
		t.Fatalf("merge: %v", b.r)
	}
	for i := range maxSACKRanges + 4 {
		b.add(seqnumVal(1000+i*100), seqnumVal(1050+i*100))
	}
	if len(b.r) != maxSACKRanges || b.r[0] != (seqRange{100, 400}) {
		t.Fatalf("bounded board: n=%d first %v", len(b.r), b.r[0])
	}
	b.trim(150)
	if b.r[0] != (seqRange{150, 400}) {
		t.Fatalf("trim: %v", b.r[0])
	}
	if !b.lostFrom(0, 10) || b.lostFrom(len(b.r)-1, 1000) {
		t.Fatal("IsLost")
	}
}
