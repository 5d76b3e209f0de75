package stack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// handedOff is one datagram a stack passed to Config.HandOff.
type handedOff struct {
	dgram        []byte
	lport, rport uint16
}

// loopZero returns a stack with B's address and MAC that owns the flows
// of its local ports other than 80 (package netspec's loop 0 of two, in
// small: n.b is the loop that owns port 80's flows), and the datagrams
// it hands off.
func loopZero(n *simNet) (*Stack, *[]handedOff) {
	var got []handedOff
	cfg := Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 77, NoAnnounce: true}
	cfg.TCP.OwnsFlow = func(_ wire.Addr, lport uint16, _ wire.Addr, _ uint16) bool { return lport != 80 }
	cfg.HandOff = func(hdr, payload []byte, lport, rport uint16) {
		got = append(got, handedOff{append(append([]byte(nil), hdr...), payload...), lport, rport})
	}
	return New(cfg), &got
}

// fragmentsTo gives st the datagram of proto from A around payload, cut
// into fragments of at most size payload octets (a multiple of 8).
func fragmentsTo(n *simNet, st *Stack, id uint16, proto uint8, payload []byte, size int) {
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		b := make([]byte, wire.EthernetHeaderLen+wire.IPv4MinHeaderLen+end-off)
		wire.PutEthernet(b, macB, macA, wire.EtherTypeIPv4)
		h := wire.IPv4Header{TotalLen: len(b) - wire.EthernetHeaderLen, ID: id, MoreFragments: end < len(payload),
			FragOffset: off, TTL: 64, Protocol: proto, Src: addrA, Dst: addrB}
		h.Put(b[wire.EthernetHeaderLen:])
		copy(b[wire.EthernetHeaderLen+wire.IPv4MinHeaderLen:], payload[off:end])
		st.Input(n.now, b, RxMeta{Time: n.now})
	}
}

// mergedSegments takes the TCP segments A has queued and returns them as
// one segment (the first one's header, every payload in order, PSH set,
// checksummed), as one large segment a peer might send in fragments.
func mergedSegments(t *testing.T, n *simNet) []byte {
	t.Helper()
	var seg []byte
	n.a.Output(func(f []byte, _ TxMeta) {
		ip := wire.IPv4(f[wire.EthernetHeaderLen:])
		if ip.Protocol() != wire.ProtoTCP {
			return
		}
		s := wire.TCP(ip.Payload())
		if seg == nil {
			seg = append([]byte(nil), s[:s.DataOffset()]...)
		}
		seg = append(seg, s.Payload()...)
	})
	if seg == nil {
		t.Fatal("A sent no segment")
	}
	seg[13] |= byte(wire.FlagPSH)
	wire.SetTCPChecksum(seg, addrA, addrB)
	return seg
}

