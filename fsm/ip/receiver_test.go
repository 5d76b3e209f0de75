package ip

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

var (
	us    = wire.Addr{198, 18, 0, 2}
	peer  = wire.Addr{198, 18, 0, 1}
	t0    = time.Unix(1_000_000, 0)
	bcast = wire.Addr{198, 18, 0, 255}
)

type icmpCall struct {
	typ, code, ptr uint8
	orig           []byte
}

func newRx(t *testing.T, cfg Config) (*Receiver, *[]icmpCall) {
	t.Helper()
	var calls []icmpCall
	if cfg.Addr == (wire.Addr{}) {
		cfg.Addr, cfg.PrefixLen = us, 24
	}
	cfg.ICMPError = func(typ, code, ptr uint8, orig []byte) {
		calls = append(calls, icmpCall{typ, code, ptr, append([]byte(nil), orig...)})
	}
	r := NewReceiver(cfg)
	// Every rule that fires must come from a spec line; its hit counts
	// for make rule-coverage (main_test.go).
	r.SetTrace(func(rx *RxRule, fr *FragRule) {
		if rx != nil && rx.Src == "" || fr != nil && fr.Src == "" {
			t.Fatalf("rule without Src")
		}
		if rx != nil {
			covRx[rx.ID]++
		}
		if fr != nil {
			covFrag[fr.ID]++
		}
	})
	return r, &calls
}

// packet builds an IPv4 packet; mod may edit the header before the checksum
// is recomputed (set fixCsum false to keep a deliberately bad one).
func packet(src, dst wire.Addr, proto uint8, payload []byte, opts []byte, mod func(b []byte)) []byte {
	h := wire.IPv4Header{TotalLen: 20 + len(opts) + len(payload), ID: 7, TTL: 64, Protocol: proto, Src: src, Dst: dst}
	b := make([]byte, 20+len(opts)+len(payload))
	h.Put(b)
	copy(b[20:], opts)
	copy(b[20+len(opts):], payload)
	if len(opts) > 0 {
		b[0] = 4<<4 | byte((20+len(opts))/4)
	}
	if mod != nil {
		mod(b)
	}
	recsum(b)
	return b
}

