package netspec

import (
	"net/netip"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// TestOneAnnouncementForLoops: the loops share one address and one link,
// so only the first sends the start-up gratuitous ARP (RFC 5227 §3), at
// once, before any call or frame; the others owe none: no timer due, none
// sent.
func TestOneAnnouncementForLoops(t *testing.T) {
	a0, b0 := pipe.New(pipe.Config{})
	a1, b1 := pipe.New(pipe.Config{})
	defer b0.Close()
	defer b1.Close()
	st, err := NewLinks(&Links{Each: []driver.Link{a0, a1}, Shard: func(a, b uint16) int { return int(a^b) & 1 }},
		netip.MustParsePrefix("198.18.0.1/24"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	frames, n := [][]byte{make([]byte, 1600)}, make([]int, 1)
	k, err := b0.ReadBatch(frames, n, make([]driver.RxMeta, 1), time.Now().Add(20*time.Second))
	if err != nil || k != 1 {
		t.Fatalf("loop 0 sent %d frames (%v), want its announcement", k, err)
	}
	eth, _ := wire.ParseEthernet(frames[0][:n[0]])
	if a, err := wire.ParseARP(eth.Payload()); err != nil || eth.Dst() != wire.BroadcastMAC || a.Op() != wire.ARPRequest || a.TargetIP() != a.SenderIP() {
		t.Fatalf("loop 0 sent %x, not a gratuitous ARP (%v)", frames[0][:n[0]], err)
	}
	// A call holds loop 1 as a Poll does: a Poll that ran before it has
	// counted what it sent.
	var due bool
	if err := st.shards[1].loop.Do(func(_ time.Time, s *stack.Stack) { due = !s.NextDeadline().IsZero() }); err != nil {
		t.Fatal(err)
	}
	if sent := st.shards[1].loop.Stats().TxFrames; due || sent != 0 {
		t.Fatalf("loop 1: a timer due %v, %d frames sent; want neither", due, sent)
	}
}