// TestHandOffReassembledSegmentToOwner: a stack that receives every
// fragment (loop 0) reassembles a TCP segment of 3000 octets in three
// fragments for a flow another stack owns and hands it off whole, with
// the flow's ports, instead of giving it to its own TCP; the owner takes
// the datagram, twice its MTU, with InputDatagram: the data arrives
// intact and is acknowledged, with no retransmission. A fragmented ICMP
// error quoting the owner's flow is handed off too; a fragmented segment
// of a flow loop 0 owns stays there.
func TestHandOffReassembledSegmentToOwner(t *testing.T) {
	n := newSim(t, 41)
	b0, handed := loopZero(n)
	cfd, sfd := n.connect(80)
	st, _ := n.a.Status(cfd)
	want := randomBytes(41, 3000)
	if k, err := n.a.Send(n.now, cfd, want); k != len(want) || err != nil {
		t.Fatalf("Send = %d, %v", k, err)
	}
	seg := mergedSegments(t, n)
	seq := wire.TCP(seg).Seq()
	fragmentsTo(n, b0, 7, wire.ProtoTCP, seg, 1480)

	if len(*handed) != 1 {
		t.Fatalf("handed off %d datagrams, want 1", len(*handed))
	}
	h := (*handed)[0]
	dg := wire.IPv4(h.dgram)
	if h.lport != 80 || h.rport != st.LocalPort || dg.IsFragment() || !dg.HeaderChecksumValid() ||
		dg.TotalLen() != len(h.dgram) || !bytes.Equal(dg.Payload(), seg) {
		t.Fatalf("handed off ports %d, %d (want 80, %d), fragment %v, header checksum %v, %d octets of %d",
			h.lport, h.rport, st.LocalPort, dg.IsFragment(), dg.HeaderChecksumValid(), dg.TotalLen(), len(h.dgram))
	}
	if len(h.dgram) <= n.b.Config().MTU {
		t.Fatalf("handed-off datagram of %d octets: want more than the MTU", len(h.dgram))
	}
	if c := b0.Counters(); c.IPHandedOff != 1 || b0.IPReceiver().Counters().Reassembled != 1 || b0.TCP().Counters().SegsIn != 0 || b0.Pending() != 0 {
		t.Fatalf("loop 0: handed off %d, reassembled %d, TCP took %d segments, %d frames queued",
			c.IPHandedOff, b0.IPReceiver().Counters().Reassembled, b0.TCP().Counters().SegsIn, b0.Pending())
	}

	// The owner takes it as if it had arrived whole, and acknowledges it.
	var acked uint32
	n.trace = func(from string, f []byte) {
		ip := wire.IPv4(f[wire.EthernetHeaderLen:])
		if from == addrB.String() && ip.Protocol() == wire.ProtoTCP {
			acked = wire.TCP(ip.Payload()).Ack()
		}
	}
	n.b.InputDatagram(n.now, h.dgram)
	got := make([]byte, 0, len(want))
	buf := make([]byte, 4096)
	n.run(func() bool {
		k, err := n.b.Recv(n.now, sfd, buf)
		if err != nil && !errors.Is(err, sock.ErrWouldBlock) {
			t.Fatalf("Recv: %v", err)
		}
		got = append(got, buf[:k]...)
		return len(got) >= len(want) && acked == seq+uint32(len(want))
	})
	if !bytes.Equal(got, want) {
		t.Fatalf("received %d octets, not the ones sent", len(got))
	}
	if c := n.b.Counters(); c.IPHandedIn != 1 || n.a.TCP().Counters().Retransmits != 0 {
		t.Fatalf("owner took %d handed-off datagrams; A retransmitted %d segments", c.IPHandedIn, n.a.TCP().Counters().Retransmits)
	}

	// An ICMP error quoting a segment of the flow (B:80 -> A), fragmented:
	// handed off with the quoted flow's ports.
	quoted := make([]byte, 20+20+600)
	(&wire.IPv4Header{TotalLen: len(quoted), TTL: 64, Protocol: wire.ProtoTCP, Src: addrB, Dst: addrA}).Put(quoted)
	binary.BigEndian.PutUint16(quoted[20:], 80)
	binary.BigEndian.PutUint16(quoted[22:], st.LocalPort)
	icmp := append([]byte{wire.ICMPTimeExceeded, 0, 0, 0, 0, 0, 0, 0}, quoted...)
	binary.BigEndian.PutUint16(icmp[2:], wire.Checksum(icmp, 0))
	fragmentsTo(n, b0, 8, wire.ProtoICMP, icmp, 400)
	if len(*handed) != 2 || (*handed)[1].lport != 80 || (*handed)[1].rport != st.LocalPort {
		t.Fatalf("ICMP error: handed off %+v", (*handed)[1:])
	}
	in := n.b.ICMP().Counters().ErrorsIn
	n.b.InputDatagram(n.now, (*handed)[1].dgram)
	if n.b.ICMP().Counters().ErrorsIn != in+1 {
		t.Fatal("the owner did not take the handed-off ICMP error")
	}

	// A fragmented SYN to a port loop 0 owns: its own TCP takes it.
	if _, err := b0.Listen(n.now, 81, 4); err != nil {
		t.Fatal(err)
	}
	syn := synTo(addrA, addrB, 81)
	fragmentsTo(n, b0, 9, wire.ProtoTCP, syn, 8)
	if c := b0.Counters(); c.IPHandedOff != 2 || b0.TCP().Counters().SegsIn != 1 {
		t.Fatalf("own flow: handed off %d (want 2), TCP took %d segments (want 1)", c.IPHandedOff, b0.TCP().Counters().SegsIn)
	}
}
