// Package pcap writes captures in the pcapng format (its own small writer
// of the three blocks it needs: no packet library is linked into the
// binary), and wraps a
// driver.Link so that every frame it receives and sends is captured:
// `netspec serve --pcap FILE`. Each frame records its direction (inbound or
// outbound, in the Enhanced Packet Block's flags) and may carry a comment,
// which Wireshark and tshark show with the frame (frame.comment): the place
// for what the stack decided about it. The simulator (fuzz/sim) records
// failing runs with the same writer.
package pcap

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/wire"
)

// SnapLen is the longest frame kept whole; longer ones are cut (their
// original length is recorded). A GSO super-frame reaches 64 KiB plus
// headers, so it is kept whole.
const SnapLen = 65535 + 14 + 4

// Direction is which way a frame went, as the pcapng flags record it.
type Direction uint8

// Directions of a frame.
const (
	DirUnknown Direction = iota
	DirIn                // received by the stack
	DirOut               // sent by the stack
)

// pcapng block types and option codes (draft-ietf-opsawg-pcapng §4, §3.5).
const (
	blockSHB       = 0x0A0D0D0A
	blockIDB       = 0x00000001
	blockEPB       = 0x00000006
	byteOrderMagic = 0x1A2B3C4D
	optEnd         = 0
	optComment     = 1
	shbUserAppl    = 4
	ifName         = 2
	ifDescription  = 3
	ifTSResol      = 9
	epbFlags       = 2
	linkEthernet   = 1
)

// Writer writes Ethernet frames to a pcapng stream: a section header and
// one interface description ("netspec", Ethernet, nanosecond timestamps),
// then one Enhanced Packet Block per frame. Every frame is handed to the
// underlying writer before WriteFrame returns (buffer it yourself, as Link
// does). A Writer is not safe for concurrent use.
type Writer struct {
	w     io.Writer
	n     int     // frames written
	buf   []byte  // the block being built (reused)
	start int     // offset of the block being built in buf
	flags [4]byte // scratch for the epb_flags value
}

// NewWriter writes the section header and the interface description to w
// and returns the writer.
func NewWriter(w io.Writer) (*Writer, error) {
	p := &Writer{w: w}
	b := p.begin(blockSHB)
	b = binary.LittleEndian.AppendUint32(b, byteOrderMagic)
	b = binary.LittleEndian.AppendUint16(b, 1) // version 1.0
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0)) // section length unknown
	b = appendOpt(b, shbUserAppl, []byte("netspec"))
	b = binary.LittleEndian.AppendUint16(b, optEnd)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = p.end(b)
	b = p.beginAt(b, blockIDB)
	b = binary.LittleEndian.AppendUint16(b, linkEthernet)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, SnapLen)
	b = appendOpt(b, ifName, []byte("netspec"))
	b = appendOpt(b, ifDescription, []byte("frames a netspec stack received and sent"))
	b = appendOpt(b, ifTSResol, []byte{9}) // nanoseconds
	b = binary.LittleEndian.AppendUint16(b, optEnd)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = p.end(b)
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("pcap: write header: %w", err)
	}
	return p, nil
}

// begin starts a block of type typ in the reused buffer; end fills in its
// length, which a block carries at both ends.
func (p *Writer) begin(typ uint32) []byte { return p.beginAt(p.buf[:0], typ) }

func (p *Writer) beginAt(b []byte, typ uint32) []byte {
	p.start = len(b)
	b = binary.LittleEndian.AppendUint32(b, typ)
	return binary.LittleEndian.AppendUint32(b, 0) // length, set by end
}

func (p *Writer) end(b []byte) []byte {
	n := uint32(len(b) - p.start + 4)
	binary.LittleEndian.PutUint32(b[p.start+4:], n)
	b = binary.LittleEndian.AppendUint32(b, n)
	p.buf = b
	return b
}

// appendOpt appends one option (code, length, value padded to 32 bits).
func appendOpt(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return appendPad(b, len(v))
}

// appendPad pads n octets to a multiple of 4.
func appendPad(b []byte, n int) []byte {
	for ; n%4 != 0; n++ {
		b = append(b, 0)
	}
	return b
}

// WritePacket appends one frame captured at t, direction unknown, without
// a comment.
func (p *Writer) WritePacket(t time.Time, frame []byte) error {
	return p.WriteFrame(t, frame, DirUnknown, "")
}

// WriteFrame appends one frame captured at t with its direction and a
// comment ("" for none).
func (p *Writer) WriteFrame(t time.Time, frame []byte, dir Direction, comment string) error {
	incl := min(len(frame), SnapLen)
	ts := uint64(t.UnixNano())
	b := p.begin(blockEPB)
	b = binary.LittleEndian.AppendUint32(b, 0) // interface 0
	b = binary.LittleEndian.AppendUint32(b, uint32(ts>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts))
	b = binary.LittleEndian.AppendUint32(b, uint32(incl))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
	b = append(b, frame[:incl]...)
	b = appendPad(b, incl)
	if comment != "" {
		b = binary.LittleEndian.AppendUint16(b, optComment)
		b = binary.LittleEndian.AppendUint16(b, uint16(min(len(comment), 0xffff)))
		b = append(b, comment[:min(len(comment), 0xffff)]...)
		b = appendPad(b, min(len(comment), 0xffff))
	}
	if dir != DirUnknown {
		b = appendOpt(b, epbFlags, binary.LittleEndian.AppendUint32(p.flags[:0], uint32(dir))) // bits 0-1: 1 inbound, 2 outbound
	}
	b = binary.LittleEndian.AppendUint16(b, optEnd)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = p.end(b)
	if _, err := p.w.Write(b); err != nil {
		return fmt.Errorf("pcap: write frame: %w", err)
	}
	p.n++
	return nil
}

