package pcap

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/wire"
)

// record is one frame read back from a capture.
type record struct {
	data     []byte
	length   int
	at       time.Time
	dir      pcapgo.NgEpbFlag
	comments []string
}

// readBack reads every frame of a pcapng capture with pcapgo's reader.
func readBack(t *testing.T, p []byte) []record {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(p), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("not pcapng: %v", err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v", r.LinkType())
	}
	var out []record
	for {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("record %d: %v", len(out), err)
		}
		rec := record{data: append([]byte(nil), data...), length: ci.Length, at: ci.Timestamp, comments: opts.Comments}
		if opts.Flags != nil {
			rec.dir = opts.Flags.Direction
		}
		out = append(out, rec)
	}
}

// TestLinkCapturesBothDirections: frames sent through a wrapped link and
// frames it receives land in the capture, in order, byte for byte, marked
// outbound and inbound, with the comment Link.Comment gives.
func TestLinkCapturesBothDirections(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	var out bytes.Buffer
	c, err := Wrap(a, &out)
	if err != nil {
		t.Fatal(err)
	}
	c.Comment = func(dir Direction, frame []byte) string {
		if dir == DirIn {
			return "received"
		}
		return ""
	}
	sent := [][]byte{bytes.Repeat([]byte{0xaa}, 60), bytes.Repeat([]byte{0xbb}, 1514)}
	if err := c.WriteBatch(sent, nil); err != nil {
		t.Fatal(err)
	}
	back := bytes.Repeat([]byte{0xcc}, 100)
	if err := b.WriteBatch([][]byte{back}, nil); err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{make([]byte, c.MaxFrame())}
	n, meta := make([]int, 1), make([]driver.RxMeta, 1)
	if k, err := c.ReadBatch(frames, n, meta, time.Now().Add(time.Second)); k != 1 || err != nil {
		t.Fatalf("ReadBatch = %d, %v", k, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.Frames() != 3 {
		t.Fatalf("%d frames captured, want 3", c.Frames())
	}
	recs := readBack(t, out.Bytes())
	want := []struct {
		data    []byte
		dir     pcapgo.NgEpbFlag
		comment string
	}{{sent[0], pcapgo.NgEpbFlagDirectionOutbound, ""}, {sent[1], pcapgo.NgEpbFlagDirectionOutbound, ""}, {back, pcapgo.NgEpbFlagDirectionInbound, "received"}}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		r := recs[i]
		if !bytes.Equal(r.data, w.data) || r.length != len(w.data) || r.dir != w.dir || (w.comment == "") != (len(r.comments) == 0) ||
			(w.comment != "" && r.comments[0] != w.comment) {
			t.Errorf("record %d: %d bytes (orig %d) dir %v comments %q; want %d bytes of % x, dir %v, comment %q",
				i, len(r.data), r.length, r.dir, r.comments, len(w.data), w.data[0], w.dir, w.comment)
		}
	}
}

// TestWriterCutsLongFrames: a frame over SnapLen is cut, with its original
// length and its nanosecond timestamp recorded.
func TestWriterCutsLongFrames(t *testing.T) {
	var out bytes.Buffer
	w, err := NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(5, 250001)
	if err := w.WritePacket(at, make([]byte, SnapLen+100)); err != nil {
		t.Fatal(err)
	}
	recs := readBack(t, out.Bytes())
	if len(recs) != 1 || len(recs[0].data) != SnapLen || recs[0].length != SnapLen+100 || !recs[0].at.Equal(at) {
		t.Fatalf("records %d: %d bytes of %d at %v", len(recs), len(recs[0].data), recs[0].length, recs[0].at)
	}
}

// TestLinkCapturesCompletedChecksums: a frame whose TCP checksum the stack
// left to the link (TxMeta.NeedsCsum: the field holds the pseudo-header sum)
// is captured with its checksum completed, while the link below gets it
// as it was.
func TestLinkCapturesCompletedChecksums(t *testing.T) {
	src, dst := wire.Addr{198, 18, 0, 2}, wire.Addr{198, 18, 0, 1}
	f := make([]byte, 14+20+20+100)
	wire.PutEthernet(f, wire.MAC{2, 0, 0, 0, 0, 1}, wire.MAC{2, 0, 0, 0, 0, 2}, wire.EtherTypeIPv4)
	ip := wire.IPv4Header{TotalLen: len(f) - 14, DontFragment: true, TTL: 64, Protocol: wire.ProtoTCP, Src: src, Dst: dst}
	ip.Put(f[14:])
	h := wire.TCPHeader{SrcPort: 80, DstPort: 40000, Seq: 1, Ack: 2, Flags: wire.FlagACK, Window: 100}
	h.Put(f[34:])
	for i := range f[54:] {
		f[54+i] = byte(i)
	}
	wire.SetTCPPartialChecksum(f[34:], src, dst)
	sent := bytes.Clone(f)
	a, b := pipe.New(pipe.Config{GSO: true})
	defer b.Close()
	var out bytes.Buffer
	c, err := Wrap(a, &out)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteBatch([][]byte{f}, []driver.TxMeta{{NeedsCsum: true, CsumStart: 34, CsumOffset: 16}}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f, sent) {
		t.Fatal("the capture changed the frame it was given")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readBack(t, out.Bytes())
	if len(recs) != 1 || len(recs[0].data) != len(f) || !wire.TCPChecksumValid(recs[0].data[34:], src, dst) {
		t.Fatalf("%d records; want one frame with a valid TCP checksum", len(recs))
	}
	if !bytes.Equal(recs[0].data[:50], f[:50]) || !bytes.Equal(recs[0].data[52:], f[52:]) {
		t.Fatal("the capture differs from the frame but for the checksum")
	}
}
