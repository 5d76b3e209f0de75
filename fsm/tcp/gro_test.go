package tcp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// groSeg is one segment of a coalescing script: text [start, end) of the
// stream (offsets from IRS+1) with the header fields a run compares.
type groSeg struct {
	start, end int
	flags      wire.TCPFlags
	tos        uint8
	tsval      uint32
	wnd        uint16
	up         uint16
}

// groScript makes a seeded stream of n octets sent in batches as a peer
// on a lossy, reordering, duplicating path would: mostly in-order full
// segments, some lost (sent again later), reordered, duplicated or cut to
// overlap, with PSH, URG and CE marks, window and TSval changes here and
// there, and a FIN on the last octet. The last batch sends the whole
// stream again in order, so it always completes.
func groScript(seed uint64, n int) [][]groSeg {
	rng := rand.New(rand.NewPCG(seed, 3))
	var all []groSeg
	ts, wnd := uint32(1000), uint16(0xffff)
	for off := 0; off < n; {
		size := 1448
		if rng.IntN(6) == 0 {
			size = 1 + rng.IntN(1448)
		}
		end := min(off+size, n)
		s := groSeg{start: off, end: end, flags: ACK, tsval: ts, wnd: wnd}
		switch k := rng.IntN(40); {
		case k < 3:
			s.flags |= PSH
		case k == 3:
			s.flags |= wire.FlagURG
			s.up = uint16(1 + rng.IntN(end-off))
		case k == 4:
			s.tos = ECNCE
		case k == 5:
			s.tos = ECT0
		}
		if end == n {
			s.flags |= FIN
		}
		if rng.IntN(5) == 0 {
			ts++
		}
		if rng.IntN(30) == 0 {
			wnd--
		}
		all = append(all, s)
		off = end
	}
	var batches [][]groSeg
	var lost []groSeg
	for len(all) > 0 {
		k := min(len(all), 1+rng.IntN(24))
		b := append([]groSeg(nil), all[:k]...)
		all = all[k:]
		for i := range b {
			switch rng.IntN(30) {
			case 0: // lost: sent again in a later batch
				lost = append(lost, b[i])
				b[i].end = -1 // marks it removed
			case 1: // reordered with the next
				if i+1 < len(b) {
					b[i], b[i+1] = b[i+1], b[i]
				}
			case 2: // duplicated
				b = append(b, b[i])
			case 3: // an overlapping retransmission of part of it
				d := b[i]
				d.start += (d.end - d.start) / 2
				b = append(b, d)
			}
		}
		if len(lost) > 0 && rng.IntN(3) == 0 {
			b = append(b, lost...)
			lost = lost[:0]
		}
		kept := b[:0]
		for _, s := range b {
			if s.end >= 0 {
				kept = append(kept, s)
			}
		}
		batches = append(batches, kept)
	}
	var again []groSeg
	for off := 0; off < n; off += 1448 {
		again = append(again, groSeg{start: off, end: min(off+1448, n), flags: ACK | PSH, tsval: ts, wnd: wnd})
	}
	again[len(again)-1].flags |= FIN
	return append(batches, again)
}

// groRig is the receiving end of TestCoalescedSameAsAlone: a rig with an
// ESTABLISHED connection that negotiated timestamps, SACK and window
// scaling, and what its application read.
type groRig struct {
	*rig
	tsecr uint32
	read  []byte
	eof   bool
}

func newGroRig(t *testing.T, cfg Config) *groRig {
	r := &groRig{rig: newRig(t, cfg, 299)}
	r.listen(0)
	r.send(seg{flags: SYN, seq: 99, opts: wire.TCPOptions{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7,
		SACKPermitted: true, HasTimestamps: true, TSVal: 900}})
	synack := r.recv(seg{flags: SYN | ACK, seq: 299, ack: 100})
	var o wire.TCPOptions
	if err := wire.ParseTCPOptions(synack.Options(), &o); err != nil || !o.HasTimestamps {
		t.Fatalf("SYN,ACK options %+v %v", o, err)
	}
	r.tsecr = o.TSVal
	r.send(seg{flags: ACK, seq: 100, ack: 300, opts: wire.TCPOptions{HasTimestamps: true, TSVal: 901, TSEcr: r.tsecr}})
	r.state(StateEstablished)
	if _, err := r.ln.Accept(r.now); err != nil {
		t.Fatal(err)
	}
	return r
}

