package stack

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// TestAnnounceAtStart: a new stack asks to be polled at once, and its first
// Poll broadcasts a gratuitous ARP request for its own address (RFC 5227 §3).
func TestAnnounceAtStart(t *testing.T) {
	s := New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 1})
	now := time.Unix(1_700_000_000, 0)
	if d := s.NextDeadline(); d.IsZero() || d.After(now) {
		t.Fatalf("NextDeadline before the first Poll = %v, want a time already past", d)
	}
	s.Poll(now)
	var frames [][]byte
	s.port.Queue().Drain(func(f []byte) { frames = append(frames, append([]byte(nil), f...)) })
	if len(frames) != 1 {
		t.Fatalf("%d frames after the first Poll, want 1", len(frames))
	}
	eth, _ := wire.ParseEthernet(frames[0])
	a, err := wire.ParseARP(eth.Payload())
	if err != nil || eth.Dst() != wire.BroadcastMAC || a.Op() != wire.ARPRequest || a.SenderIP() != addrB || a.TargetIP() != addrB || a.SenderMAC() != macB {
		t.Fatalf("not a gratuitous ARP for %v: %x (%v)", addrB, frames[0], err)
	}
	s.Poll(now.Add(time.Second))
	if n := s.port.Queue().Len(); n != 0 {
		t.Fatalf("announced again: %d frames", n)
	}
	if !s.NextDeadline().IsZero() {
		t.Fatalf("idle stack still wants a poll at %v", s.NextDeadline())
	}
}

// TestNoAnnounce: a stack told another announces the address sends nothing
// at start and asks for no poll.
func TestNoAnnounce(t *testing.T) {
	s := New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 1, NoAnnounce: true})
	if d := s.NextDeadline(); !d.IsZero() {
		t.Fatalf("NextDeadline = %v, want none", d)
	}
	s.Poll(time.Unix(1_700_000_000, 0))
	if n := s.port.Queue().Len(); n != 0 {
		t.Fatalf("%d frames after the first Poll, want none", n)
	}
}
