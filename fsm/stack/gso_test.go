package stack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// gsoFrame builds a checksummed Ethernet/IPv4/TCP segment as the stack would.
func gsoFrame(id uint16, h wire.TCPHeader, payload []byte) []byte {
	hl := h.Len()
	b := make([]byte, gsoTCP+hl+len(payload))
	wire.PutEthernet(b, macB, macA, wire.EtherTypeIPv4)
	ip := wire.IPv4Header{TotalLen: len(b) - gsoIP, ID: id, DontFragment: true, TTL: 64, Protocol: wire.ProtoTCP, Src: addrA, Dst: addrB}
	ip.Put(b[gsoIP:])
	h.Put(b[gsoTCP:])
	copy(b[gsoTCP+hl:], payload)
	wire.SetTCPChecksum(b[gsoTCP:], addrA, addrB)
	return b
}

// gsoRun builds n segments of mss bytes (the last one last bytes) continuing
// each other from seq 1000, with IDs from 7.
func gsoRun(n, mss, last int, opts wire.TCPOptions) [][]byte {
	var out [][]byte
	seq := uint32(1000)
	for i := range n {
		size := mss
		if i == n-1 {
			size = last
		}
		p := make([]byte, size)
		for k := range p {
			p[k] = byte(int(seq) + k)
		}
		h := wire.TCPHeader{SrcPort: 80, DstPort: 40000, Seq: seq, Ack: 55, Flags: wire.FlagACK, Window: 512, Opts: opts}
		if i == n-1 {
			h.Flags |= wire.FlagPSH
		}
		out = append(out, gsoFrame(uint16(7+i), h, p))
		seq += uint32(size)
	}
	return out
}

// gsoStack returns a stack with GSO up to max that knows B's address
// (B asked for ours) and has sent frames' TCP segments as TCP would
// (gsoSend).
func gsoStack(max int, frames [][]byte) *Stack {
	s := New(Config{MAC: macA, Addr: addrA, PrefixLen: 24, GSOMaxSize: max})
	req := make([]byte, wire.EthernetHeaderLen+wire.ARPLen)
	wire.PutEthernet(req, wire.BroadcastMAC, macB, wire.EtherTypeARP)
	wire.PutARP(req[wire.EthernetHeaderLen:], wire.ARPRequest, macB, addrB, wire.MAC{}, addrA)
	s.Input(time.Unix(1_700_000_000, 0), req, RxMeta{})
	s.Output(func([]byte, TxMeta) {}) // the ARP reply
	for _, f := range frames {
		gsoSend(s, splitSeg(f))
	}
	return s
}

// tcpParts is a TCP segment as TCP hands it to the stack.
type tcpParts struct {
	src, dst wire.Addr
	meta     tcp.SegMeta
	hdr, pay []byte
}

// splitSeg takes a built Ethernet/IPv4/TCP frame apart.
func splitSeg(f []byte) tcpParts {
	ip := wire.IPv4(f[gsoIP:])
	t := wire.TCP(ip[ip.IHL():ip.TotalLen()])
	hdr := bytes.Clone(t[:t.DataOffset()])
	hdr[16], hdr[17] = 0, 0
	return tcpParts{ip.Src(), ip.Dst(), tcp.SegMeta{TOS: ip.TOS(), TTL: ip.TTL()}, hdr, t.Payload()}
}

// gsoSend sends p through the stack's TCP output, as TCP does.
func gsoSend(s *Stack, p tcpParts) { tcpOutput{s}.SendParts(p.src, p.dst, p.meta, p.hdr, p.pay, nil) }

type gsoOut struct {
	frame []byte
	meta  TxMeta
}

// gsoDrain runs Output and segments what it emits; it returns the emitted
// frames and the segments they stand for.
func gsoDrain(t *testing.T, s *Stack) (out []gsoOut, segs [][]byte) {
	t.Helper()
	buf := make([]byte, 2048)
	s.Output(func(f []byte, m TxMeta) {
		out = append(out, gsoOut{bytes.Clone(f), m})
		if err := Segment(f, m, buf, func(seg []byte) { segs = append(segs, bytes.Clone(seg)) }); err != nil {
			t.Fatalf("segment: %v", err)
		}
	})
	return out, segs
}

