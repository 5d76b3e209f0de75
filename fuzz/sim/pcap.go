package sim

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// pcap file format constants (the classic libpcap format, microsecond
// timestamps, Ethernet link type).
const (
	pcapMagic       = 0xa1b2c3d4
	pcapVersionMaj  = 2
	pcapVersionMin  = 4
	pcapSnapLen     = 65535
	pcapLinkEther   = 1 // LINKTYPE_ETHERNET
	pcapGlobalLen   = 24
	pcapRecordHdrLn = 16
)

// PcapWriter writes Ethernet frames to a pcap file: a 24-byte global header,
// then a 16-byte record header (seconds, microseconds, captured length,
// original length) before each frame. Frames longer than the snap length are
// truncated. It is a tiny writer of our own, so the simulator needs no
// dependency to record a run.
type PcapWriter struct {
	w   io.Writer
	hdr [pcapRecordHdrLn]byte
	n   int // records written
}

// NewPcapWriter writes the global header to w and returns the writer.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) {
	var g [pcapGlobalLen]byte
	binary.LittleEndian.PutUint32(g[0:], pcapMagic)
	binary.LittleEndian.PutUint16(g[4:], pcapVersionMaj)
	binary.LittleEndian.PutUint16(g[6:], pcapVersionMin)
	// thiszone (8:12) and sigfigs (12:16) are zero.
	binary.LittleEndian.PutUint32(g[16:], pcapSnapLen)
	binary.LittleEndian.PutUint32(g[20:], pcapLinkEther)
	if _, err := w.Write(g[:]); err != nil {
		return nil, fmt.Errorf("pcap: write header: %w", err)
	}
	return &PcapWriter{w: w}, nil
}

// WritePacket appends one frame captured at t.
func (p *PcapWriter) WritePacket(t time.Time, frame []byte) error {
	incl := min(len(frame), pcapSnapLen)
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
func (p *PcapWriter) Count() int { return p.n }
