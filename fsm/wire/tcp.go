package wire

import (
	"encoding/binary"
	"fmt"
)

// TCPMinHeaderLen is the length of a TCP header without options (RFC 9293 §3.1).
const TCPMinHeaderLen = 20

// TCPMaxHeaderLen is the largest TCP header: data offset 15 words (RFC 9293 §3.1).
const TCPMaxHeaderLen = 60

// TCPMaxOptionsLen is the option space of a TCP header (60 - 20).
const TCPMaxOptionsLen = TCPMaxHeaderLen - TCPMinHeaderLen

// TCP header field offsets (RFC 9293 §3.1, Figure 1).
const (
	tcpSrcPort = 0
	tcpDstPort = 2
	tcpSeq     = 4
	tcpAck     = 8
	tcpDataOff = 12 // high nibble: data offset in 32-bit words
	tcpFlags   = 13
	tcpWindow  = 14
	tcpCsum    = 16
	tcpUrgent  = 18
	tcpOptions = 20
)

// TCPFlags holds the eight TCP control bits of header byte 13 (RFC 9293 §3.1,
// RFC 3168 §6.1 for ECE and CWR).
type TCPFlags uint8

// TCP control bits.
const (
	FlagFIN TCPFlags = 1 << iota // no more data from sender
	FlagSYN                      // synchronize sequence numbers
	FlagRST                      // reset the connection
	FlagPSH                      // push function
	FlagACK                      // acknowledgment field is significant
	FlagURG                      // urgent pointer field is significant
	FlagECE                      // ECN-Echo (RFC 3168)
	FlagCWR                      // congestion window reduced (RFC 3168)
)

var tcpFlagNames = [8]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// Has reports whether all bits of g are set in f.
func (f TCPFlags) Has(g TCPFlags) bool { return f&g == g }

// String lists the set flags joined by "|" (e.g. "SYN|ACK"), or "none".
func (f TCPFlags) String() string {
	if f == 0 {
		return "none"
	}
	var buf [8 * 4]byte
	b := buf[:0]
	for i, name := range tcpFlagNames {
		if f&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, '|')
			}
			b = append(b, name...)
		}
	}
	return string(b)
}

// Parse errors, built once so that rejecting hostile input does not allocate.
var (
	errTCPTruncated = fmt.Errorf("parse tcp: %w", ErrTruncated)
	errTCPDataOff   = fmt.Errorf("parse tcp: data offset: %w", ErrBadHeaderLen)
	errTCPSynRst    = fmt.Errorf("validate tcp: SYN with RST: %w", ErrBadFlags)
	errTCPSynFin    = fmt.Errorf("validate tcp: SYN with FIN: %w", ErrBadFlags)
)

// TCP is a view over a TCP segment (header, options and payload). Obtain one
// with ParseTCP; its accessors then cannot panic.
type TCP []byte

// ParseTCP checks that b holds a 20-byte TCP header and that the data offset
// satisfies 20 <= offset <= len(b) (RFC 9293 §3.1 "Data Offset"), and returns
// a view over b.
func ParseTCP(b []byte) (TCP, error) {
	if len(b) < TCPMinHeaderLen {
		return nil, errTCPTruncated
	}
	off := int(b[tcpDataOff]>>4) * 4
	if off < TCPMinHeaderLen || off > len(b) {
		return nil, errTCPDataOff
	}
	return TCP(b), nil
}

// SrcPort returns the source port.
func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[tcpSrcPort:]) }

// DstPort returns the destination port.
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[tcpDstPort:]) }

// Seq returns the sequence number (SEG.SEQ).
func (t TCP) Seq() uint32 { return binary.BigEndian.Uint32(t[tcpSeq:]) }

// Ack returns the acknowledgment number (SEG.ACK).
func (t TCP) Ack() uint32 { return binary.BigEndian.Uint32(t[tcpAck:]) }

// DataOffset returns the header length in bytes, options included.
func (t TCP) DataOffset() int { return int(t[tcpDataOff]>>4) * 4 }

// Flags returns the control bits.
func (t TCP) Flags() TCPFlags { return TCPFlags(t[tcpFlags]) }

// Window returns the unscaled window field (SEG.WND before RFC 7323 scaling).
func (t TCP) Window() uint16 { return binary.BigEndian.Uint16(t[tcpWindow:]) }

// Checksum returns the stored checksum.
func (t TCP) Checksum() uint16 { return binary.BigEndian.Uint16(t[tcpCsum:]) }

// Urgent returns the urgent pointer (SEG.UP).
func (t TCP) Urgent() uint16 { return binary.BigEndian.Uint16(t[tcpUrgent:]) }

// Options returns the option bytes between the fixed header and the data offset.
func (t TCP) Options() []byte { return t[tcpOptions:t.DataOffset()] }