func TestGSOMergesRunAndSegmentRestoresIt(t *testing.T) {
	opts := wire.TCPOptions{HasTimestamps: true, TSVal: 9, TSEcr: 4}
	in := gsoRun(5, 1000, 300, opts)
	s := gsoStack(65535, in)
	out, segs := gsoDrain(t, s)
	if len(out) != 1 {
		t.Fatalf("emitted %d frames, want 1 super-frame", len(out))
	}
	f, m := out[0].frame, out[0].meta
	hdr := gsoTCP + 32
	want := TxMeta{GSO: GSOTCPv4, NeedsCsum: true, GSOSize: 1000, HdrLen: uint16(hdr), CsumStart: gsoTCP, CsumOffset: 16}
	if m != want {
		t.Fatalf("meta %+v, want %+v", m, want)
	}
	if len(f) != hdr+4300 {
		t.Fatalf("super-frame %d bytes, want %d", len(f), hdr+4300)
	}
	ip := wire.IPv4(f[gsoIP:])
	if ip.TotalLen() != len(f)-gsoIP || !ip.HeaderChecksumValid() || ip.ID() != 0 {
		t.Fatalf("IP header: len %d id %d csum ok %v", ip.TotalLen(), ip.ID(), ip.HeaderChecksumValid())
	}
	// The partial checksum completed over the whole segment must verify.
	seg := bytes.Clone(f[gsoTCP:])
	sum := wire.Checksum(seg, 0)
	binary.BigEndian.PutUint16(seg[16:], sum)
	if !wire.TCPChecksumValid(seg, addrA, addrB) {
		t.Fatal("partial checksum does not complete to a valid one")
	}
	if wire.TCPFlags(f[gsoTCP+13]) != wire.FlagACK|wire.FlagPSH {
		t.Fatalf("flags %v, want ACK|PSH from the last segment", wire.TCPFlags(f[gsoTCP+13]))
	}
	if len(segs) != len(in) {
		t.Fatalf("segmented into %d, want %d", len(segs), len(in))
	}
	for i := range in {
		if !bytes.Equal(withoutAtomicID(segs[i]), withoutAtomicID(in[i])) {
			t.Fatalf("segment %d differs from the original\n got %x\nwant %x", i, segs[i][:gsoTCP+32], in[i][:gsoTCP+32])
		}
	}
	if c := s.Counters(); c.GSOFrames != 1 || c.GSOSegments != 5 {
		t.Fatalf("counters frames %d segments %d", c.GSOFrames, c.GSOSegments)
	}
	if s.port.Queue().InUse() != 0 || s.Pending() != 0 {
		t.Fatalf("buffers in use %d, pending %d after Output", s.port.Queue().InUse(), s.Pending())
	}
}

func TestGSOBreaksRuns(t *testing.T) {
	mod := func(i int, fn func(f []byte)) func([][]byte) {
		return func(fs [][]byte) {
			fn(fs[i])
			h := wire.IPv4(fs[i][gsoIP:])
			binary.BigEndian.PutUint16(h[10:], 0)
			binary.BigEndian.PutUint16(h[10:], wire.Checksum(h[:20], 0))
			wire.SetTCPChecksum(fs[i][gsoTCP:], h.Src(), h.Dst())
		}
	}
	cases := []struct {
		name  string
		max   int
		edit  func([][]byte)
		sizes []int // segments per emitted frame
	}{
		{"plain", 65535, nil, []int{4}},
		{"PSH mid-run", 65535, mod(1, func(f []byte) { f[gsoTCP+13] |= byte(wire.FlagPSH) }), []int{2, 2}},
		{"seq gap", 65535, mod(2, func(f []byte) { f[gsoTCP+7]++ }), []int{2, 1, 1}},
		{"other port", 65535, mod(2, func(f []byte) { f[gsoTCP+1]++ }), []int{2, 1, 1}},
		{"other ack", 65535, mod(1, func(f []byte) { f[gsoTCP+11]++ }), []int{1, 1, 2}},
		{"other window", 65535, mod(3, func(f []byte) { f[gsoTCP+15]++ }), []int{3, 1}},
		{"other TTL", 65535, mod(1, func(f []byte) { f[gsoIP+8]-- }), []int{1, 1, 2}},
		{"other TOS", 65535, mod(2, func(f []byte) { f[gsoIP+1] = 0x20 }), []int{2, 1, 1}},
		{"FIN", 65535, mod(3, func(f []byte) { f[gsoTCP+13] |= byte(wire.FlagFIN) }), []int{3, 1}},
		{"SYN first", 65535, mod(0, func(f []byte) { f[gsoTCP+13] |= byte(wire.FlagSYN) }), []int{1, 3}},
		{"URG", 65535, mod(1, func(f []byte) { f[gsoTCP+13] |= byte(wire.FlagURG) }), []int{1, 1, 2}},
		{"other options", 65535, mod(2, func(f []byte) { f[gsoTCP+27]++ }), []int{2, 1, 1}},
		{"size limit", 20 + 32 + 2*1000, nil, []int{2, 2}},
		{"limit below two", 1000, nil, []int{1, 1, 1, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := gsoRun(4, 1000, 1000, wire.TCPOptions{HasTimestamps: true, TSVal: 1})
			if c.edit != nil {
				c.edit(in)
			}
			s := gsoStack(c.max, in)
			out, segs := gsoDrain(t, s)
			var sizes []int
			for _, o := range out {
				n := 1
				if o.meta.GSO != GSONone {
					n = (len(o.frame) - int(o.meta.HdrLen) + int(o.meta.GSOSize) - 1) / int(o.meta.GSOSize)
				}
				sizes = append(sizes, n)
			}
			if fmt.Sprint(sizes) != fmt.Sprint(c.sizes) {
				t.Fatalf("runs %v, want %v", sizes, c.sizes)
			}
			for i := range in {
				if !bytes.Equal(withoutAtomicID(segs[i]), withoutAtomicID(in[i])) {
					t.Fatalf("segment %d changed", i)
				}
			}
		})
	}
}

