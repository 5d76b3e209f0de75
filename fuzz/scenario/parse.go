package scenario

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("scenario: syntax error")

// Kind says what an event does.
type Kind uint8

// Event kinds.
const (
	KindInbound  Kind = iota + 1 // "<": a segment the peer sends us
	KindOutbound                 // ">": a segment we must send
	KindCall                     // a socket call with its expected result
	KindAssert                   // "%{ assert ... }%": a check of stack state
)

// TimeMode says how an event's time is given.
type TimeMode uint8

// Time modes (packetdrill syntax.md "Timing").
const (
	TimeAbsolute TimeMode = iota // "0.100": seconds since the script started
	TimeRelative                 // "+0.1": seconds after the previous event
	TimeAny                      // "*": whenever it happens (outbound only)
)

// Segment is a TCP segment as a script writes it, with sequence numbers
// relative to the sender's ISN as packetdrill does.
type Segment struct {
	Flags    wire.TCPFlags
	Seq      uint32 // first sequence number (relative)
	End      uint32 // Seq + Len (relative); SYN and FIN are not counted, as packetdrill writes it
	Len      int    // payload octets
	Ack      uint32 // relative acknowledgment number (meaningful with FlagACK)
	HasAck   bool   // "ack N" was given
	Win      uint16
	HasWin   bool // "win N" was given
	Urg      uint16
	HasUrg   bool
	Opts     wire.TCPOptions
	HasOpts  bool // an option list was given
	AnyOpts  bool // "<...>": any options match
	NOPs     int  // "nop" entries written (informational; the builder pads itself)
	RawFlags string
}

// Call is a socket call and the result the script expects.
type Call struct {
	Name  string   // socket, bind, listen, accept, connect, write, read, close, shutdown, ...
	Args  []string // raw arguments, "..." kept as is
	Ret   int64    // expected return value
	Errno string   // expected errno name when Ret is -1 ("EAGAIN"), else ""
}

// Event is one timed line of a script.
type Event struct {
	Line   int
	Text   string // the line as written, for error messages
	Mode   TimeMode
	Time   time.Duration // offset (absolute or relative, per Mode)
	Kind   Kind
	Seg    Segment // KindInbound, KindOutbound
	Call   Call    // KindCall
	Assert string  // KindAssert: the expression after "assert"
}

// Script is a parsed scenario.
type Script struct {
	Name      string
	Covers    []string          // requirement IDs from "// covers:" header lines
	KnownBug  string            // "// known-bug:" header: the script is expected to fail until fixed
	Options   map[string]string // "--name=value" header lines
	Events    []Event
	Tolerance time.Duration // --tolerance_usecs (default 4 ms, as packetdrill)
}

// Parse reads a script in the packetdrill subset this package speaks.
func Parse(name string, src []byte) (*Script, error) {
	s := &Script{Name: name, Options: map[string]string{}, Tolerance: 4 * time.Millisecond}
	lines := strings.Split(string(src), "\n")
	for i, raw := range lines {
		lineNo := i + 1
		line := strings.TrimSpace(raw)
		if c, ok := strings.CutPrefix(line, "//"); ok {
			c = strings.TrimSpace(c)
			if ids, ok := strings.CutPrefix(c, "covers:"); ok {
				s.Covers = append(s.Covers, strings.Fields(ids)...)
			}
			if bug, ok := strings.CutPrefix(c, "known-bug:"); ok {
				s.KnownBug = strings.TrimSpace(bug)
			}
			continue
		}
		if idx := strings.Index(line, "//"); idx >= 0 {
			line = strings.TrimSpace(line[:idx])
		}
		if line == "" {
			continue
		}
		if opt, ok := strings.CutPrefix(line, "--"); ok {
			k, v, _ := strings.Cut(opt, "=")
			s.Options[k] = v
			if k == "tolerance_usecs" {
				us, err := strconv.ParseInt(v, 10, 64)
				if err != nil || us < 0 {
					return nil, perr(name, lineNo, "bad tolerance_usecs %q", v)
				}
				s.Tolerance = time.Duration(us) * time.Microsecond
			}
			continue
		}
		ev, err := parseEvent(line)
		if err != nil {
			return nil, perr(name, lineNo, "%v", err)
		}
		ev.Line, ev.Text = lineNo, line
		s.Events = append(s.Events, ev)
	}
	return s, nil
}

