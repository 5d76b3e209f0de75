package tcp

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// TestRACKFewerTimeoutsAt5Percent: at 5 % loss both ways with SACK, the
// same seeds see strictly fewer retransmission timeouts with RACK-TLP than
// without, because lost retransmissions and lost tails are repaired by
// RACK and the loss probe (RFC 8985 §2.2, §7); and RACK did find lost
// retransmissions. Counters, not time, are asserted.
func TestRACKFewerTimeoutsAt5Percent(t *testing.T) {
	const seeds, size = 8, 512 << 10
	for _, cc := range []CongestionControl{NewReno, CUBIC} {
		var timeouts [2]uint64
		var lostRtx, probes uint64
		for i, noRACK := range []bool{false, true} {
			for seed := uint64(1); seed <= seeds; seed++ {
				p := newWirePair(t, seed, Config{CC: cc, NoRACK: noRACK}, faults{loss: 0.05, rate: 100e6, delay: 10 * time.Millisecond, queue: 200})
				oneWay(t, p, seed, size, 50_000_000)
				ctr := p.a.Counters()
				timeouts[i] += ctr.Timeouts
				if !noRACK {
					lostRtx += ctr.LostRetransmits
					probes += ctr.TLPProbes
				} else if ctr.TLPProbes != 0 || ctr.RACKLosses != 0 {
					t.Fatalf("NoRACK: %d probes, %d RACK losses", ctr.TLPProbes, ctr.RACKLosses)
				}
			}
		}
		t.Logf("%v: timeouts with RACK %d, without %d; lost retransmissions repaired %d, probes %d", cc, timeouts[0], timeouts[1], lostRtx, probes)
		if timeouts[0] >= timeouts[1] {
			t.Errorf("%v: %d timeouts with RACK, %d without", cc, timeouts[0], timeouts[1])
		}
		if lostRtx == 0 {
			t.Errorf("%v: RACK found no lost retransmission in %d transfers at 5 %% loss", cc, seeds)
		}
	}
}

// TestPropertyRACKByteExactUnderFaults: under loss, reordering,
// duplication and corruption in both directions, with RACK on and off,
// both streams arrive byte-exact and every invariant (the transmit queue's
// included) holds after every step.
func TestPropertyRACKByteExactUnderFaults(t *testing.T) {
	seeds := uint64(6)
	if testing.Short() {
		seeds = 2
	}
	for _, noRACK := range []bool{false, true} {
		for seed := uint64(1); seed <= seeds; seed++ {
			t.Run(fmt.Sprintf("norack=%v/seed=%d", noRACK, seed), func(t *testing.T) {
				f := faults{loss: 0.04, reorder: 0.08, dup: 0.03, corrupt: 0.01, rate: 50e6, delay: 5 * time.Millisecond}
				p := newWirePair(t, seed, Config{NoRACK: noRACK, CC: CongestionControl(seed % 2)}, f)
				client, server := p.connect()
				up, down := pattern(seed, 200<<10), pattern(seed+100, 100<<10)
				cs := &streamer{c: client, out: up}
				ss := &streamer{c: server, out: down}
				p.runUntil(func() bool {
					cs.pump(p.now)
					ss.pump(p.now)
					if cs.err != nil || ss.err != nil {
						t.Fatalf("client err %v, server err %v", cs.err, ss.err)
					}
					for _, l := range []*Layer{p.a, p.b} {
						if err := l.CheckInvariants(); err != nil {
							t.Fatalf("at %v: %v", p.now.Sub(epoch), err)
						}
					}
					return cs.eof && ss.eof
				}, 10_000_000)
				if !bytes.Equal(ss.in, up) || !bytes.Equal(cs.in, down) {
					t.Fatal("streams differ")
				}
			})
		}
	}
}
