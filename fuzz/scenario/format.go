package scenario

import (
	"fmt"
	"strings"

	"github.com/netspec/netspec/fsm/wire"
)

// flagString writes flags in packetdrill's letters: S F R P U E W and "."
// for ACK, e.g. "S." for SYN,ACK.
func flagString(f wire.TCPFlags) string {
	var b strings.Builder
	for _, x := range [...]struct {
		f wire.TCPFlags
		c byte
	}{{wire.FlagSYN, 'S'}, {wire.FlagFIN, 'F'}, {wire.FlagRST, 'R'}, {wire.FlagPSH, 'P'}, {wire.FlagURG, 'U'}, {wire.FlagECE, 'E'}, {wire.FlagCWR, 'W'}, {wire.FlagACK, '.'}} {
		if f&x.f != 0 {
			b.WriteByte(x.c)
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// optString writes options in packetdrill's form, without the angle brackets.
func optString(o *wire.TCPOptions) string {
	var p []string
	if o.HasMSS {
		p = append(p, fmt.Sprintf("mss %d", o.MSS))
	}
	if o.SACKPermitted {
		p = append(p, "sackOK")
	}
	if o.HasTimestamps {
		p = append(p, fmt.Sprintf("TS val %d ecr %d", o.TSVal, o.TSEcr))
	}
	if o.HasWScale {
		p = append(p, fmt.Sprintf("wscale %d", o.WScale))
	}
	for i := 0; i < o.NumSACK; i++ {
		p = append(p, fmt.Sprintf("sack %d:%d", o.SACK[i].Start, o.SACK[i].End))
	}
	return strings.Join(p, ",")
}

func hasAnyOpt(o *wire.TCPOptions) bool {
	return o.HasMSS || o.SACKPermitted || o.HasTimestamps || o.HasWScale || o.NumSACK > 0
}

// String writes the segment as a script line would (without the direction).
func (s Segment) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d:%d(%d)", flagString(s.Flags), s.Seq, s.End, s.Len)
	if s.HasAck || s.Flags&wire.FlagACK != 0 {
		fmt.Fprintf(&b, " ack %d", s.Ack)
	}
	if s.HasWin {
		fmt.Fprintf(&b, " win %d", s.Win)
	}
	if s.HasUrg {
		fmt.Fprintf(&b, " urg %d", s.Urg)
	}
	switch {
	case s.AnyOpts:
		b.WriteString(" <...>")
	case s.HasOpts && hasAnyOpt(&s.Opts):
		fmt.Fprintf(&b, " <%s>", optString(&s.Opts))
	}
	return b.String()
}

// optsEqual compares the options netspec decodes; NOP padding and TSval
// are not compared.
func optsEqual(a, b *wire.TCPOptions) bool {
	if a.HasMSS != b.HasMSS || (a.HasMSS && a.MSS != b.MSS) {
		return false
	}
	if a.HasWScale != b.HasWScale || (a.HasWScale && a.WScale != b.WScale) {
		return false
	}
	if a.SACKPermitted != b.SACKPermitted || a.HasTimestamps != b.HasTimestamps {
		return false
	}
	// Our TSval is a clock the script cannot know: as packetdrill with
	// tcp_ts_tick_usecs=0, only its presence and TSecr are compared.
	if a.HasTimestamps && a.TSEcr != b.TSEcr {
		return false
	}
	return a.NumSACK == b.NumSACK && a.SACK == b.SACK
}

// diffSegments lists the fields in which got differs from the expectation
// want, in packetdrill's matching rules: flags, sequence range and length
// always; the ACK number when want has ACK; window and urgent pointer when the
// script gives them; options exactly unless the script wrote <...>.
func diffSegments(want, got Segment) []string {
	var d []string
	if want.Flags != got.Flags {
		d = append(d, fmt.Sprintf("flags %s != %s", flagString(got.Flags), flagString(want.Flags)))
	}
	if want.Seq != got.Seq {
		d = append(d, fmt.Sprintf("seq %d != %d", got.Seq, want.Seq))
	}
	if want.Len != got.Len {
		d = append(d, fmt.Sprintf("len %d != %d", got.Len, want.Len))
	}
	if (want.Flags&wire.FlagACK != 0 || want.HasAck) && want.Ack != got.Ack {
		d = append(d, fmt.Sprintf("ack %d != %d", got.Ack, want.Ack))
	}
	if want.HasWin && want.Win != got.Win {
		d = append(d, fmt.Sprintf("win %d != %d", got.Win, want.Win))
	}
	if want.HasUrg && want.Urg != got.Urg {
		d = append(d, fmt.Sprintf("urg %d != %d", got.Urg, want.Urg))
	}
	if !want.AnyOpts {
		var none wire.TCPOptions
		w := &none
		if want.HasOpts {
			w = &want.Opts
		}
		if !optsEqual(w, &got.Opts) {
			d = append(d, fmt.Sprintf("options <%s> != <%s>", optString(&got.Opts), optString(w)))
		}
	}
	return d
}

// Failure is a script that did not run as written: the line, what the script
// expected and what the stack did.
type Failure struct {
	Script string
	Line   int
	Text   string // the script line
	Msg    string
	Want   string // expected segment or result, when there is one
	Got    string
	Diff   []string // differing fields
}

// Error formats the failure with the script line and, for segments, the
// expected and actual segment one above the other and the fields that differ.
func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: %s\n\tscript: %s", f.Script, f.Line, f.Msg, f.Text)
	if f.Want != "" || f.Got != "" {
		fmt.Fprintf(&b, "\n\twant:   %s\n\tgot:    %s", f.Want, f.Got)
	}
	if len(f.Diff) > 0 {
		fmt.Fprintf(&b, "\n\tdiffer: %s", strings.Join(f.Diff, "; "))
	}
	return b.String()
}
