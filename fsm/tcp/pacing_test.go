package tcp

import (
	"testing"
	"time"
)

// bottleneckQueue returns how many segments wait at p's bottleneck toward
// B now (the link's queue of transmissions not yet finished).
func (p *wirePair) bottleneckQueue() int {
	n := 0
	for _, done := range p.queued[0] {
		if done.After(p.now) {
			n++
		}
	}
	return n
}

// TestBBRPacingKeepsQueueShort: over a 100 Mbit/s link with a 20 ms round
// trip and a 200-segment queue, once BBR has left STARTUP, paced (the
// default) it keeps the bottleneck's queue to a fraction of the BDP (170
// segments) and drops nothing there; unpaced (Config.NoPacing) its window
// of twice the BDP arrives in bursts, fills the queue and overflows it.
// Simulated time, 16 MiB.
func TestBBRPacingKeepsQueueShort(t *testing.T) {
	f := faults{rate: 100e6, delay: 10 * time.Millisecond, queue: 200}
	run := func(noPacing bool) (maxQueue, drops int) {
		p := newWirePair(t, 11, Config{CC: BBR, NoPacing: noPacing}, f)
		var snd *sender
		dropsBefore := -1
		oneWayEach(t, p, 11, 16<<20, 50_000_000, func() {
			if snd == nil {
				for _, c := range p.a.conns {
					snd = &c.snd
				}
			}
			if snd == nil || snd.bbr == nil || snd.bbr.mode != bbrProbeBW {
				return
			}
			if dropsBefore < 0 {
				dropsBefore = p.tailDrops
			}
			maxQueue = max(maxQueue, p.bottleneckQueue())
		})
		if dropsBefore < 0 {
			t.Fatalf("NoPacing %v: BBR never reached PROBE_BW", noPacing)
		}
		return maxQueue, p.tailDrops - dropsBefore
	}
	pacedQ, pacedDrops := run(false)
	rawQ, rawDrops := run(true)
	t.Logf("in PROBE_BW: paced, queue at most %d segments, %d tail drops; unpaced, %d and %d", pacedQ, pacedDrops, rawQ, rawDrops)
	if pacedDrops != 0 || pacedQ > 85 {
		t.Errorf("paced: queue reached %d segments (want at most half the BDP, 85), %d tail drops (want 0)", pacedQ, pacedDrops)
	}
	if rawDrops == 0 || rawQ < 2*pacedQ {
		t.Errorf("unpaced: queue reached %d segments, %d tail drops: pacing made no difference", rawQ, rawDrops)
	}
}
