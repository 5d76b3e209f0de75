package wire

import (
	"encoding/binary"
	"fmt"
)

// TCP option kinds (RFC 9293 §3.1 "Options", RFC 7323, RFC 2018).
const (
	TCPOptEOL           uint8 = 0 // end of option list
	TCPOptNOP           uint8 = 1 // no-operation
	TCPOptMSS           uint8 = 2 // maximum segment size, length 4
	TCPOptWScale        uint8 = 3 // window scale, length 3 (RFC 7323 §2.2)
	TCPOptSACKPermitted uint8 = 4 // SACK permitted, length 2 (RFC 2018 §2)
	TCPOptSACK          uint8 = 5 // SACK blocks, length 2+8n (RFC 2018 §3)
	TCPOptTimestamps    uint8 = 8 // timestamps, length 10 (RFC 7323 §3.2)
)

// Option lengths of the kinds netspec understands.
const (
	tcpOptMSSLen       = 4
	tcpOptWScaleLen    = 3
	tcpOptSACKPermLen  = 2
	tcpOptTimestampLen = 10
	tcpSACKBlockLen    = 8
)

// MaxWScale is the largest window shift RFC 7323 §2.3 allows; larger received
// values are used as 14.
const MaxWScale = 14

// MaxSACKBlocks is the number of SACK blocks TCPOptions holds; four fill the
// 40-byte option space without timestamps (RFC 2018 §3).
const MaxSACKBlocks = 4

// SACKBlock is one SACK block: the received range [Start, End) of sequence
// space (RFC 2018 §3).
type SACKBlock struct{ Start, End uint32 }

// TCPOptions is the decoded form of the TCP options netspec uses. The Has*
// fields say whether an option was present; values of absent options are zero.
type TCPOptions struct {
	MSS           uint16 // RFC 9293 §3.7.1
	HasMSS        bool
	WScale        uint8 // shift count, clamped to MaxWScale on parse (RFC 7323 §2.3)
	HasWScale     bool
	SACKPermitted bool // RFC 2018 §2
	HasTimestamps bool // RFC 7323 §3.2
	TSVal, TSEcr  uint32
	SACK          [MaxSACKBlocks]SACKBlock // RFC 2018 §3; first NumSACK are valid
	NumSACK       int
}

// Option parse errors, built once so that rejecting hostile input does not allocate.
var (
	errOptTruncated = fmt.Errorf("parse tcp options: length byte missing: %w", ErrBadOption)
	errOptShortLen  = fmt.Errorf("parse tcp options: length below 2: %w", ErrBadOption)
	errOptOverrun   = fmt.Errorf("parse tcp options: option overruns header: %w", ErrBadOption)
)

// ParseTCPOptions decodes opts (the bytes between the fixed TCP header and the
// data offset) into o, which it resets first. It follows RFC 9293 §3.1 and
// §3.7.1: EOL ends the list (MUST-4 for kinds 0 and 1), NOP is skipped, and an
// option of any other kind, known or not, is skipped by its length byte
// (MUST-6). A length of 0 or 1, a missing length byte, or a length that runs
// past the end is illegal (MUST-7): ParseTCPOptions returns ErrBadOption, and
// the caller drops the segment. Each step advances by at least one byte, so the
// loop ends. A known option with the wrong length (MSS of length 5, say) is
// skipped as if unknown, as Linux does. Options seen earlier stay in o on error.
func ParseTCPOptions(opts []byte, o *TCPOptions) error {
	*o = TCPOptions{}
	for i := 0; i < len(opts); {
		kind := opts[i]
		switch kind {
		case TCPOptEOL:
			return nil
		case TCPOptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return errOptTruncated
		}
		n := int(opts[i+1])
		if n < 2 {
			return errOptShortLen
		}
		if i+n > len(opts) {
			return errOptOverrun
		}
		body := opts[i+2 : i+n]
		switch kind {
		case TCPOptMSS:
			if n == tcpOptMSSLen {
				o.MSS = binary.BigEndian.Uint16(body)
				o.HasMSS = true
			}
		case TCPOptWScale:
			if n == tcpOptWScaleLen {
				o.WScale = min(body[0], MaxWScale)
				o.HasWScale = true
			}
		case TCPOptSACKPermitted:
			if n == tcpOptSACKPermLen {
				o.SACKPermitted = true
			}
		case TCPOptTimestamps:
			if n == tcpOptTimestampLen {
				o.TSVal = binary.BigEndian.Uint32(body[0:4])
				o.TSEcr = binary.BigEndian.Uint32(body[4:8])
				o.HasTimestamps = true
			}
		case TCPOptSACK:
			if len(body) > 0 && len(body)%tcpSACKBlockLen == 0 {
				o.NumSACK = 0
				for j := 0; j+tcpSACKBlockLen <= len(body) && o.NumSACK < MaxSACKBlocks; j += tcpSACKBlockLen {
					o.SACK[o.NumSACK] = SACKBlock{
						Start: binary.BigEndian.Uint32(body[j:]),
						End:   binary.BigEndian.Uint32(body[j+4:]),
					}
					o.NumSACK++
				}
			}
		}
		i += n
	}
	return nil
}

