package stack

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netspec/netspec/fsm/fsmrt"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// rfcStateNames are the TCP states as RFC 9293 §3.3.2 writes them.
var rfcStateNames = [tcp.NumStates]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

// RFCState returns st as RFC 9293 §3.3.2 writes it ("SYN-RECEIVED").
func RFCState(st tcp.State) string {
	if st < tcp.NumStates {
		return rfcStateNames[st]
	}
	return st.String()
}

// AppendLine appends the compact one-line form of t to b, the layers in
// order, for example
//
//	#42 eth 74B ok > ip 198.18.0.1>198.18.0.2 ok > tcp :43512>:80 SYN LISTEN tcp.fsm:132 RFC9293 3.10.7.2/s3 > new conn SYN-RECEIVED, sent SYN,ACK
//
// The TCP part names the row that decided the segment (a drop row, else
// the last row that changed the state, else the last with actions). It
// allocates nothing once b has room.
func (t *Trace) AppendLine(b []byte) []byte {
	b = append(b, '#')
	b = strconv.AppendUint(b, t.ID, 10)
	b = append(b, " eth "...)
	b = strconv.AppendInt(b, int64(t.Len), 10)
	b = append(b, 'B')
	if t.Drop.Layer == "eth" {
		return appendDrop(b, t.Drop.Reason, nil)
	}
	b = append(b, " ok"...)
	switch {
	case t.EtherType == wire.EtherTypeARP:
		b = append(b, " > arp"...)
		if r := t.decisive(traceARP, traceARP); r != nil {
			b = appendRow(b, r)
		}
		if t.Drop.Layer == "arp" {
			b = appendDrop(b, t.Drop.Reason, nil)
		}
	case t.HasIP:
		b = t.appendIP(b)
	}
	return t.appendSent(b)
}

// appendIP appends the IP part and the transport part of the line.
func (t *Trace) appendIP(b []byte) []byte {
	b = append(b, " > ip "...)
	b = appendAddr(b, t.Src)
	b = append(b, '>')
	b = appendAddr(b, t.Dst)
	switch t.Drop.Layer {
	case "ip", "frag":
		return appendDrop(b, t.Drop.Reason, t.decisive(traceIPv4, traceFrag))
	}
	b = append(b, " ok"...)
	if t.held() {
		return append(b, " > frag held"...)
	}
	switch t.Proto {
	case wire.ProtoTCP:
		b = append(b, " > tcp"...)
		b = t.appendPorts(b)
		b = append(b, ' ')
		b = appendFlags(b, t.Flags)
		if t.Payload > 0 {
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(t.Payload), 10)
			b = append(b, 'B')
		}
		return t.appendTCP(b)
	case wire.ProtoUDP:
		b = append(b, " > udp"...)
		b = t.appendPorts(b)
	case wire.ProtoICMP:
		b = append(b, " > icmp"...)
	default:
		b = append(b, " > proto "...)
		b = strconv.AppendUint(b, uint64(t.Proto), 10)
	}
	if t.Drop.Layer != "" {
		b = appendDrop(b, t.Drop.Reason, nil)
	}
	return b
}

// held reports a fragment kept for reassembly: frag rows fired, no drop,
// and nothing was handed on.
func (t *Trace) held() bool {
	frag, up := false, false
	for i := range t.Rows {
		switch t.Rows[i].machine {
		case traceFrag:
			frag = true
		case traceTCP, traceARP:
			up = true
		}
	}
	return frag && !up && t.Drop.Layer == ""
}