func TestGSOShortSegmentEndsRun(t *testing.T) {
	// A short segment may only end a run: 1000, 1000, 500 | 1000, 1000.
	a := gsoRun(3, 1000, 500, wire.TCPOptions{})
	a[2][gsoTCP+13] &^= byte(wire.FlagPSH)
	wire.SetTCPChecksum(a[2][gsoTCP:], addrA, addrB)
	b := gsoRun(2, 1000, 1000, wire.TCPOptions{})
	for _, f := range b {
		binary.BigEndian.PutUint32(f[gsoTCP+4:], binary.BigEndian.Uint32(f[gsoTCP+4:])+2500)
		wire.SetTCPChecksum(f[gsoTCP:], addrA, addrB)
	}
	in := append(a, b...)
	out, segs := gsoDrain(t, gsoStack(65535, in))
	if len(out) != 2 || out[0].meta.GSO != GSOTCPv4 || out[1].meta.GSO != GSOTCPv4 {
		t.Fatalf("emitted %d frames, want two super-frames", len(out))
	}
	if len(segs) != 5 {
		t.Fatalf("%d segments, want 5", len(segs))
	}
}

func TestGSOOffLeavesFramesAlone(t *testing.T) {
	in := gsoRun(4, 1000, 1000, wire.TCPOptions{})
	out, _ := gsoDrain(t, gsoStack(0, in))
	if len(out) != 4 {
		t.Fatalf("emitted %d frames with GSO off, want 4", len(out))
	}
	for _, o := range out {
		if o.meta != (TxMeta{}) {
			t.Fatalf("meta %+v with GSO off", o.meta)
		}
	}
}

func TestSegmentRejectsBadInput(t *testing.T) {
	in := gsoRun(3, 1000, 1000, wire.TCPOptions{})
	s := gsoStack(65535, in)
	var f []byte
	var m TxMeta
	s.Output(func(b []byte, meta TxMeta) { f, m = bytes.Clone(b), meta })
	buf := make([]byte, 2048)
	bad := []struct {
		name  string
		frame []byte
		meta  TxMeta
		buf   []byte
	}{
		{"zero gso size", f, TxMeta{GSO: GSOTCPv4, HdrLen: m.HdrLen}, buf},
		{"header length", f, TxMeta{GSO: GSOTCPv4, HdrLen: m.HdrLen + 4, GSOSize: 1000}, buf},
		{"unknown type", f, TxMeta{GSO: 9, HdrLen: m.HdrLen, GSOSize: 1000}, buf},
		{"small buffer", f, m, buf[:500]},
		{"truncated", f[:40], m, buf},
		{"csum field past the end", f[:100], TxMeta{NeedsCsum: true, CsumStart: gsoTCP, CsumOffset: 70}, buf},
		{"csum with a small buffer", f, TxMeta{NeedsCsum: true, CsumStart: gsoTCP, CsumOffset: 16}, buf[:100]},
	}
	for _, c := range bad {
		if err := Segment(c.frame, c.meta, c.buf, func([]byte) { t.Fatalf("%s: emitted", c.name) }); !errors.Is(err, ErrBadGSO) {
			t.Fatalf("%s: err %v, want ErrBadGSO", c.name, err)
		}
	}
	// Random bytes with a GSO header never panic.
	rng := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, 3000)
	for range 2000 {
		n := rng.IntN(len(junk))
		for i := range junk[:n] {
			junk[i] = byte(rng.Uint32())
		}
		_ = Segment(junk[:n], TxMeta{GSO: GSOTCPv4, HdrLen: uint16(rng.IntN(100)), GSOSize: uint16(rng.IntN(1500))}, buf, func([]byte) {})
	}
}

// withoutAtomicID returns a copy of an Ethernet+IPv4 frame with the ID and
// header checksum of an atomic datagram (DF) zeroed: the stack sends them
// with ID 0 (RFC 6864 §4.1), and a kernel cutting a super-frame numbers the
// segments from the first's ID on, as Segment does; the field carries
// nothing either way.
func withoutAtomicID(f []byte) []byte {
	f = bytes.Clone(f)
	if ip := wire.IPv4(f[wire.EthernetHeaderLen:]); len(ip) >= wire.IPv4MinHeaderLen && ip.DontFragment() {
		clear(ip[4:6])
		clear(ip[10:12])
	}
	return f
}