// batch sends one batch of the script (text from data) between BeginBatch
// and EndBatch, then reads what the application can.
func (r *groRig) batch(b []groSeg, data []byte) {
	r.l.BeginBatch()
	for _, s := range b {
		h := wire.TCPHeader{SrcPort: r.pport, DstPort: r.uport, Seq: 100 + uint32(s.start), Ack: 300, Flags: s.flags,
			Window: s.wnd, Urgent: s.up, Opts: wire.TCPOptions{HasTimestamps: true, TSVal: s.tsval, TSEcr: r.tsecr}}
		f := make([]byte, h.Len()+s.end-s.start)
		copy(f[h.Put(f):], data[s.start:s.end])
		wire.SetTCPChecksum(f, r.peer, r.us)
		r.l.InputIP(r.now, r.peer, r.us, SegMeta{TOS: s.tos, TTL: 64, Stable: true}, f, false)
	}
	r.l.EndBatch(r.now)
	buf := make([]byte, 3000)
	for !r.eof {
		k, err := r.c.Recv(r.now, buf)
		r.read = append(r.read, buf[:k]...)
		if errors.Is(err, io.EOF) {
			r.eof = true
		}
		if err != nil || k == 0 {
			break
		}
	}
	r.advance(time.Millisecond)
}

// TestCoalescedSameAsAlone: the same scripts of segments (loss, reordering,
// duplicates, overlaps, PSH, URG, CE and ECT marks, window and TSval
// changes, FIN) received in batches with receive coalescing and without
// (Config.NoRecvCoalescing) deliver byte-identical streams and leave the
// connections in the same state (TCB but SND.WL1, which Linux's GRO also
// leaves at a merged packet's first sequence number; TS.Recent; every
// counter but SegsCoalesced, SegsOut and the rows fired), and every ACK
// acknowledges no more than was received; with coalescing some segments
// were coalesced.
func TestCoalescedSameAsAlone(t *testing.T) {
	for seed := range uint64(12) {
		const n = 300 << 10
		data := pattern(seed, n)
		script := groScript(seed, n)
		alone := newGroRig(t, Config{NoRecvCoalescing: true, RecvBuf: 1 << 20})
		merged := newGroRig(t, Config{RecvBuf: 1 << 20})
		for _, b := range script {
			alone.batch(b, data)
			merged.batch(b, data)
		}
		for _, r := range []*groRig{alone, merged} {
			if !bytes.Equal(r.read, data) || !r.eof {
				t.Fatalf("seed %d: %s read %d octets (eof %v), not the %d sent", seed, map[bool]string{true: "alone", false: "coalesced"}[r == alone], len(r.read), r.eof, n)
			}
			for _, s := range r.o.take() {
				if a := wire.TCP(s.b).Ack(); a-100 > uint32(n)+1 {
					t.Fatalf("seed %d: ACK %d beyond the stream", seed, a)
				}
			}
		}
		ta, tm := alone.c.TCB(), merged.c.TCB()
		ta.SndWl1, tm.SndWl1 = 0, 0
		if ta != tm || alone.c.State() != merged.c.State() || alone.c.rcv.tsRecent != merged.c.rcv.tsRecent {
			t.Fatalf("seed %d: alone %v %+v TS.Recent %d; coalesced %v %+v %d", seed,
				alone.c.State(), ta, alone.c.rcv.tsRecent, merged.c.State(), tm, merged.c.rcv.tsRecent)
		}
		ca, cm := alone.l.Counters(), merged.l.Counters()
		if cm.SegsCoalesced == 0 || ca.SegsCoalesced != 0 {
			t.Fatalf("seed %d: coalesced %d and %d segments", seed, ca.SegsCoalesced, cm.SegsCoalesced)
		}
		ca.SegsCoalesced, ca.SegsOut, ca.RuleHits = cm.SegsCoalesced, cm.SegsOut, cm.RuleHits
		if !reflect.DeepEqual(ca, cm) {
			t.Fatalf("seed %d: counters differ:\nalone     %+v\ncoalesced %+v", seed, ca, cm)
		}
	}
}