// appendTCP appends the state, the deciding row and the verdict.
func (t *Trace) appendTCP(b []byte) []byte {
	first, last := -1, -1
	for i := range t.Rows {
		if t.Rows[i].machine == traceTCP {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		if t.Drop.Layer != "" {
			b = appendDrop(b, t.Drop.Reason, nil)
		}
		return b
	}
	from, to := tcp.State(t.Rows[first].state), tcp.State(t.Rows[last].next)
	b = append(b, ' ')
	b = append(b, RFCState(from)...)
	b = appendRow(b, t.decisive(traceTCP, traceTCP))
	switch {
	case t.Drop.Layer != "":
		b = append(b, " > drop "...)
		b = append(b, t.Drop.Reason...)
	case from == tcp.StateListen && to != tcp.StateListen:
		b = append(b, " > new conn "...)
		b = append(b, RFCState(to)...)
	case from != to:
		b = append(b, " > "...)
		b = append(b, RFCState(to)...)
	}
	return b
}

// decisive returns the row of machine m1 or m2 that decided the frame:
// the last drop row, else the last row that changed its state, else the
// last with actions, else the last; nil when none of them fired.
func (t *Trace) decisive(m1, m2 traceMachine) *TraceRow {
	var drop, change, act, last *TraceRow
	for i := range t.Rows {
		r := &t.Rows[i]
		if r.machine != m1 && r.machine != m2 {
			continue
		}
		last = r
		switch {
		case r.outcome == fsmrt.OutDrop:
			drop = r
		case r.changes():
			change = r
		case r.acts:
			act = r
		}
	}
	for _, r := range [...]*TraceRow{drop, change, act} {
		if r != nil {
			return r
		}
	}
	return last
}

// appendRow appends " tcp.fsm:118 RFC9293 3.10.7.2": the row's spec line
// without "spec/" and its anchor with the document and clause apart.
func appendRow(b []byte, r *TraceRow) []byte {
	x := r.text(false)
	src, anchor := x.src, x.anchor
	b = append(b, ' ')
	b = append(b, strings.TrimPrefix(src, "spec/")...)
	if anchor != "" {
		b = append(b, ' ')
		doc, clause, ok := strings.Cut(anchor, ":")
		b = append(b, doc...)
		if ok {
			b = append(b, ' ')
			b = append(b, clause...)
		}
	}
	return b
}

// appendDrop appends " drop Reason" and the row that dropped, if known.
func appendDrop(b []byte, reason string, r *TraceRow) []byte {
	b = append(b, " drop "...)
	b = append(b, reason...)
	if r != nil {
		b = appendRow(b, r)
	}
	return b
}

// appendSent appends ", sent SYN,ACK" for the TCP segments sent in answer,
// or ", sent N frames" when only other frames were.
func (t *Trace) appendSent(b []byte) []byte {
	switch {
	case t.NSent > 0:
		b = append(b, ", sent"...)
		for _, f := range t.Sent[:t.NSent] {
			b = append(b, ' ')
			b = appendFlags(b, f)
		}
	case t.SentFrames == 1:
		b = append(b, ", sent 1 frame"...)
	case t.SentFrames > 1:
		b = append(b, ", sent "...)
		b = strconv.AppendInt(b, int64(t.SentFrames), 10)
		b = append(b, " frames"...)
	}
	return b
}

// appendPorts appends " :43512>:80".
func (t *Trace) appendPorts(b []byte) []byte {
	if !t.HasPorts {
		return b
	}
	b = append(b, " :"...)
	b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
	b = append(b, ">:"...)
	return strconv.AppendUint(b, uint64(t.DstPort), 10)
}

var flagNames = [8]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// appendFlags appends the set TCP flags joined by commas ("SYN,ACK"), or
// "none".
func appendFlags(b []byte, f wire.TCPFlags) []byte {
	if f == 0 {
		return append(b, "none"...)
	}
	sep := false
	for i, name := range flagNames {
		if f&(1<<i) != 0 {
			if sep {
				b = append(b, ',')
			}
			b = append(b, name...)
			sep = true
		}
	}
	return b
}

// appendAddr appends a in dotted decimal.
func appendAddr(b []byte, a wire.Addr) []byte {
	for i, x := range a {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, octetText[x]...)
	}
	return b
}