func perr(name string, line int, format string, a ...any) error {
	return fmt.Errorf("%s:%d: %s: %w", name, line, fmt.Sprintf(format, a...), ErrSyntax)
}

// parseEvent parses "TIME ACTION".
func parseEvent(line string) (Event, error) {
	var ev Event
	tok, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case tok == "*":
		ev.Mode = TimeAny
	case strings.HasPrefix(tok, "+"):
		ev.Mode = TimeRelative
		d, err := parseSeconds(tok[1:])
		if err != nil {
			return ev, err
		}
		ev.Time = d
	default:
		ev.Mode = TimeAbsolute
		d, err := parseSeconds(tok)
		if err != nil {
			return ev, err
		}
		ev.Time = d
	}
	switch {
	case strings.HasPrefix(rest, "<"):
		ev.Kind = KindInbound
		seg, err := parseSegment(strings.TrimSpace(rest[1:]))
		ev.Seg = seg
		return ev, err
	case strings.HasPrefix(rest, ">"):
		ev.Kind = KindOutbound
		seg, err := parseSegment(strings.TrimSpace(rest[1:]))
		ev.Seg = seg
		return ev, err
	case strings.HasPrefix(rest, "%{"):
		body, ok := strings.CutSuffix(rest, "}%")
		if !ok {
			return ev, fmt.Errorf("unterminated %%{ block")
		}
		body = strings.TrimSpace(body[2:])
		a, ok := strings.CutPrefix(body, "assert ")
		if !ok {
			return ev, fmt.Errorf("only %%{ assert EXPR }%% blocks are supported")
		}
		ev.Kind, ev.Assert = KindAssert, strings.TrimSpace(a)
		return ev, nil
	}
	ev.Kind = KindCall
	c, err := parseCall(rest)
	ev.Call = c
	return ev, err
}

func parseSeconds(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty time")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e6 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return time.Duration(f*1e6+0.5) * time.Microsecond, nil
}

// parseSegment parses "FLAGS SEQ:END(LEN) [ack N] [win N] [urg N] [<opts>]".
func parseSegment(s string) (Segment, error) {
	var seg Segment
	opts := ""
	if i := strings.Index(s, "<"); i >= 0 {
		j := strings.LastIndex(s, ">")
		if j < i {
			return seg, fmt.Errorf("unterminated option list")
		}
		opts, s = s[i+1:j], s[:i]+s[j+1:]
	}
	f := strings.Fields(s)
	if len(f) < 2 {
		return seg, fmt.Errorf("segment needs flags and seq:end(len)")
	}
	seg.RawFlags = f[0]
	for _, r := range f[0] {
		switch r {
		case 'S':
			seg.Flags |= wire.FlagSYN
		case 'F':
			seg.Flags |= wire.FlagFIN
		case 'R':
			seg.Flags |= wire.FlagRST
		case 'P':
			seg.Flags |= wire.FlagPSH
		case '.':
			seg.Flags |= wire.FlagACK
		case 'U':
			seg.Flags |= wire.FlagURG
		case 'E':
			seg.Flags |= wire.FlagECE
		case 'W':
			seg.Flags |= wire.FlagCWR
		default:
			return seg, fmt.Errorf("unknown flag %q", r)
		}
	}
	se, ln, ok := strings.Cut(f[1], "(")
	if !ok || !strings.HasSuffix(ln, ")") {
		return seg, fmt.Errorf("bad seq:end(len) %q", f[1])
	}
	st, en, ok := strings.Cut(se, ":")
	if !ok {
		return seg, fmt.Errorf("bad seq:end %q", se)
	}
	var err error
	if seg.Seq, err = parseU32(st); err != nil {
		return seg, err
	}
	if seg.End, err = parseU32(en); err != nil {
		return seg, err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(ln, ")"))
	if err != nil || n < 0 || n > 0xffff {
		return seg, fmt.Errorf("bad length %q", ln)
	}
	seg.Len = n
	if seg.End-seg.Seq != uint32(n) {
		return seg, fmt.Errorf("%s: end - seq != len", f[1])
	}
	for i := 2; i < len(f); i += 2 {
		if i+1 >= len(f) {
			return seg, fmt.Errorf("%q needs a value", f[i])
		}
		v, err := parseU32(f[i+1])
		if err != nil {
			return seg, err
		}
		switch f[i] {
		case "ack":
			seg.Ack, seg.HasAck = v, true
		case "win":
			if v > 0xffff {
				return seg, fmt.Errorf("win %d too large", v)
			}
			seg.Win, seg.HasWin = uint16(v), true
		case "urg":
			if v > 0xffff {
				return seg, fmt.Errorf("urg %d too large", v)
			}
			seg.Urg, seg.HasUrg = uint16(v), true
		default:
			return seg, fmt.Errorf("unknown segment field %q", f[i])
		}
	}
	if opts != "" {
		seg.HasOpts = true
		if err := parseOptions(opts, &seg); err != nil {
			return seg, err
		}
	}
	return seg, nil
}

