// Package pcap writes the classic libpcap capture format (microsecond
// timestamps, Ethernet link type), and wraps a driver.Link so that every frame
// it receives and sends is captured: `netspec serve --pcap FILE`. The writer
// is our own, a few dozen lines, so capturing needs no dependency; the
// simulator (fuzz/sim) uses it to record failing runs.
package pcap

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/netspec/netspec/driver"
)

// File format constants.
const (
	magic       = 0xa1b2c3d4
	versionMaj  = 2
	versionMin  = 4
	SnapLen     = 65535 // longest frame kept whole; longer ones are cut
	linkEther   = 1     // LINKTYPE_ETHERNET
	globalLen   = 24
	recordHdrLn = 16
)

// Writer writes Ethernet frames to a pcap stream: a 24-byte global header,
// then a 16-byte record header (seconds, microseconds, captured length,
// original length) before each frame. Frames longer than SnapLen are cut. A
// Writer is not safe for concurrent use (Link serialises its calls).
type Writer struct {
	w   io.Writer
	hdr [recordHdrLn]byte
	n   int // records written
}

// NewWriter writes the global header to w and returns the writer.
func NewWriter(w io.Writer) (*Writer, error) {
	var g [globalLen]byte
	binary.LittleEndian.PutUint32(g[0:], magic)
	binary.LittleEndian.PutUint16(g[4:], versionMaj)
	binary.LittleEndian.PutUint16(g[6:], versionMin)
	// thiszone (8:12) and sigfigs (12:16) are zero.
	binary.LittleEndian.PutUint32(g[16:], SnapLen)
	binary.LittleEndian.PutUint32(g[20:], linkEther)
	if _, err := w.Write(g[:]); err != nil {
		return nil, fmt.Errorf("pcap: write header: %w", err)
	}
	return &Writer{w: w}, nil
}

// WritePacket appends one frame captured at t.
func (p *Writer) WritePacket(t time.Time, frame []byte) error {
	incl := min(len(frame), SnapLen)
	us := t.UnixMicro()
	binary.LittleEndian.PutUint32(p.hdr[0:], uint32(us/1e6))
	binary.LittleEndian.PutUint32(p.hdr[4:], uint32(us%1e6))
	binary.LittleEndian.PutUint32(p.hdr[8:], uint32(incl))
	binary.LittleEndian.PutUint32(p.hdr[12:], uint32(len(frame)))
	if _, err := p.w.Write(p.hdr[:]); err != nil {
		return fmt.Errorf("pcap: write record: %w", err)
	}
	if _, err := p.w.Write(frame[:incl]); err != nil {
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
	mu  sync.Mutex
	buf *bufio.Writer
	w   *Writer
	err error
}

// Wrap captures l's traffic to out (buffered; Close flushes it).
func Wrap(l driver.Link, out io.Writer) (*Link, error) {
	buf := bufio.NewWriterSize(out, 1<<20)
	w, err := NewWriter(buf)
	if err != nil {
		return nil, err
	}
	return &Link{Link: l, buf: buf, w: w}, nil
}

func (c *Link) capture(t time.Time, frame []byte) {
	if c.err != nil {
		return
	}
	c.err = c.w.WritePacket(t, frame)
}

// ReadBatch reads from the wrapped link and captures what it delivered.
func (c *Link) ReadBatch(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	k, err := c.Link.ReadBatch(frames, n, meta, deadline)
	if k > 0 {
		c.mu.Lock()
		for i := 0; i < k; i++ {
			c.capture(meta[i].Time, frames[i][:n[i]])
		}
		c.mu.Unlock()
	}
	return k, err
}

// WriteBatch captures the frames (super-frames whole, as Linux captures TSO
// frames) and sends them through the wrapped link.
func (c *Link) WriteBatch(frames [][]byte, meta []driver.TxMeta) error {
	now := time.Now()
	c.mu.Lock()
	for _, f := range frames {
		c.capture(now, f)
	}
	c.mu.Unlock()
	return c.Link.WriteBatch(frames, meta)
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
