package linz

import (
	"fmt"
	"github.com/netspec/netspec/driver/history"
	"hash/fnv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// call is the porcupine input of one operation: everything the model needs
// (porcupine's output slot is unused). It is comparable.
type call struct {
	end      int // 0 = Client, 1 = Server
	op       history.Op
	data     string // bytes written or read
	err      string // error class
	keyed    bool   // belongs to a connection (Conn != "")
	peerSeen bool   // the peer end's host was recorded in this history
	rec      int    // index of the Record, for descriptions
}

// endState is one end of a connection as the model sees it.
type endState struct {
	wclosed bool // our FIN is queued (closewrite or close): no more data from us
	closed  bool // the descriptor was released (close or abort)
	aborted bool // we sent RST (abort)
	failed  bool // we saw the connection die (reset, timedout, other)
	eof     bool // a read returned EOF
}

// connState is the sequential state of one connection (one partition): its
// lifecycle, both ends, and the bytes in flight in each direction. It is
// comparable, so porcupine's default equality works.
type connState struct {
	dialled  bool // the active OPEN completed (or may have)
	accepted bool // the connection left the accept queue
	ends     [2]endState
	pending  [2]string // pending[e]: written by end e, not yet read by its peer
}

func endIndex(e history.End) int {
	if e == history.Server {
		return 1
	}
	return 0
}

// resetLegal reports whether end e may see the connection reset: only when
// the peer closed, aborted or itself saw the connection fail (data reaching a
// closed socket draws a RST: RFC 9293 §3.10.7.1, and Linux resets on close
// with unread data), when the peer is the server and had not accepted the
// connection (a closing listener resets its queue), or when the peer is not
// recorded.
func (s *connState) resetLegal(c call) bool {
	p := 1 - c.end
	if !c.peerSeen {
		return true
	}
	pe := s.ends[p]
	return pe.closed || pe.failed || (p == 1 && !s.accepted)
}

// step is the sequential specification: whether c may happen in state s,
// and the state after it.
func step(s connState, c call) (bool, connState) {
	e, p := c.end, 1-c.end
	me := &s.ends[e]
	switch c.op {
	case history.OpDial:
		if !c.keyed {
			return true, s // a failed dial that named no connection
		}
		if s.dialled {
			return false, s
		}
		s.dialled = true
		if c.err != history.ErrNone {
			// The handshake may have completed before the dial gave up and
			// aborted (RFC 9293 §3.10.5): the server may still accept it.
			me.closed, me.aborted, me.failed, me.wclosed = true, true, true, true
		}
		return true, s
	case history.OpAccept:
		if !c.keyed {
			return true, s
		}
		// The accept queue holds only connections a peer dialled (RFC 9293
		// §3.10.7.2), and each leaves it once.
		if s.accepted || c.err != history.ErrNone || (c.peerSeen && !s.dialled) {
			return false, s
		}
		s.accepted = true
		return true, s
	}
	// Every other call is on an open end.
	if (e == 0 && !s.dialled) || (e == 1 && !s.accepted) {
		return false, s
	}
	switch c.op {
	case history.OpWrite:
		if c.data != "" {
			// SEND after our FIN, after CLOSE, or after we saw a reset must
			// fail (RFC 9293 §3.10.2).
			if me.wclosed || me.closed || me.failed {
				return false, s
			}
			if c.peerSeen {
				s.pending[e] += c.data
			}
		}
		switch c.err {
		case history.ErrNone, history.ErrTimeout, history.ErrShutdown:
		case history.ErrReset:
			if !s.resetLegal(c) && !me.failed {
				return false, s
			}
			me.failed = true
		case history.ErrPipe:
			if !me.wclosed && !me.failed && !s.resetLegal(c) {
				return false, s
			}
		case history.ErrClosing:
			if !me.wclosed {
				return false, s
			}
		case history.ErrClosed:
			if !me.closed {
				return false, s
			}
		case history.ErrTimedOut, history.ErrOther:
			me.failed = true
		default: // eof, refused
			return false, s
		}
		return true, s
	case history.OpRead:
		if c.data != "" {
			// RECEIVE returns the peer's bytes in order, each once, and none
			// after a reset (RFC 9293 §3.10.7.4, "all segment queues should
			// be flushed"), after EOF, or after our CLOSE.
			if me.failed || me.closed || me.eof {
				return false, s
			}
			if c.peerSeen {
				if !strings.HasPrefix(s.pending[p], c.data) {
					return false, s
				}
				s.pending[p] = s.pending[p][len(c.data):]
			}
		}
		switch c.err {
		case history.ErrNone:
		case history.ErrTimeout, history.ErrShutdown:
		case history.ErrEOF:
			// EOF only after the peer's FIN and all its bytes (RFC 9293
			// §3.10.7.4 eighth step), or once the connection died.
			if c.peerSeen && !me.failed && (s.pending[p] != "" || !s.ends[p].wclosed) {
				return false, s
			}
			me.eof = true
		case history.ErrReset:
			if !s.resetLegal(c) && !me.failed {
				return false, s
			}
			me.failed = true
		case history.ErrClosed:
			if !me.closed {
				return false, s
			}
		case history.ErrTimedOut, history.ErrOther:
			me.failed = true
		default: // pipe, closing, refused
			return false, s
		}
		return true, s
	case history.OpCloseWrite:
		switch c.err {
		case history.ErrNone:
			if me.closed {
				return false, s
			}
			me.wclosed = true
		case history.ErrClosed:
			if !me.closed {
				return false, s
			}
		case history.ErrClosing:
			if !me.wclosed {
				return false, s
			}
		case history.ErrReset, history.ErrPipe:
			if !me.failed && !s.resetLegal(c) {
				return false, s
			}
			me.failed = true
		case history.ErrTimeout, history.ErrShutdown, history.ErrTimedOut, history.ErrOther:
		default:
			return false, s
		}
		return true, s
	case history.OpClose, history.OpAbort:
		if c.err == history.ErrClosed {
			return me.closed, s
		}
		if c.err == history.ErrNone && me.closed {
			return false, s
		}
		// CLOSE releases the descriptor whatever it reports (RFC 9293 §3.10.4).
		me.closed, me.wclosed = true, true
		if c.op == history.OpAbort {
			me.aborted = true
		}
		return true, s
	}
	return false, s
}

func hashState(s connState) uint64 {
	h := fnv.New64a()
	var b [2]byte
	for i, es := range s.ends {
		b[i] = bits(es.wclosed, es.closed, es.aborted, es.failed, es.eof)
	}
	h.Write([]byte{bits(s.dialled, s.accepted), b[0], b[1]})
	h.Write([]byte(s.pending[0]))
	h.Write([]byte{0xff})
	h.Write([]byte(s.pending[1]))
	return h.Sum64()
}

func bits(bs ...bool) byte {
	var v byte
	for i, b := range bs {
		if b {
			v |= 1 << i
		}
	}
	return v
}

// Model is the porcupine model of one TCP connection (see connState and
// step), partitioned per connection. Operations are made by Operations.
var Model = porcupine.Model{
	Partition: partitionOps,
	Init:      func() interface{} { return connState{} },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		return step(state.(connState), input.(call))
	},
	Hash:              func(state interface{}) uint64 { return hashState(state.(connState)) },
	DescribeOperation: func(input, output interface{}) string { return describeCall(input.(call)) },
	DescribeState:     func(state interface{}) string { return describeState(state.(connState)) },
}