func parseU32(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return uint32(v), nil
}

// parseOptions parses "mss 1460,sackOK,nop,wscale 7,TS val 1 ecr 0" or "...".
func parseOptions(s string, seg *Segment) error {
	s = strings.TrimSpace(s)
	if s == "..." {
		seg.AnyOpts = true
		return nil
	}
	o := &seg.Opts
	for _, item := range strings.Split(s, ",") {
		f := strings.Fields(item)
		if len(f) == 0 {
			continue
		}
		num := func(i int) (uint32, error) {
			if i >= len(f) {
				return 0, fmt.Errorf("option %q needs a value", item)
			}
			return parseU32(f[i])
		}
		switch f[0] {
		case "nop":
			seg.NOPs++
		case "eol":
		case "sackOK":
			o.SACKPermitted = true
		case "mss":
			v, err := num(1)
			if err != nil || v > 0xffff {
				return fmt.Errorf("bad mss in %q", item)
			}
			o.MSS, o.HasMSS = uint16(v), true
		case "wscale":
			v, err := num(1)
			if err != nil || v > 255 {
				return fmt.Errorf("bad wscale in %q", item)
			}
			o.WScale, o.HasWScale = uint8(v), true
		case "TS":
			if len(f) != 5 || f[1] != "val" || f[3] != "ecr" {
				return fmt.Errorf("TS option is written \"TS val N ecr N\": %q", item)
			}
			v, err := num(2)
			if err != nil {
				return err
			}
			e, err := num(4)
			if err != nil {
				return err
			}
			o.TSVal, o.TSEcr, o.HasTimestamps = v, e, true
		default:
			return fmt.Errorf("unknown option %q", f[0])
		}
	}
	return nil
}

// parseCall parses "name(arg, ...) = RET [ERRNO [(text)]]".
func parseCall(s string) (Call, error) {
	var c Call
	open := strings.Index(s, "(")
	if open <= 0 {
		return c, fmt.Errorf("not an event: %q", s)
	}
	c.Name = strings.TrimSpace(s[:open])
	depth, close := 0, -1
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		}
		if depth == 0 {
			close = i
			break
		}
	}
	if close < 0 {
		return c, fmt.Errorf("unbalanced parentheses in %q", s)
	}
	for _, a := range strings.Split(s[open+1:close], ",") {
		c.Args = append(c.Args, strings.TrimSpace(a))
	}
	res, ok := strings.CutPrefix(strings.TrimSpace(s[close+1:]), "=")
	if !ok {
		return c, fmt.Errorf("%s: expected result missing (\"= N\")", c.Name)
	}
	f := strings.Fields(res)
	if len(f) == 0 {
		return c, fmt.Errorf("%s: empty result", c.Name)
	}
	r, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return c, fmt.Errorf("%s: bad result %q", c.Name, f[0])
	}
	c.Ret = r
	if r == -1 {
		if len(f) < 2 {
			return c, fmt.Errorf("%s: -1 needs an errno name", c.Name)
		}
		c.Errno = f[1]
	}
	return c, nil
}
