package stackfuzz

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/netspec/netspec/fsm/wire"
)

var genSeeds = flag.Bool("genseeds", false, "rewrite the generated seed corpora under testdata/fuzz")

// connStates are program prefixes that bring the connection to each state
// (after the setup byte); the systematic seeds append one varied segment.
var connStates = []struct {
	name  string
	setup byte
	ops   []byte
}{
	{"established", 0, nil},
	{"established-wrap-wscale", 4 | 8, nil},
	{"established-inflight", 0, []byte{opSend, 10}},
	{"established-64k", 16, nil},
	{"established-autotuned", 32, []byte{opSend, 200, opAckAll, opSend, 255}},
	{"syn-received", 1, nil},
	{"syn-sent", 3, nil},
	{"active-established", 2, nil},
	{"fin-wait-1", 0, []byte{opClose, 0}},
	{"fin-wait-2", 0, []byte{opClose, 0, opAckAll}},
	{"closing", 0, []byte{opClose, 0, opInject, 0x11, 0, 0, 1, 0, 0, 0x20, 0, 0, 0, 0, 0}},
	{"time-wait", 0, []byte{opClose, 0, opPeerFin}},
	{"close-wait", 0, []byte{opPeerFin}},
	{"last-ack", 0, []byte{opPeerFin, opClose, 1}},
	{"orphan-fin-wait-1-unread", 0, []byte{opInject, 0x18, 0, 0, 0, 0, 20, 0x20, 0, 0, 0, 0, 0, opClose, 1}},
}

// segment field boundaries: {operand index, values}. The base segment is an
// ACK at RCV.NXT acknowledging SND.NXT, no text, window 8192, no options.
var connFields = []struct {
	name string
	idx  int
	vals []byte
}{
	{"flags", 0, []byte{0x00, 0x01, 0x02, 0x04, 0x10, 0x11, 0x12, 0x14, 0x18, 0x19, 0x30, 0x06, 0x03, 0xff}},
	{"seq", 1, []byte{0, 1, 2, 3, 4, 5, 6, 7}},
	{"ack", 3, []byte{0, 1, 2, 3, 4, 5, 6, 7}},
	{"len", 5, []byte{0, 1, 100, 254, 255}},
	{"win", 6, []byte{0, 0xff}},
	{"opts", 8, []byte{1, 2, 4, 8, 16, 31}},
}

func connSeeds() map[string][]byte {
	out := map[string][]byte{}
	base := [12]byte{0x10, 0, 0, 0, 0, 0, 0x20, 0, 0, 0}
	for _, st := range connStates {
		for _, f := range connFields {
			for _, v := range f.vals {
				seg := base
				seg[f.idx] = v
				if f.name == "opts" {
					seg[9] = 0x37 // option value byte
				}
				p := append([]byte{st.setup}, st.ops...)
				p = append(p, opInject)
				p = append(p, seg[:]...)
				p = append(p, opAdvance, 0x0f, 0xff) // 4 s: timers run
				out[fmt.Sprintf("%s-%s-%d", st.name, f.name, v)] = p
			}
		}
		p := append([]byte{st.setup}, st.ops...)
		p = append(p, opCorrupt)
		p = append(p, base[:]...)
		out[st.name+"-corrupt"] = p
		p = append([]byte{st.setup}, st.ops...)
		p = append(p, opAdvance, 0xff, 0xff, opAdvance, 0xff, 0xff) // timeouts
		out[st.name+"-timeouts"] = p
	}
	return out
}

