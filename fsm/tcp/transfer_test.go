package tcp

import (
	"bytes"
	"testing"
)

// transfer sends size octets each way between two layers and closes both
// directions; it checks the streams byte for byte and that both
// connections end up gone.
func transfer(t *testing.T, seed uint64, size int, f faults, maxSteps int) *wirePair {
	p := newWirePair(t, seed, Config{}, f)
	client, server := p.connect()
	up, down := pattern(seed, size), pattern(seed+1, size)
	cs := &streamer{c: client, out: up}
	ss := &streamer{c: server, out: down}
	p.runUntil(func() bool {
		cs.pump(p.now)
		ss.pump(p.now)
		if cs.err != nil || ss.err != nil {
			t.Fatalf("client err %v, server err %v", cs.err, ss.err)
		}
		return cs.eof && ss.eof && len(cs.out) == 0 && len(ss.out) == 0
	}, maxSteps)
	if !bytes.Equal(ss.in, up) {
		t.Fatalf("server received %d octets, want %d (equal prefix: %v)", len(ss.in), len(up), bytes.HasPrefix(up, ss.in))
	}
	if !bytes.Equal(cs.in, down) {
		t.Fatalf("client received %d octets, want %d", len(cs.in), len(down))
	}
	client.Close(p.now)
	server.Close(p.now)
	p.runUntil(func() bool { return len(p.a.conns) == 0 && len(p.b.conns) == 0 }, maxSteps)
	return p
}

func TestTransferTenMiB(t *testing.T) {
	p := transfer(t, 1, 10<<20, faults{}, 200000)
	if c := p.a.Counters(); c.Retransmits != 0 {
		t.Errorf("retransmits on a perfect link: %d", c.Retransmits)
	}
}

func TestTransferLossyReordering(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		p := transfer(t, seed, 10<<20, faults{loss: 0.01, reorder: 0.05, dup: 0.01}, 2000000)
		ca, cb := p.a.Counters(), p.b.Counters()
		if ca.Retransmits+cb.Retransmits == 0 {
			t.Errorf("seed %d: no retransmissions on a lossy link", seed)
		}
		t.Logf("seed %d: %v simulated, retransmits %d+%d (fast %d+%d), ooo %d+%d", seed, p.now.Sub(epoch),
			ca.Retransmits, cb.Retransmits, ca.FastRetransmits, cb.FastRetransmits, ca.OOOSegs, cb.OOOSegs)
	}
}