// tsChunkLen is the length of the SACK-permitted/timestamps word group.
func (o *TCPOptions) tsChunkLen() int {
	switch {
	case o.HasTimestamps:
		return 12 // [SACKPerm | NOP NOP] TS
	case o.SACKPermitted:
		return 4 // NOP NOP SACKPerm
	}
	return 0
}

// layout returns the length of the fixed (non-SACK) options and the number of
// SACK blocks that fit after them in the 40-byte option space.
func (o *TCPOptions) layout() (fixed, nsack int) {
	if o.HasMSS {
		fixed += 4
	}
	fixed += o.tsChunkLen()
	if o.HasWScale {
		fixed += 4 // NOP WS
	}
	nsack = min(max(o.NumSACK, 0), MaxSACKBlocks)
	if room := (TCPMaxOptionsLen - fixed - 4) / tcpSACKBlockLen; nsack > room {
		nsack = max(room, 0)
	}
	return fixed, nsack
}

// encodedLen is the padded length put writes.
func (o *TCPOptions) encodedLen() int {
	fixed, nsack := o.layout()
	if nsack > 0 {
		fixed += 4 + nsack*tcpSACKBlockLen
	}
	return fixed
}

// put encodes the options into b (exactly encodedLen bytes) in the order Linux
// uses, every option aligned with NOPs to 32 bits (RFC 9293 §3.1 "the header
// must be padded ... with zeros"; NOP alignment keeps each field aligned):
// MSS; SACK-permitted + timestamps; NOP + window scale; NOP NOP + SACK.
func (o *TCPOptions) put(b []byte) {
	_, nsack := o.layout()
	i := 0
	if o.HasMSS {
		b[i], b[i+1] = TCPOptMSS, tcpOptMSSLen
		binary.BigEndian.PutUint16(b[i+2:], o.MSS)
		i += 4
	}
	switch {
	case o.HasTimestamps:
		if o.SACKPermitted {
			b[i], b[i+1] = TCPOptSACKPermitted, tcpOptSACKPermLen
		} else {
			b[i], b[i+1] = TCPOptNOP, TCPOptNOP
		}
		b[i+2], b[i+3] = TCPOptTimestamps, tcpOptTimestampLen
		binary.BigEndian.PutUint32(b[i+4:], o.TSVal)
		binary.BigEndian.PutUint32(b[i+8:], o.TSEcr)
		i += 12
	case o.SACKPermitted:
		b[i], b[i+1], b[i+2], b[i+3] = TCPOptNOP, TCPOptNOP, TCPOptSACKPermitted, tcpOptSACKPermLen
		i += 4
	}
	if o.HasWScale {
		b[i], b[i+1], b[i+2], b[i+3] = TCPOptNOP, TCPOptWScale, tcpOptWScaleLen, o.WScale
		i += 4
	}
	if nsack > 0 {
		b[i], b[i+1], b[i+2], b[i+3] = TCPOptNOP, TCPOptNOP, TCPOptSACK, byte(2+nsack*tcpSACKBlockLen)
		i += 4
		for j := 0; j < nsack; j++ {
			binary.BigEndian.PutUint32(b[i:], o.SACK[j].Start)
			binary.BigEndian.PutUint32(b[i+4:], o.SACK[j].End)
			i += 8
		}
	}
}