func recsum(b []byte) {
	if len(b) == 0 {
		return
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || ihl > len(b) {
		return
	}
	b[10], b[11] = 0, 0
	c := wire.Checksum(b[:ihl], 0)
	b[10], b[11] = byte(c>>8), byte(c)
}

func TestPipelineDrops(t *testing.T) {
	pl := []byte("hello, world")
	for _, tc := range []struct {
		name string
		pkt  []byte
		want RxReason
		icmp uint8 // expected ICMP type asked for, 0 for none
	}{
		{"truncated", packet(peer, us, wire.ProtoUDP, pl, nil, nil)[:19], RxDropTruncated, 0},
		{"version 6", packet(peer, us, wire.ProtoUDP, pl, nil, func(b []byte) { b[0] = 6<<4 | 5 }), RxDropBadVersion, 0},
		{"ihl 4", packet(peer, us, wire.ProtoUDP, pl, nil, func(b []byte) { b[0] = 4<<4 | 4 }), RxDropBadHeaderLen, 0},
		{"ihl past frame", packet(peer, us, wire.ProtoUDP, nil, nil, func(b []byte) { b[0] = 4<<4 | 6 }), RxDropBadHeaderLen, 0},
		{"total < ihl", packet(peer, us, wire.ProtoUDP, pl, nil, func(b []byte) { b[2], b[3] = 0, 19 }), RxDropBadTotalLen, 0},
		{"total > frame", packet(peer, us, wire.ProtoUDP, pl, nil, func(b []byte) { b[2], b[3] = 0, 200 }), RxDropBadTotalLen, 0},
		{"bad checksum", func() []byte { b := packet(peer, us, wire.ProtoUDP, pl, nil, nil); b[10] ^= 1; return b }(), RxDropBadChecksum, 0},
		{"src limited broadcast", packet(wire.Addr{255, 255, 255, 255}, us, wire.ProtoUDP, pl, nil, nil), RxDropBadSource, 0},
		{"src multicast", packet(wire.Addr{224, 0, 0, 1}, us, wire.ProtoUDP, pl, nil, nil), RxDropBadSource, 0},
		{"src loopback", packet(wire.Addr{127, 0, 0, 1}, us, wire.ProtoUDP, pl, nil, nil), RxDropBadSource, 0},
		{"src class E", packet(wire.Addr{240, 0, 0, 1}, us, wire.ProtoUDP, pl, nil, nil), RxDropBadSource, 0},
		{"src subnet broadcast", packet(bcast, us, wire.ProtoUDP, pl, nil, nil), RxDropBadSource, 0},
		{"src is us", packet(us, us, wire.ProtoUDP, pl, nil, nil), RxDropBadSource, 0},
		{"dst other host", packet(peer, wire.Addr{198, 18, 0, 3}, wire.ProtoUDP, pl, nil, nil), RxDropNotForUs, 0},
		{"dst multicast", packet(peer, wire.Addr{224, 0, 0, 1}, wire.ProtoUDP, pl, nil, nil), RxDropNotForUs, 0},
		{"dst other subnet broadcast", packet(peer, wire.Addr{198, 18, 1, 255}, wire.ProtoUDP, pl, nil, nil), RxDropNotForUs, 0},
		{"option length 0", packet(peer, us, wire.ProtoUDP, pl, []byte{7, 0, 0, 0}, nil), RxDropBadOptions, ICMPParamProblem},
		{"option past header", packet(peer, us, wire.ProtoUDP, pl, []byte{1, 7, 9, 0}, nil), RxDropBadOptions, ICMPParamProblem},
		{"option length byte missing", packet(peer, us, wire.ProtoUDP, pl, []byte{1, 1, 1, 7}, nil), RxDropBadOptions, ICMPParamProblem},
		{"bad option to broadcast", packet(peer, bcast, wire.ProtoUDP, pl, []byte{7, 0, 0, 0}, nil), RxDropBadOptions, 0},
		{"unknown protocol", packet(peer, us, 99, pl, nil, nil), RxDropUnknownProtocol, ICMPDestUnreachable},
		{"unknown protocol broadcast", packet(peer, wire.Addr{255, 255, 255, 255}, 99, pl, nil, nil), RxDropUnknownProtocol, 0},
		{"unknown protocol from 0.0.0.0", packet(wire.Addr{}, us, 99, pl, nil, nil), RxDropUnknownProtocol, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, calls := newRx(t, Config{})
			var d Datagram
			if r.Receive(t0, tc.pkt, &d) {
				t.Fatal("delivered")
			}
			if r.LastDrop() != tc.want {
				t.Fatalf("LastDrop = %v, want %v", r.LastDrop(), tc.want)
			}
			c := r.Counters()
			if c.Rx[tc.want] != 1 || c.Received != 1 || c.Delivered != 0 {
				t.Fatalf("counters %+v", c)
			}
			switch {
			case tc.icmp == 0 && len(*calls) != 0:
				t.Fatalf("unexpected ICMP error %+v", *calls)
			case tc.icmp != 0 && (len(*calls) != 1 || (*calls)[0].typ != tc.icmp):
				t.Fatalf("ICMP calls %+v, want type %d", *calls, tc.icmp)
			case tc.icmp != 0:
				ihl := int(tc.pkt[0]&0xf) * 4
				if want := tc.pkt[:ihl+8]; !bytes.Equal((*calls)[0].orig, want) {
					t.Fatalf("ICMP quote %x, want %x", (*calls)[0].orig, want)
				}
			}
		})
	}
}

func TestParamProblemPointer(t *testing.T) {
	r, calls := newRx(t, Config{})
	var d Datagram
	r.Receive(t0, packet(peer, us, wire.ProtoUDP, []byte("12345678"), []byte{1, 7, 0, 0}, nil), &d)
	if len(*calls) != 1 || (*calls)[0].ptr != 22 {
		t.Fatalf("calls %+v, want pointer 22 (the bad length byte)", *calls)
	}
}