// Payload returns the data after the header (SEG.LEN excludes SYN and FIN).
func (t TCP) Payload() []byte { return t[t.DataOffset():] }

// SegLen returns SEG.LEN: payload length plus one for SYN and one for FIN
// (RFC 9293 §3.4).
func (t TCP) SegLen() int {
	n := len(t) - t.DataOffset()
	f := t.Flags()
	if f&FlagSYN != 0 {
		n++
	}
	if f&FlagFIN != 0 {
		n++
	}
	return n
}

// Validate rejects segments whose control bits no correct sender produces:
// SYN with RST, and SYN with FIN. RFC 9293 does not define a response to
// them and deployed stacks (Linux, gVisor) drop them, as netspec does.
func (t TCP) Validate() error {
	f := t.Flags()
	switch {
	case f&(FlagSYN|FlagRST) == FlagSYN|FlagRST:
		return errTCPSynRst
	case f&(FlagSYN|FlagFIN) == FlagSYN|FlagFIN:
		return errTCPSynFin
	}
	return nil
}

// TCPChecksumValid reports whether seg (header and payload, exactly the
// segment) carries a valid checksum for the IPv4 pseudo-header of src and dst
// (RFC 9293 §3.1 "Checksum", MUST-2/MUST-3).
func TCPChecksumValid(seg []byte, src, dst Addr) bool {
	if len(seg) < TCPMinHeaderLen {
		return false
	}
	return Checksum(seg, PseudoHeaderSum(src, dst, ProtoTCP, len(seg))) == 0
}

// SetTCPChecksum computes the checksum of seg (header and payload) with the
// IPv4 pseudo-header and stores it (RFC 9293 §3.1). seg must be at least
// TCPMinHeaderLen long.
func SetTCPChecksum(seg []byte, src, dst Addr) {
	binary.BigEndian.PutUint16(seg[tcpCsum:], 0)
	binary.BigEndian.PutUint16(seg[tcpCsum:], Checksum(seg, PseudoHeaderSum(src, dst, ProtoTCP, len(seg))))
}

// TCPHeader is the builder for a TCP header with options.
type TCPHeader struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            TCPFlags
	Window           uint16
	Urgent           uint16
	Opts             TCPOptions
}

// Len returns the header length Put will write: 20 plus the options, each
// padded with NOPs to a 4-byte boundary. SACK blocks that do not fit in the
// 40-byte option space are left out.
func (h *TCPHeader) Len() int { return TCPMinHeaderLen + h.Opts.encodedLen() }

// Put writes the header and options into b and returns its length (h.Len()).
// The checksum field is zero; fill it with SetTCPChecksum once the payload
// follows the header. b must be at least h.Len() long.
func (h *TCPHeader) Put(b []byte) int {
	n := h.Len()
	_ = b[n-1]
	binary.BigEndian.PutUint16(b[tcpSrcPort:], h.SrcPort)
	binary.BigEndian.PutUint16(b[tcpDstPort:], h.DstPort)
	binary.BigEndian.PutUint32(b[tcpSeq:], h.Seq)
	binary.BigEndian.PutUint32(b[tcpAck:], h.Ack)
	b[tcpDataOff] = byte(n/4) << 4
	b[tcpFlags] = byte(h.Flags)
	binary.BigEndian.PutUint16(b[tcpWindow:], h.Window)
	binary.BigEndian.PutUint16(b[tcpCsum:], 0)
	binary.BigEndian.PutUint16(b[tcpUrgent:], h.Urgent)
	h.Opts.put(b[tcpOptions:n])
	return n
}

// Header decodes t into a TCPHeader, parsing its options; the error is that
// of ParseTCPOptions.
func (t TCP) Header() (TCPHeader, error) {
	h := TCPHeader{
		SrcPort: t.SrcPort(),
		DstPort: t.DstPort(),
		Seq:     t.Seq(),
		Ack:     t.Ack(),
		Flags:   t.Flags(),
		Window:  t.Window(),
		Urgent:  t.Urgent(),
	}
	err := ParseTCPOptions(t.Options(), &h.Opts)
	return h, err
}

// SetTCPPartialChecksum stores in seg's checksum field the folded, not
// complemented, pseudo-header sum for a segment of len(seg) bytes. This is what
// a NIC or kernel finishing the checksum expects (virtio-net
// VIRTIO_NET_HDR_F_NEEDS_CSUM, Linux CHECKSUM_PARTIAL): it sums the segment
// from the TCP header on, including this field, and stores the complement.
func SetTCPPartialChecksum(seg []byte, src, dst Addr) {
	binary.BigEndian.PutUint16(seg[tcpCsum:], Fold(PseudoHeaderSum(src, dst, ProtoTCP, len(seg))))
}