// partitionOps groups operations per connection (Metadata holds the Conn id).
func partitionOps(ops []porcupine.Operation) [][]porcupine.Operation {
	idx := make(map[string]int)
	var parts [][]porcupine.Operation
	for _, op := range ops {
		id, _ := op.Metadata.(string)
		i, ok := idx[id]
		if !ok || id == "" {
			i = len(parts)
			idx[id] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}

var endNames = [2]string{"c", "s"}

func describeCall(c call) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", endNames[c.end], c.op)
	if c.data != "" {
		fmt.Fprintf(&b, " %dB %s", len(c.data), quote(c.data))
	}
	if c.err != history.ErrNone {
		fmt.Fprintf(&b, " -> %s", c.err)
	}
	return b.String()
}

func describeState(s connState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dialled=%v accepted=%v", s.dialled, s.accepted)
	for i, es := range s.ends {
		fmt.Fprintf(&b, " | %s:", endNames[i])
		for _, f := range []struct {
			on   bool
			name string
		}{{es.wclosed, "fin"}, {es.closed, "closed"}, {es.aborted, "aborted"}, {es.failed, "failed"}, {es.eof, "eof"}} {
			if f.on {
				b.WriteString(" " + f.name)
			}
		}
		fmt.Fprintf(&b, " in flight %dB %s", len(s.pending[i]), quote(s.pending[i]))
	}
	return b.String()
}

// quote shows at most 24 bytes of data.
func quote(d string) string {
	if len(d) > 24 {
		return fmt.Sprintf("%q...", d[:24])
	}
	return fmt.Sprintf("%q", d)
}