func frameSeeds() map[string][]byte {
	out := map[string][]byte{}
	listen := []byte{frCall, 0, 0}
	syn := func(flags byte, seq, ack uint32) []byte {
		b := []byte{frSyn, flags}
		b = binary.BigEndian.AppendUint32(b, seq)
		b = binary.BigEndian.AppendUint32(b, ack)
		return append(b, 0)
	}
	for _, fl := range []byte{0x02, 0x10, 0x04, 0x12, 0x11, 0x00, 0x06} {
		out[fmt.Sprintf("listen-tcp-flags-%02x", fl)] = append(append([]byte{0}, listen...), syn(fl, 1000, 0)...)
	}
	// Handshake, then the peer's ACK with data through frIP.
	out["handshake-accept"] = append(append(append([]byte{1}, listen...), syn(0x02, 1000, 0)...), frCall, 7, 0, frAdvance, 0x0f, 0xff)
	// Arbitrary frames at boundary lengths.
	for _, n := range []int{0, 13, 14, 33, 34, 41, 42, 54, 60, 1514, 1600} {
		fr := make([]byte, n)
		if n >= 14 {
			copy(fr, macUs[:])
			copy(fr[6:], macPeer[:])
			fr[12], fr[13] = 0x08, 0x00
		}
		if n >= 34 {
			fr[14] = 0x45
		}
		out[fmt.Sprintf("raw-len-%d", n)] = append([]byte{2, frRaw, byte(n >> 8), byte(n)}, fr...)
	}
	// IPv4 datagrams: every protocol selector with and without MF/offset and
	// checksum fixing, at payload lengths around the transport header sizes.
	for sel := 0; sel < 64; sel += 1 {
		if sel&32 != 0 && sel&3 != 0 {
			continue
		}
		for _, n := range []int{0, 7, 8, 19, 20, 28} {
			data := make([]byte, n)
			if n >= 8 && sel&3 == 2 {
				data[0] = 8 // echo request
			}
			if n >= 20 && sel&3 == 0 {
				data[12] = 5 << 4
				data[13] = 0x02
			}
			out[fmt.Sprintf("ip-sel%02d-len%d", sel, n)] = append([]byte{3, frIP, byte(sel), 0, byte(n)}, data...)
		}
	}
	for op := 0; op < 4; op++ {
		out[fmt.Sprintf("arp-op%d", op)] = []byte{4, frARP, byte(op), 1, frAdvance, 0x0f, 0xff}
	}
	// Dial: SYN out through ARP resolution, then an ARP reply, then timeouts.
	out["dial-arp-timeouts"] = []byte{5, frCall, 1, 0, frARP, 1, 1, frAdvance, 0xff, 0xff, frAdvance, 0xff, 0xff}
	batchSeeds(out)
	return out
}

// batchSeeds adds programs that open a connection (Dial, the ARP reply,
// the peer's SYN,ACK through frData) and then deliver in-order data in a
// batch, so TCP coalesces it, with one segment in the middle varied: each
// frData selector bit, a FIN, a frame of another kind, a call.
func batchSeeds(out map[string][]byte) {
	open := []byte{6, frCall, 1, 0, frARP, 1, 1, frData, 0, 3, 0}
	data := func(sel byte) []byte { return []byte{frData, 0, sel, 100} }
	for _, mid := range []struct {
		name string
		ops  []byte
	}{
		{"inorder", data(0)}, {"psh", data(1)}, {"fin", data(2)}, {"synack", data(3)},
		{"hole", data(4)}, {"corrupt", data(8)}, {"corrupt-offload", data(8 | 16)},
		{"window", data(32)}, {"oldack", data(64)}, {"empty", []byte{frData, 0, 0, 0}},
		{"syn", []byte{frSyn, 0x10, 0, 0, 0, 1, 0, 0, 0, 1, 0}}, {"arp", []byte{frARP, 1, 1}},
		{"call-recv", []byte{frCall, 3, 0xf8}}, {"advance", []byte{frAdvance, 0, 10}},
	} {
		p := append([]byte{}, open...)
		p = append(p, frBatch, 6)
		p = append(p, data(0)...)
		p = append(p, data(1)...)
		p = append(p, mid.ops...)
		p = append(p, data(0)...)
		p = append(p, data(0)...)
		p = append(p, frCall, 3, 0xf8, frCall, 3, 0xf8, frAdvance, 0x0f, 0xff)
		out["batch-"+mid.name] = p
	}
}

