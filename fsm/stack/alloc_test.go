package stack

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/netspec/netspec/fsm/wire"
)

// The steady-state paths of an established connection allocate nothing: a
// write that leaves as frames (and the ACK that frees the send buffer), and
// an in-order data segment that is delivered, read and acknowledged. Each
// test drives one stack with frames the test rewrites in place (sequence or
// acknowledgment number and checksum), so the other side adds nothing to
// the count, and runs with GSO off (software checksums, one frame a
// segment) and on (super-frames, checksums left to the link).

// tcpFrame is a view of a TCP/IPv4 frame the test rewrites.
type tcpFrame []byte

func (f tcpFrame) ip() wire.IPv4 { return wire.IPv4(f[wire.EthernetHeaderLen:]) }
func (f tcpFrame) tcp() wire.TCP { return wire.TCP(f.ip()[f.ip().IHL():f.ip().TotalLen()]) }

// seqEnd returns the sequence number after the frame's payload.
func (f tcpFrame) seqEnd() uint32 { return f.tcp().Seq() + uint32(len(f.tcp().Payload())) }

// set rewrites the sequence and acknowledgment numbers and the checksum.
func (f tcpFrame) set(seq, ack uint32) {
	t := f.tcp()
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ack)
	wire.SetTCPChecksum(t, f.ip().Src(), f.ip().Dst())
}

// isData reports whether frame is a TCP/IPv4 frame with a payload.
func isData(frame []byte) bool {
	if len(frame) < gsoMinFrame || binary.BigEndian.Uint16(frame[12:]) != uint16(wire.EtherTypeIPv4) || frame[gsoIP+9] != wire.ProtoTCP {
		return false
	}
	return len(tcpFrame(frame).tcp().Payload()) > 0
}

// steadyPair connects a client (a) to a server (b) with GSO as given and
// returns the network and the descriptors.
func steadyPair(t *testing.T, gso int) (*simNet, FD, FD) {
	n := newSim(t, 31)
	n.a = New(Config{MAC: macA, Addr: addrA, PrefixLen: 24, Seed: 31, GSOMaxSize: gso})
	n.b = New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 32, GSOMaxSize: gso})
	cfd, sfd := n.connect(80)
	return n, cfd, sfd
}

// exchange sends size octets from a to b over the simulated wire, b reading
// them, until nothing is in flight, and returns a copy of the last frame
// for which keep holds.
func exchange(n *simNet, cfd, sfd FD, size int, keep func(from string, f []byte) bool) tcpFrame {
	var kept tcpFrame
	n.trace = func(from string, f []byte) {
		if keep(from, f) {
			kept = tcpFrame(append([]byte(nil), f...))
		}
	}
	defer func() { n.trace = nil }()
	if _, err := n.a.Send(n.now, cfd, make([]byte, size)); err != nil {
		n.t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	got := 0
	n.run(func() bool {
		k, _ := n.b.Recv(n.now, sfd, buf)
		got += k
		return got == size && kept != nil
	})
	n.run(func() bool { return !n.deliver() })
	return kept
}

// TestSendPathNoAllocs: a write on an established connection and the
// frames it leaves in, then the peer's ACK of them, allocate nothing.
func TestSendPathNoAllocs(t *testing.T) {
	for _, gso := range []int{0, 65535} {
		t.Run(fmt.Sprint("gso=", gso), func(t *testing.T) {
			n, cfd, sfd := steadyPair(t, gso)
			// b's acknowledgment of a's data, which the test reuses.
			ack := exchange(n, cfd, sfd, 4000, func(from string, f []byte) bool {
				return from == addrB.String() && !isData(f)
			})
			data := make([]byte, 16<<10)
			var end uint32
			emit := func(f []byte, _ TxMeta) {
				if isData(f) {
					end = max(end, tcpFrame(f).seqEnd())
				}
			}
			round := func() {
				if k, err := n.a.Send(n.now, cfd, data); k != len(data) || err != nil {
					t.Fatalf("Send %d %v", k, err)
				}
				n.a.Output(emit)
				ack.set(ack.tcp().Seq(), end)
				n.a.Input(n.now, ack, RxMeta{Time: n.now})
				n.a.Output(emit) // anything the ACK released
			}
			for range 20 { // grow the window and the pools
				round()
			}
			start := end
			if a := testing.AllocsPerRun(100, round); a != 0 {
				t.Fatalf("%.1f allocations per write, want 0", a)
			}
			// 101 runs (one warm-up) of 16 KiB each left, all but what the
			// last ACK released.
			if sent := int(end - start); sent < 100*len(data) || sent > 101*len(data) {
				t.Fatalf("%d octets sent in 101 writes of %d", sent, len(data))
			}
		})
	}
}

// TestReceivePathNoAllocs: in-order data segments that arrive in one batch,
// are coalesced (tcp.Counters.SegsCoalesced), read, and are acknowledged
// once at the batch's end allocate nothing.
func TestReceivePathNoAllocs(t *testing.T) {
	for _, gso := range []int{0, 65535} {
		t.Run(fmt.Sprint("gso=", gso), func(t *testing.T) {
			n, cfd, sfd := steadyPair(t, gso)
			seg := exchange(n, cfd, sfd, 1000, func(from string, f []byte) bool {
				return from == addrA.String() && isData(f)
			})
			buf := make([]byte, 64<<10)
			next, ack := seg.seqEnd(), seg.tcp().Ack()
			size := uint32(len(seg.tcp().Payload()))
			acks := 0
			emit := func(f []byte, m TxMeta) {
				if !isData(f) {
					acks++
				}
			}
			// A batch's frames stay as they are until EndBatch: two of them.
			segs := [2]tcpFrame{seg, append(tcpFrame(nil), seg...)}
			round := func() {
				n.b.BeginBatch()
				for _, f := range segs {
					f.set(next, ack)
					n.b.Input(n.now, f, RxMeta{Time: n.now})
					next += size
				}
				n.b.EndBatch(n.now)
				if k, err := n.b.Recv(n.now, sfd, buf); k != int(2*size) || err != nil {
					t.Fatalf("Recv %d %v, want %d", k, err, 2*size)
				}
				n.b.Output(emit)
			}
			for range 20 {
				round()
			}
			before, merged := acks, n.b.tcp.Counters().SegsCoalesced
			if a := testing.AllocsPerRun(100, round); a != 0 {
				t.Fatalf("%.1f allocations per batch, want 0", a)
			}
			if got := n.b.tcp.Counters().SegsCoalesced - merged; got != 101 {
				t.Fatalf("%d segments coalesced in 101 batches of two, want 101", got)
			}
			if acks-before < 100 {
				t.Fatalf("%d ACKs for 101 batches", acks-before)
			}
		})
	}
}