// octetText holds the decimal text of every octet, for appendAddr.
var octetText = func() (t [256]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// TraceFilter selects the traces a user asked for (serve --trace FILTER).
// Its zero value selects every frame.
type TraceFilter struct {
	terms []traceTerm
}

type traceTerm struct {
	kind        byte // 'd' drops, 'p' port, 'h' host, 't' 4-tuple, 'P' protocol
	port, port2 uint16
	addr, addr2 wire.Addr
	proto       uint8
}

var errTraceFilter = errors.New("want drops, port N, host ADDR, tcp, udp, icmp, arp or ADDR:PORT>ADDR:PORT, joined by \"and\"")

// ParseTraceFilter parses a filter: "" (or "all") for every frame, "drops"
// for dropped frames only, "port 80", "host 198.18.0.1", a protocol ("tcp",
// "udp", "icmp", "arp"), or a 4-tuple "198.18.0.1:43512>198.18.0.2:80"
// (matching both directions of the connection); terms joined by "and"
// must all hold.
func ParseTraceFilter(s string) (TraceFilter, error) {
	var f TraceFilter
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return f, nil
	}
	for _, part := range strings.Split(s, " and ") {
		tm, err := parseTraceTerm(strings.Fields(part))
		if err != nil {
			return TraceFilter{}, errors.New("trace filter " + strconv.Quote(s) + ": " + err.Error())
		}
		f.terms = append(f.terms, tm)
	}
	return f, nil
}

func parseTraceTerm(w []string) (traceTerm, error) {
	switch {
	case len(w) == 1 && w[0] == "drops":
		return traceTerm{kind: 'd'}, nil
	case len(w) == 1 && (w[0] == "tcp" || w[0] == "udp" || w[0] == "icmp" || w[0] == "arp"):
		p := map[string]uint8{"tcp": wire.ProtoTCP, "udp": wire.ProtoUDP, "icmp": wire.ProtoICMP, "arp": 0}[w[0]]
		return traceTerm{kind: 'P', proto: p}, nil
	case len(w) == 2 && w[0] == "port":
		n, err := strconv.ParseUint(w[1], 10, 16)
		if err != nil || n == 0 {
			return traceTerm{}, errors.New("bad port " + strconv.Quote(w[1]))
		}
		return traceTerm{kind: 'p', port: uint16(n)}, nil
	case len(w) == 2 && w[0] == "host":
		a, err := netip.ParseAddr(w[1])
		wa, ok := wire.AddrFrom(a)
		if err != nil || !ok {
			return traceTerm{}, errors.New("bad IPv4 address " + strconv.Quote(w[1]))
		}
		return traceTerm{kind: 'h', addr: wa}, nil
	case len(w) == 1 && strings.Contains(w[0], ">"):
		l, r, _ := strings.Cut(w[0], ">")
		a, errA := netip.ParseAddrPort(l)
		c, errC := netip.ParseAddrPort(r)
		wa, okA := wire.AddrFrom(a.Addr())
		wc, okC := wire.AddrFrom(c.Addr())
		if errA != nil || errC != nil || !okA || !okC {
			return traceTerm{}, errors.New("bad 4-tuple " + strconv.Quote(w[0]) + " (want ADDR:PORT>ADDR:PORT)")
		}
		return traceTerm{kind: 't', addr: wa, port: a.Port(), addr2: wc, port2: c.Port()}, nil
	}
	return traceTerm{}, errTraceFilter
}

// Match reports whether t passes every term of f.
func (f TraceFilter) Match(t *Trace) bool {
	for i := range f.terms {
		if !f.terms[i].match(t) {
			return false
		}
	}
	return true
}

func (m *traceTerm) match(t *Trace) bool {
	switch m.kind {
	case 'd':
		return t.Dropped()
	case 'P':
		if m.proto == 0 {
			return t.EtherType == wire.EtherTypeARP
		}
		return t.HasIP && t.Proto == m.proto
	case 'p':
		return t.HasPorts && (t.SrcPort == m.port || t.DstPort == m.port)
	case 'h':
		return t.HasIP && (t.Src == m.addr || t.Dst == m.addr)
	case 't':
		fwd := t.Src == m.addr && t.SrcPort == m.port && t.Dst == m.addr2 && t.DstPort == m.port2
		rev := t.Src == m.addr2 && t.SrcPort == m.port2 && t.Dst == m.addr && t.DstPort == m.port
		return t.HasPorts && (fwd || rev)
	}
	return false
}