func TestPipelineAccepts(t *testing.T) {
	pl := []byte("payload!")
	for _, tc := range []struct {
		name      string
		pkt       []byte
		broadcast bool
	}{
		{"unicast", packet(peer, us, wire.ProtoUDP, pl, nil, nil), false},
		{"ethernet padding trimmed", append(packet(peer, us, wire.ProtoUDP, pl, nil, nil), 0, 0, 0, 0, 0, 0), false},
		{"limited broadcast", packet(peer, wire.Addr{255, 255, 255, 255}, wire.ProtoUDP, pl, nil, nil), true},
		{"subnet broadcast", packet(peer, bcast, wire.ProtoUDP, pl, nil, nil), true},
		{"all-zeros subnet broadcast", packet(peer, wire.Addr{198, 18, 0, 0}, wire.ProtoUDP, pl, nil, nil), true},
		{"options nop, unknown, eol", packet(peer, us, wire.ProtoTCP, pl, []byte{1, 0x99, 3, 0xaa, 0, 0, 0, 0}, nil), false},
		{"source 0.0.0.0", packet(wire.Addr{}, wire.Addr{255, 255, 255, 255}, wire.ProtoUDP, pl, nil, nil), true},
		{"ttl 0 still received", packet(peer, us, wire.ProtoICMP, pl, nil, func(b []byte) { b[8] = 0 }), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, calls := newRx(t, Config{})
			var d Datagram
			if !r.Receive(t0, tc.pkt, &d) {
				t.Fatalf("dropped: %v", r.LastDrop())
			}
			if !bytes.Equal(d.Payload, pl) || d.Broadcast != tc.broadcast || d.Src != wire.IPv4(tc.pkt).Src() {
				t.Fatalf("datagram %+v", d)
			}
			if len(d.Header) != int(tc.pkt[0]&0xf)*4 || len(*calls) != 0 {
				t.Fatalf("header %d bytes, calls %v", len(d.Header), *calls)
			}
			if c := r.Counters(); c.Delivered != 1 || r.LastDrop() != RxReasonNone {
				t.Fatalf("counters %+v", c)
			}
		})
	}
}

func TestCustomProtocols(t *testing.T) {
	r, _ := newRx(t, Config{Protocols: []uint8{wire.ProtoTCP}})
	var d Datagram
	if r.Receive(t0, packet(peer, us, wire.ProtoUDP, []byte("x"), nil, nil), &d) || r.LastDrop() != RxDropUnknownProtocol {
		t.Fatal("UDP accepted though not configured")
	}
	if d.Proto != wire.ProtoUDP || len(d.Payload) != 1 {
		t.Fatalf("d not filled on UnknownProtocol: %+v", d)
	}
}

// Every cell of a stage run out of order is impossible: the rows exist so
// the table is total, and must never fire from Receive. One that fires
// anyway is counted in Counters.Internal and fails CheckInvariants.
func TestOutOfOrderStagesImpossible(t *testing.T) {
	for s := range RxState(NumRxStates) {
		for e := range RxEvent(NumRxEvents) {
			rule := RxMatch(s, e, func(RxGuard) bool { return false })
			if (e == stageOf[s]) == (rule.Outcome == RxOutImpossible) {
				t.Errorf("%v/%v: %v", s, e, rule)
			}
		}
	}
	r, _ := newRx(t, Config{})
	if err := r.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if rule := r.rx.Step(rxRun{r}, RxStateIdle, RxEvDispatch); rule.Outcome != RxOutImpossible {
		t.Fatalf("Idle/Dispatch fired %v", rule)
	}
	if c := r.Counters(); c.Internal != 1 {
		t.Errorf("Internal = %d, want 1", c.Internal)
	}
	if err := r.CheckInvariants(); err == nil || !strings.Contains(err.Error(), "ip.Internal") {
		t.Errorf("CheckInvariants = %v, want the impossible row reported", err)
	}
}

func TestReceiveDoesNotAllocate(t *testing.T) {
	r, _ := newRx(t, Config{})
	r.SetTrace(nil)
	pkt := packet(peer, us, wire.ProtoUDP, make([]byte, 100), nil, nil)
	var d Datagram
	if n := testing.AllocsPerRun(100, func() { r.Receive(t0, pkt, &d) }); n != 0 {
		t.Fatalf("%v allocations per Receive", n)
	}
}