// TestGSOTransferMatchesPlain runs the same seeded transfers with and without
// GSO on the sender; segmenting what the GSO stack emits must give back,
// frame for frame, what the plain stack emits.
func TestGSOTransferMatchesPlain(t *testing.T) {
	for _, loss := range []float64{0, 0.03} {
		t.Run(fmt.Sprint("loss ", loss), func(t *testing.T) {
			record := func(gso int) ([][]byte, Counters) {
				n := newSim(t, 21)
				n.loss = loss
				n.a = New(Config{MAC: macA, Addr: addrA, PrefixLen: 24, Seed: 21, GSOMaxSize: gso})
				n.b = New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 22, GSOMaxSize: gso})
				var seen [][]byte
				n.trace = func(from string, f []byte) { seen = append(seen, bytes.Clone(f)) }
				transfer(t, n, 512<<10)
				return seen, *n.a.Counters()
			}
			plain, _ := record(0)
			merged, c := record(65535)
			if c.GSOFrames == 0 || c.GSOSegments < 2*c.GSOFrames {
				t.Fatalf("GSO frames %d segments %d: nothing merged", c.GSOFrames, c.GSOSegments)
			}
			if len(plain) != len(merged) {
				t.Fatalf("%d frames with GSO, %d without", len(merged), len(plain))
			}
			for i := range plain {
				if !bytes.Equal(withoutAtomicID(plain[i]), withoutAtomicID(merged[i])) {
					t.Fatalf("frame %d differs", i)
				}
			}
		})
	}
}

func BenchmarkOutputGSO(b *testing.B) {
	for _, max := range []int{0, 65535} {
		b.Run(fmt.Sprint("max=", max), func(b *testing.B) {
			var in []tcpParts
			for _, f := range gsoRun(44, 1448, 1448, wire.TCPOptions{HasTimestamps: true}) {
				in = append(in, splitSeg(f))
			}
			s := gsoStack(max, nil)
			var bytesOut int
			emit := func(f []byte, _ TxMeta) { bytesOut += len(f) }
			b.ReportAllocs()
			b.SetBytes(int64(44 * 1448))
			for b.Loop() {
				for _, p := range in {
					gsoSend(s, p)
				}
				s.Output(emit)
			}
			b.ReportMetric(float64(s.ctr.GSOFrames)/float64(b.N), "superframes/op")
		})
	}
}

// TestGSOLargeBuffersBounded: super-frames lent to the driver hold at most
// gsoMaxLarge large buffers; with all of them out, segments still leave, one
// ordinary frame each (counted in GSONoBuffer), and once the driver gives
// the frames back (ReturnFrame) the large buffers are used again.
func TestGSOLargeBuffersBounded(t *testing.T) {
	var run []tcpParts
	for _, f := range gsoRun(4, 1000, 1000, wire.TCPOptions{}) {
		run = append(run, splitSeg(f))
	}
	run[3].hdr[13] &^= byte(wire.FlagPSH)
	s := gsoStack(65535, nil)
	var lent [][]byte
	var metas []TxMeta
	round := func() {
		metas = metas[:0]
		for _, p := range run {
			gsoSend(s, p)
		}
		s.LendOutput(func(f []byte, m TxMeta) {
			lent = append(lent, f)
			metas = append(metas, m)
		})
	}
	for range gsoMaxLarge {
		round()
		if len(metas) != 1 || metas[0].GSO != GSOTCPv4 {
			t.Fatalf("round with large buffers left: %d frames %+v", len(metas), metas)
		}
	}
	round()
	if len(metas) != 4 || metas[0].GSO != GSONone || !metas[0].NeedsCsum {
		t.Fatalf("with every large buffer lent: %d frames %+v, want 4 plain ones", len(metas), metas)
	}
	if c := s.Counters(); c.GSONoBuffer != 4 {
		t.Fatalf("GSONoBuffer %d, want 4", c.GSONoBuffer)
	}
	if n := s.port.Queue().InUse(); n != gsoMaxLarge+4 {
		t.Fatalf("%d buffers lent, want %d", n, gsoMaxLarge+4)
	}
	for _, f := range lent {
		s.ReturnFrame(f)
	}
	if n := s.port.Queue().InUse(); n != 0 {
		t.Fatalf("%d buffers lent after every frame came back", n)
	}
	round()
	if len(metas) != 1 || metas[0].GSO != GSOTCPv4 {
		t.Fatalf("after the frames came back: %d frames %+v, want one super-frame", len(metas), metas)
	}
}