// Count returns how many frames were written.
func (p *Writer) Count() int { return p.n }

// Link is a driver.Link that captures every frame the wrapped link receives
// and sends. Capture errors do not disturb the traffic: the first one is kept
// (Err) and capturing stops.
type Link struct {
	driver.Link
	// Comment, if not nil, gives the comment of each captured frame
	// (called with the capture's lock held; "" for none). Set it before
	// the link is used.
	Comment func(dir Direction, frame []byte) string
	// InAfter, when set, leaves received frames out of ReadBatch: their
	// owner captures each with CaptureIn once the stack has processed it,
	// so the comment can say what the stack decided (the journey trace's
	// line; package netspec does this for Options.Pcap). Set it before the
	// link is used.
	InAfter bool

	mu      sync.Mutex
	buf     *bufio.Writer
	w       *Writer
	err     error
	scratch []byte // a sent frame with its checksum completed (withCsum)
}

// Unwrap returns the link whose traffic p captures (driver.Wrapper).
func (p *Link) Unwrap() driver.Link { return p.Link }

// Wrap captures l's traffic to out (buffered; Close flushes it).
func Wrap(l driver.Link, out io.Writer) (*Link, error) {
	buf := bufio.NewWriterSize(out, 1<<20)
	w, err := NewWriter(buf)
	if err != nil {
		return nil, err
	}
	return &Link{Link: l, buf: buf, w: w}, nil
}

func (c *Link) capture(t time.Time, frame []byte, dir Direction) {
	if c.err != nil {
		return
	}
	comment := ""
	if c.Comment != nil {
		comment = c.Comment(dir, frame)
	}
	c.err = c.w.WriteFrame(t, frame, dir, comment)
}

// ReadBatch reads from the wrapped link and captures what it delivered.
func (c *Link) ReadBatch(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	k, err := c.Link.ReadBatch(frames, n, meta, deadline)
	if k > 0 && !c.InAfter {
		c.mu.Lock()
		for i := 0; i < k; i++ {
			c.capture(meta[i].Time, frames[i][:n[i]], DirIn)
		}
		c.mu.Unlock()
	}
	return k, err
}

// CaptureIn captures a received frame with comment (InAfter): call it
// while the frame is valid, in the order the frames were received. The
// frames a batch's processing sent are written by WriteBatch after it, so
// the capture keeps the order of the wire.
func (c *Link) CaptureIn(t time.Time, frame []byte, comment string) {
	c.mu.Lock()
	if c.err == nil {
		c.err = c.w.WriteFrame(t, frame, DirIn, comment)
	}
	c.mu.Unlock()
}

// WriteBatch captures the frames (super-frames whole, as Linux captures TSO
// frames) and sends them through the wrapped link. A frame whose checksum
// the link completes (meta NeedsCsum) is captured with it completed
// (withCsum), so the capture holds valid frames.
func (c *Link) WriteBatch(frames [][]byte, meta []driver.TxMeta) error {
	now := time.Now()
	c.mu.Lock()
	for i, f := range frames {
		if i < len(meta) && meta[i].NeedsCsum {
			f = c.withCsum(f, &meta[i])
		}
		c.capture(now, f, DirOut)
	}
	c.mu.Unlock()
	return c.Link.WriteBatch(frames, meta)
}

// withCsum returns a copy of frame (in the link's scratch buffer) with the
// checksum the stack left to the link completed as virtio-net says: the
// complement of the sum from CsumStart to the end, at CsumStart+CsumOffset.
// A super-frame gets the checksum of its whole payload, that of the one
// large segment it is on the wire of a TSO-capable peer. A frame whose
// offsets do not fit is captured as it is.
func (c *Link) withCsum(frame []byte, m *driver.TxMeta) []byte {
	start, field := int(m.CsumStart), int(m.CsumStart)+int(m.CsumOffset)
	if field+2 > len(frame) {
		return frame
	}
	if cap(c.scratch) < len(frame) {
		c.scratch = make([]byte, len(frame))
	}
	f := c.scratch[:copy(c.scratch[:len(frame)], frame)]
	binary.BigEndian.PutUint16(f[field:], wire.Checksum(f[start:], 0))
	return f
}

// Frames returns how many frames were captured.
func (c *Link) Frames() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.Count()
}

// Err returns the first capture error, if any.
func (c *Link) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the wrapped link and flushes the capture.
func (c *Link) Close() error {
	err := c.Link.Close()
	if ferr := c.Flush(); err == nil {
		err = ferr
	}
	return err
}

// Flush writes the buffered capture out and returns the first capture error,
// if any. A reader that was blocked when the link closed may capture frames
// after Close: its owner flushes once more when the reader has left.
func (c *Link) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ferr := c.buf.Flush(); ferr != nil && c.err == nil {
		c.err = fmt.Errorf("pcap: flush: %w", ferr)
	}
	return c.err
}

// GSOMaxSize passes the wrapped link's super-frame limit through (0 when it
// takes none), so capturing does not turn GSO off.
func (c *Link) GSOMaxSize() int { return driver.GSOMaxSize(c.Link) }