// TestCoalesceRules: a run is cut where Linux's GRO cuts one: a segment
// that is not the next in order, carries another flag (FIN, URG, RST, SYN;
// PSH joins), another ACK, window, option or TOS, or a CE mark, arrives at
// another time, or would pass maxCoalesce or the window, is processed
// alone; a segment not in its frame (SegMeta.Stable false: reassembled)
// starts no run; and with hooks on the machine nothing is coalesced.
func TestCoalesceRules(t *testing.T) {
	full := make([]byte, 1000)
	type in struct {
		seq    uint32
		flags  wire.TCPFlags
		ack    uint32
		wnd    uint16
		tsval  uint32
		tos    uint8
		n      int
		later  bool // arrives 1 µs after the run's first
		stable bool
	}
	base := func(seq uint32) in {
		return in{seq: seq, flags: ACK, ack: 300, wnd: 0xffff, tsval: 5, n: len(full), stable: true}
	}
	for _, tc := range []struct {
		name  string
		hooks bool
		two   func(in) in // the second segment, from the one in order
		want  uint64      // SegsCoalesced
	}{
		{"in order", false, func(s in) in { return s }, 1},
		{"PSH joins", false, func(s in) in { s.flags |= PSH; return s }, 1},
		{"gap", false, func(s in) in { s.seq += 1; return s }, 0},
		{"FIN", false, func(s in) in { s.flags |= FIN; return s }, 0},
		{"URG", false, func(s in) in { s.flags |= wire.FlagURG; return s }, 0},
		{"ECE", false, func(s in) in { s.flags |= wire.FlagECE; return s }, 0},
		{"other ACK", false, func(s in) in { s.ack = 299; return s }, 0},
		{"other window", false, func(s in) in { s.wnd--; return s }, 0},
		{"other TSval", false, func(s in) in { s.tsval++; return s }, 0},
		{"other TOS", false, func(s in) in { s.tos = ECT0; return s }, 0},
		{"CE", false, func(s in) in { s.tos = ECNCE; return s }, 0},
		{"later", false, func(s in) in { s.later = true; return s }, 0},
		{"not stable", false, func(s in) in { s.stable = false; return s }, 0},
		{"past maxCoalesce", false, func(s in) in { s.n = maxCoalesce; return s }, 0},
		{"hooks", true, func(s in) in { return s }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newGroRig(t, Config{RecvBuf: 1 << 20})
			if tc.hooks {
				r.l.SetHooks(Hooks{Row: func(*Rule) {}})
			}
			put := func(s in) {
				h := wire.TCPHeader{SrcPort: r.pport, DstPort: r.uport, Seq: s.seq, Ack: s.ack, Flags: s.flags, Window: s.wnd,
					Opts: wire.TCPOptions{HasTimestamps: true, TSVal: s.tsval, TSEcr: r.tsecr}}
				f := make([]byte, h.Len()+s.n)
				h.Put(f)
				wire.SetTCPChecksum(f, r.peer, r.us)
				now := r.now
				if s.later {
					now = now.Add(time.Microsecond)
				}
				r.l.InputIP(now, r.peer, r.us, SegMeta{TOS: s.tos, Stable: s.stable}, f, false)
			}
			first := base(100)
			r.l.BeginBatch()
			put(first)
			put(tc.two(base(100 + uint32(len(full)))))
			r.l.EndBatch(r.now)
			if got := r.l.Counters().SegsCoalesced; got != tc.want {
				t.Fatalf("SegsCoalesced %d, want %d", got, tc.want)
			}
		})
	}
	// A segment past the window's right edge is not taken into a run.
	r := newGroRig(t, Config{RecvBuf: 4096})
	edge := int(r.c.rcv.edge - r.c.tcb.RcvNxt)
	r.l.BeginBatch()
	r.batchSeg(100, 1000)
	r.batchSeg(1100, edge-1000+1)
	r.l.EndBatch(r.now)
	if got := r.l.Counters().SegsCoalesced; got != 0 {
		t.Fatalf("window: SegsCoalesced %d, want 0", got)
	}
}

// batchSeg inputs one ACK segment of n zero octets at seq (the handshake's
// TSval, so PAWS takes it), inside the batch the caller opened.
func (r *groRig) batchSeg(seq uint32, n int) {
	h := wire.TCPHeader{SrcPort: r.pport, DstPort: r.uport, Seq: seq, Ack: 300, Flags: ACK, Window: 0xffff,
		Opts: wire.TCPOptions{HasTimestamps: true, TSVal: 901, TSEcr: r.tsecr}}
	f := make([]byte, h.Len()+n)
	h.Put(f)
	wire.SetTCPChecksum(f, r.peer, r.us)
	r.l.InputIP(r.now, r.peer, r.us, SegMeta{Stable: true}, f, false)
}
