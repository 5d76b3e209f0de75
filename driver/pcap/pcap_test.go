package pcap

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/pipe"
)

// TestLinkCapturesBothDirections: frames sent through a wrapped link and
// frames it receives land in the capture, in order, byte for byte, behind a
// valid libpcap global header.
func TestLinkCapturesBothDirections(t *testing.T) {
	a, b := pipe.New(pipe.Config{})
	var out bytes.Buffer
	c, err := Wrap(a, &out)
	if err != nil {
		t.Fatal(err)
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
	p := out.Bytes()
	if len(p) < globalLen || binary.LittleEndian.Uint32(p) != magic || binary.LittleEndian.Uint32(p[20:]) != linkEther {
		t.Fatalf("bad global header % x", p[:min(len(p), globalLen)])
	}
	p = p[globalLen:]
	for i, want := range [][]byte{sent[0], sent[1], back} {
		if len(p) < recordHdrLn {
			t.Fatalf("record %d missing", i)
		}
		incl, orig := binary.LittleEndian.Uint32(p[8:]), binary.LittleEndian.Uint32(p[12:])
		if int(incl) != len(want) || int(orig) != len(want) || !bytes.Equal(p[recordHdrLn:recordHdrLn+incl], want) {
			t.Fatalf("record %d: incl %d orig %d, want %d bytes of % x", i, incl, orig, len(want), want[0])
		}
		p = p[recordHdrLn+incl:]
	}
	if len(p) != 0 {
		t.Fatalf("%d trailing bytes", len(p))
	}
}

// TestWriterCutsLongFrames: a frame over SnapLen is cut, with its original
// length recorded.
func TestWriterCutsLongFrames(t *testing.T) {
	var out bytes.Buffer
	w, err := NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(time.Unix(5, 250000), make([]byte, SnapLen+100)); err != nil {
		t.Fatal(err)
	}
	r := out.Bytes()[globalLen:]
	if s, us := binary.LittleEndian.Uint32(r), binary.LittleEndian.Uint32(r[4:]); s != 5 || us != 250 {
		t.Fatalf("timestamp %d.%06d", s, us)
	}
	if incl, orig := binary.LittleEndian.Uint32(r[8:]), binary.LittleEndian.Uint32(r[12:]); incl != SnapLen || orig != SnapLen+100 {
		t.Fatalf("incl %d orig %d", incl, orig)
	}
	if len(r) != recordHdrLn+SnapLen {
		t.Fatalf("record is %d bytes", len(r))
	}
}
