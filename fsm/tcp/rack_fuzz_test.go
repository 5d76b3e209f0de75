package tcp

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// FuzzRACKAcks drives a sender with data in flight through ACKs whose
// cumulative point, SACK and D-SACK blocks (valid, overlapping, stale or
// beyond SND.NXT), timestamps and timing come from the input, with more
// writes and timer runs in between: RACK, TLP, D-SACK and undo must never
// panic, and the layer's invariants (the transmit queue's included) hold
// after every step.
func FuzzRACKAcks(f *testing.F) {
	f.Add([]byte{1, 1, 4, 2, 8, 3, 0, 20, 0, 0, 0, 1, 1, 8, 12, 2, 3, 4})
	f.Add([]byte{0, 0, 200, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 250, 0, 0, 0, 0})
	f.Fuzz(fuzzRACKBody)
}

func fuzzRACKBody(t *testing.T, b []byte) {
	{
		if len(b) < 1 {
			return
		}
		r := &rig{t: t, now: epoch, o: &capture{}, isses: []uint32{rkISS}, us: addrB, peer: addrA, uport: 80, pport: 1000}
		r.l = NewLayer(Config{SendBuf: 64 << 10}, r.o, rand.New(rand.NewPCG(7, 7)))
		r.l.issHook = func() seqnum.Value { return rkISS }
		ts := b[0]&1 != 0
		r.listen(0)
		syn := wire.TCPOptions{HasMSS: true, MSS: rkMSS, SACKPermitted: true}
		if ts {
			syn.HasTimestamps, syn.TSVal = true, 1
		}
		r.send(seg{flags: SYN, seq: rkIRS, opts: syn})
		r.now = r.now.Add(20 * time.Millisecond)
		var tsecr uint32
		for _, s := range r.drain() {
			tsecr = s.opts.TSVal
		}
		fin := wire.TCPOptions{}
		if ts {
			fin = tsOpt(2, tsecr)
		}
		r.send(seg{flags: ACK, seq: rkIRS + 1, ack: rkISS + 1, opts: fin})
		if r.c == nil || r.c.State() != StateEstablished {
			t.Fatal("not established")
		}
		r.c.Send(r.now, make([]byte, 30*rkMSS))
		peerTS := uint32(3)
		for i := 1; i+6 <= len(b) && i < 600; i += 6 {
			op := b[i : i+6]
			una, nxt := uint32(r.c.tcb.SndUna), uint32(r.c.tcb.SndNxt)
			flight := nxt - una
			switch op[0] % 5 {
			case 0: // time passes, timers run
				r.advance(time.Duration(op[1]) * time.Millisecond * 4)
			case 1, 2: // an ACK with SACK blocks
				ack := una
				if flight > 0 {
					ack = una + uint32(op[1])*flight/255
				}
				var o wire.TCPOptions
				for k := 0; k < int(op[2]%4); k++ {
					s := una + uint32(op[3+k%3])*rkMSS/2 - rkMSS
					e := s + uint32(1+op[3+(k+1)%3]%8)*rkMSS/2
					o.SACK[o.NumSACK] = wire.SACKBlock{Start: s, End: e}
					o.NumSACK++
				}
				if ts {
					peerTS++
					o.HasTimestamps, o.TSVal = true, peerTS
					for _, s := range r.o.segs {
						if p, err := wire.ParseTCP(s.b); err == nil && op[5]&1 != 0 {
							var so wire.TCPOptions
							if wire.ParseTCPOptions(p.Options(), &so) == nil && so.HasTimestamps {
								o.TSEcr = so.TSVal
								break
							}
						}
					}
				}
				r.now = r.now.Add(time.Duration(op[5]%16) * time.Millisecond)
				r.send(seg{flags: ACK, seq: rkIRS + 1, ack: ack, opts: o})
			case 3: // more data
				r.c.Send(r.now, make([]byte, int(op[1])*64))
			case 4: // the peer's data, sometimes a duplicate (D-SACK to send)
				r.send(seg{flags: ACK, seq: rkIRS + 1 - uint32(op[1]%2)*10, ack: una, data: make([]byte, 10+int(op[2]))})
			}
			if r.c.State() == StateEstablished || r.c.State() == StateCloseWait {
				if err := r.l.CheckInvariants(); err != nil {
					t.Fatalf("step %d op %v: %v", i/6, op, err)
				}
			}
			if len(r.o.segs) > 64 {
				r.o.segs = r.o.segs[len(r.o.segs)-16:]
			}
		}
	}
}