func diffSeeds() map[string][]byte {
	out := map[string][]byte{}
	// TCP headers with option lists at the MUST-7 edges.
	tcpHdr := func(off byte, opts []byte) []byte {
		b := make([]byte, 20, 20+len(opts)+4)
		b[12] = off << 4
		b[13] = 0x12
		return append(b, opts...)
	}
	optCases := map[string][]byte{
		"none": nil, "eol": {0, 0, 0, 0}, "nops": {1, 1, 1, 1},
		"mss": {2, 4, 5, 0xb4}, "mss-len5": {2, 5, 5, 0xb4, 0, 1, 1, 1}, "len0": {30, 0, 1, 1}, "len1": {30, 1, 1, 1},
		"overrun": {30, 9, 1, 1}, "ws": {3, 3, 15, 1}, "sackok": {4, 2, 1, 1}, "ts": {8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1},
		"truncated-kind": {1, 1, 1, 30}, "dup-mss": {2, 4, 1, 0, 2, 4, 2, 0},
	}
	for name, o := range optCases {
		off := byte(5 + (len(o)+3)/4)
		out["tcp-opt-"+name] = append([]byte{diffTCP}, tcpHdr(off, o)...)
	}
	for _, off := range []byte{0, 4, 5, 6, 15} {
		out[fmt.Sprintf("tcp-off-%d", off)] = append([]byte{diffTCP}, tcpHdr(off, []byte{1, 1, 1, 1})...)
	}
	for _, n := range []int{0, 7, 8, 9, 19, 20, 27, 28} {
		out[fmt.Sprintf("udp-len-%d", n)] = append([]byte{diffUDP}, make([]byte, n)...)
		out[fmt.Sprintf("icmp-len-%d", n)] = append([]byte{diffICMP}, make([]byte, n)...)
		out[fmt.Sprintf("arp-len-%d", n)] = append([]byte{diffARP}, make([]byte, n)...)
	}
	for _, l := range []uint16{0, 1, 7, 8, 9, 0xffff} {
		u := make([]byte, 12)
		binary.BigEndian.PutUint16(u[4:], l)
		out[fmt.Sprintf("udp-field-%d", l)] = append([]byte{diffUDP}, u...)
	}
	arp := make([]byte, wire.ARPLen)
	wire.PutARP(arp, wire.ARPRequest, macPeer, addrPeer, wire.MAC{}, addrUs)
	out["arp-request"] = append([]byte{diffARP}, arp...)
	// IPv4 headers: version, IHL, total length and checksum boundaries.
	for _, c := range []struct {
		name     string
		ver, ihl byte
		total    uint16
		n        int
	}{
		{"ok", 4, 5, 28, 28}, {"ver6", 6, 5, 28, 28}, {"ihl4", 4, 4, 28, 28}, {"ihl6", 4, 6, 28, 28},
		{"ihl15", 4, 15, 60, 60}, {"total0", 4, 5, 0, 28}, {"total19", 4, 5, 19, 28}, {"total-long", 4, 5, 40, 28},
		{"padded", 4, 5, 28, 46}, {"short", 4, 5, 28, 19},
	} {
		b := make([]byte, max(c.n, 20))
		h := wire.IPv4Header{TotalLen: int(c.total), TTL: 64, Protocol: wire.ProtoUDP, Src: addrPeer, Dst: addrUs}
		h.Put(b)
		b[0] = c.ver<<4 | c.ihl
		if c.ihl == 6 {
			b[20], b[21], b[22], b[23] = 1, 1, 1, 0
		}
		b = b[:c.n]
		out["ip-"+c.name] = append([]byte{diffIPv4}, b...)
		fr := make([]byte, 14, 14+len(b))
		wire.PutEthernet(fr, macUs, macPeer, wire.EtherTypeIPv4)
		out["eth-ip-"+c.name] = append([]byte{diffEthernet}, append(fr, b...)...)
	}
	for _, et := range []uint16{0, 0x05dc, 0x0600, 0x0806, 0x8100} {
		fr := make([]byte, 14+28)
		binary.BigEndian.PutUint16(fr[12:], et)
		out[fmt.Sprintf("eth-type-%04x", et)] = append([]byte{diffEthernet}, fr...)
	}
	return out
}

// encodeSeed writes a corpus file in the go test fuzz v1 format.
func encodeSeed(args ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case byte:
			fmt.Fprintf(&b, "byte(%s)\n", strconv.QuoteRune(rune(v)))
		}
	}
	return b.Bytes()
}

// generated returns every target's seed files: name -> contents. File names
// are "gen-" plus the case name, so found crashers (hash names) stay apart.
func generated() map[string]map[string][]byte {
	out := map[string]map[string][]byte{"FuzzConnProgram": {}, "FuzzStackFrames": {}, "FuzzDiffGopacket": {}}
	for k, v := range connSeeds() {
		out["FuzzConnProgram"]["gen-"+k] = encodeSeed(v)
	}
	for k, v := range frameSeeds() {
		out["FuzzStackFrames"]["gen-"+k] = encodeSeed(v)
	}
	for k, v := range diffSeeds() {
		out["FuzzDiffGopacket"]["gen-"+k] = encodeSeed(v[0], v[1:])
	}
	return out
}

// TestSeedCorpus checks that the committed generated seeds are what the
// generator produces (run with -genseeds to rewrite them), so the corpus
// stays systematic: every state x field x boundary value.
func TestSeedCorpus(t *testing.T) {
	for target, files := range generated() {
		dir := filepath.Join("testdata", "fuzz", target)
		if *genSeeds {
			old, _ := filepath.Glob(filepath.Join(dir, "gen-*"))
			for _, f := range old {
				os.Remove(f)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		sum := sha256.New()
		for _, n := range names {
			path := filepath.Join(dir, n)
			if *genSeeds {
				if err := os.WriteFile(path, files[n], 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, files[n]) {
				t.Fatalf("%s is missing or stale: go test ./fuzz/stackfuzz -run TestSeedCorpus -genseeds", path)
			}
			sum.Write(got)
		}
		old, _ := filepath.Glob(filepath.Join(dir, "gen-*"))
		if len(old) != len(files) {
			t.Fatalf("%s: %d generated files on disk, generator makes %d: regenerate", dir, len(old), len(files))
		}
		t.Logf("%s: %d generated seeds", target, len(files))
	}
}
