package wire

import "errors"

// Sentinel errors returned by the Parse functions and validators. Callers branch
// on them with errors.Is to pick a drop reason.
var (
	// ErrTruncated means the buffer is shorter than the format's fixed header.
	ErrTruncated = errors.New("wire: truncated")
	// ErrBadHeaderLen means a header length field (TCP data offset) is below
	// the minimum or points past the end of the buffer.
	ErrBadHeaderLen = errors.New("wire: bad header length")
	// ErrUnsupported means a field names a variant this package does not speak
	// (an ARP hardware or protocol type other than Ethernet/IPv4).
	ErrUnsupported = errors.New("wire: unsupported format")
	// ErrBadOption means a TCP option list is malformed: an option length of
	// 0 or 1, or one that runs past the end of the options (RFC 9293 MUST-7).
	ErrBadOption = errors.New("wire: malformed option")
	// ErrBadFlags means a TCP segment carries a flag combination that no valid
	// segment has (SYN with RST, SYN with FIN).
	ErrBadFlags = errors.New("wire: impossible flag combination")
	// ErrBadVersion means an IPv4 header's version field is not 4.
	ErrBadVersion = errors.New("wire: bad IP version")
	// ErrBadTotalLen means an IPv4 total length is below the header length or
	// beyond the buffer.
	ErrBadTotalLen = errors.New("wire: bad total length")
	// ErrBadChecksum means a header or segment checksum did not verify.
	ErrBadChecksum = errors.New("wire: bad checksum")
)
