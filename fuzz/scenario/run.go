package scenario

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// Addresses and ports of a scenario (RFC 2544 benchmarking range 198.18.0.0/15).
var (
	LocalAddr  = wire.Addr{198, 18, 0, 2} // the stack under test
	RemoteAddr = wire.Addr{198, 18, 0, 1} // the scripted peer
)

const (
	// LocalPort is the port bind() gives the stack's socket, and RemotePort the
	// port an active open connects to.
	LocalPort = 8080
	// RemotePort is the scripted peer's port when the stack listens.
	RemotePort = 40000
	// maxPolls bounds the timer firings of one advance: a timer that never
	// stops firing is reported as a livelock, not a hang.
	maxPolls = 100000
	// maxWait bounds how far a "*" expectation waits for a segment.
	maxWait = 10 * time.Minute
)

// Options tunes a run.
type Options struct {
	// PeerISN is added to every inbound sequence number and subtracted from
	// every outbound acknowledgment number: the same script runs with the peer's
	// sequence space near 2^32 to exercise wrap-around.
	PeerISN uint32
	// Seed seeds the TCP layer's random source (our ISN, ephemeral ports).
	Seed uint64
	// TCP is the layer configuration before the script's --options apply.
	TCP tcp.Config
}

// Result reports what a run did.
type Result struct {
	Events   int
	RuleHits []uint64 // per tcp.Rules row, for coverage across scripts
}

type outSeg struct {
	at  time.Time
	src wire.Addr
	dst wire.Addr
	b   []byte
}

type socket struct {
	ln      *tcp.Listener
	c       *tcp.Conn
	bound   bool
	linger0 bool // SO_LINGER {onoff=1, linger=0}: close aborts (RST)
}

type runner struct {
	s      *Script
	o      Options
	l      *tcp.Layer
	start  time.Time
	now    time.Time
	last   time.Time
	out    []outSeg
	fds    map[int64]*socket
	lport  uint16
	pport  uint16
	isn    uint32
	hasISN bool
	isns   map[uint16]uint32    // our ISN per peer port, kept across peer_port()
	states map[uint16]tcp.State // connection state per peer port, from Layer.Trace
	state  tcp.State            // of the connection under test, from Layer.Trace
	conn   *tcp.Conn            // the connection under test once a call returned it
	inv    *tcp.InvariantChecker
	tsVal  uint32 // our last TSval sent
	hasTS  bool
	ev     *Event
}

// capture implements tcp.Output.
type capture struct{ r *runner }

func (c capture) SendSegment(src, dst wire.Addr, _ tcp.SegMeta, seg []byte) {
	c.r.out = append(c.r.out, outSeg{at: c.r.now, src: src, dst: dst, b: append([]byte(nil), seg...)})
}

func (c capture) Notify(uint64, sock.Readiness) {}

// Run executes the script against a fresh tcp.Layer on a virtual clock. It
// returns a *Failure (wrapped) at the first line the stack does not follow.
func Run(s *Script, o Options) (*Result, error) {
	cfg := o.TCP
	// Scripts describe fixed 256 KiB buffers (window scale 3), as before
	// auto-tuning; --rcvbuf/--sndbuf set others.
	if cfg.RecvBuf == 0 && cfg.RecvBufMax == 0 {
		cfg.RecvBuf = 256 << 10
	}
	if cfg.SendBuf == 0 && cfg.SendBufMax == 0 {
		cfg.SendBuf = 256 << 10
	}
	for k, v := range s.Options {
		if k == "profile" {
			// --profile=linux|rfc9293: the spec profile the layer runs.
			p, ok := tcp.ParseProfile(v)
			if !ok {
				return nil, fmt.Errorf("scenario %s: option --profile=%s: unknown profile: %w", s.Name, v, ErrSyntax)
			}
			cfg.Profile = p
			continue
		}
		n, err := strconv.Atoi(v)
		if k == "tolerance_usecs" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("scenario %s: option --%s=%s: %w", s.Name, k, v, ErrSyntax)
		}
		switch k {
		case "rcvbuf":
			cfg.RecvBuf = n
		case "sndbuf":
			cfg.SendBuf = n
		case "mss":
			cfg.MSS = uint16(n)
		case "msl_ms":
			cfg.MSL = time.Duration(n) * time.Millisecond
		case "rto_initial_ms":
			cfg.RTOInitial = time.Duration(n) * time.Millisecond
		case "syn_retries":
			cfg.SynRetries = n
		case "max_retries":
			cfg.MaxRetries = n
		case "fin_wait2_ms":
			cfg.FinWait2Timeout = time.Duration(n) * time.Millisecond
		case "challenge_ack_limit":
			cfg.ChallengeACKLimit = n
		case "oow_ack_interval_ms":
			// 0 turns the rate limit off (tcp.Config: negative); the
			// linux profile's default is 500 ms.
			cfg.OOWAckInterval = time.Duration(n) * time.Millisecond
			if n == 0 {
				cfg.OOWAckInterval = -1
			}
		case "syn_backlog":
			cfg.SynBacklog = n
		case "no_syn_cookies":
			cfg.NoSynCookies = n != 0
		case "synack_retries":
			cfg.SynAckRetries = n
		case "user_timeout_ms":
			cfg.UserTimeout = time.Duration(n) * time.Millisecond
		case "delayed_ack_ms":
			cfg.DelayedACK = time.Duration(n) * time.Millisecond
		default:
			return nil, fmt.Errorf("scenario %s: unknown option --%s: %w", s.Name, k, ErrSyntax)
		}
	}
	start := time.Unix(1_700_000_000, 0)
	r := &runner{s: s, o: o, start: start, now: start, last: start, fds: map[int64]*socket{}, isns: map[uint16]uint32{}, states: map[uint16]tcp.State{},
		lport: LocalPort, pport: RemotePort, inv: tcp.NewInvariantChecker()}
	r.l = tcp.NewLayer(cfg, capture{r}, rand.New(rand.NewPCG(o.Seed, o.Seed^0x5ce4a210)))
	r.l.Trace = func(c *tcp.Conn, from, to tcp.State) {
		la, lp, ra, rp := c.Endpoints()
		if la == LocalAddr && ra == RemoteAddr && lp == r.lport {
			r.states[rp] = to
			if rp == r.pport {
				r.state = to
			}
		}
	}
	for i := range s.Events {
		ev := &s.Events[i]
		r.ev = ev
		if err := r.step(ev); err != nil {
			return nil, err
		}
		if err := r.invariants(); err != nil {
			return nil, err
		}
	}
	r.ev = &Event{Line: len(s.Events), Text: "(end of script)"}
	if len(s.Events) > 0 {
		r.ev.Line = s.Events[len(s.Events)-1].Line
	}
	if err := r.noneSent(); err != nil {
		return nil, err
	}
	hits := r.l.Counters().RuleHits
	res := &Result{Events: len(s.Events), RuleHits: append([]uint64(nil), hits[:]...)}
	if err := r.finish(); err != nil {
		return nil, err
	}
	return res, nil
}

// finishLimit bounds the virtual time finish waits for every connection to
// end: beyond R2 with the largest backoff, 2*MSL and the FIN-WAIT-2 timeout.
const finishLimit = 24 * time.Hour

// finish is the end-of-run check every script gets: the application closes
// every socket it still holds (listeners too; CLOSE, RFC 9293 §3.10.4), the
// scripted peer stays silent, and once every timer has run out the layer
// must hold nothing (tcp.Layer.Quiescent): each connection ended through
// its timeouts, and gave back its TIME-WAIT record, timers and buffers.
// What the stack sends meanwhile is not part of the script and not checked.
func (r *runner) finish() error {
	r.ev = &Event{Line: r.ev.Line, Text: "(end of run: close all, run every timer out)"}
	for _, fd := range slices.Sorted(maps.Keys(r.fds)) {
		switch s := r.fds[fd]; {
		case s.ln != nil:
			s.ln.Close(r.now)
		case s.c != nil:
			s.c.Close(r.now) // also one that ended before: its buffers go back
		}
	}
	r.l.CloseAll(r.now)
	r.out = r.out[:0]
	end := r.now.Add(finishLimit)
	for d := r.l.NextDeadline(); !d.IsZero() && !d.After(end); d = r.l.NextDeadline() {
		if err := r.advance(d); err != nil {
			return err
		}
		r.out = r.out[:0]
	}
	if err := r.l.Quiescent(); err != nil {
		return r.fail("%v", err)
	}
	return nil
}

func (r *runner) fail(msg string, a ...any) *Failure {
	return &Failure{Script: r.s.Name, Line: r.ev.Line, Text: r.ev.Text, Msg: fmt.Sprintf(msg, a...)}
}

// target is the virtual time an event is scripted for.
func (r *runner) target(ev *Event) time.Time {
	if ev.Mode == TimeRelative {
		return r.last.Add(ev.Time)
	}
	return r.start.Add(ev.Time)
}

// advance moves the clock to t, firing every timer due on the way in order.
func (r *runner) advance(t time.Time) error {
	for i := 0; ; i++ {
		if i == maxPolls {
			return r.fail("timer livelock: %d timer firings before %v", maxPolls, t.Sub(r.start))
		}
		d := r.l.NextDeadline()
		if d.IsZero() || d.After(t) {
			break
		}
		if d.After(r.now) {
			r.now = d
		}
		r.l.Poll(r.now)
		if err := r.inv.Check(r.now, r.l); err != nil {
			return r.fail("after the timers due at %.3f: %v", r.now.Sub(r.start).Seconds(), err)
		}
	}
	if t.After(r.now) {
		r.now = t
	}
	return nil
}

// noneSent fails if the stack sent a segment the script did not expect.
func (r *runner) noneSent() error {
	if len(r.out) == 0 {
		return nil
	}
	o := r.out[0]
	f := r.fail("unexpected outbound segment at %.3f (%d queued)", o.at.Sub(r.start).Seconds(), len(r.out))
	if g, err := r.decode(o, false); err == nil {
		f.Got = "> " + g.String()
	}
	return f
}

func (r *runner) step(ev *Event) error {
	if ev.Kind == KindOutbound {
		return r.expect(ev)
	}
	if ev.Mode == TimeAny {
		return r.fail("\"*\" timing is only for outbound segments")
	}
	t := r.target(ev)
	if err := r.advance(t); err != nil {
		return err
	}
	if err := r.noneSent(); err != nil {
		return err
	}
	r.last = t
	switch ev.Kind {
	case KindInbound:
		return r.inject(&ev.Seg)
	case KindCall:
		return r.call(&ev.Call)
	case KindAssert:
		return r.assert(ev.Assert)
	}
	return r.fail("unknown event")
}

// inject builds the inbound segment with live sequence numbers and a valid
// checksum and hands it to the layer.
func (r *runner) inject(s *Segment) error {
	win := uint16(65535)
	if s.HasWin {
		win = s.Win
	}
	ack := s.Ack
	if r.hasISN {
		ack += r.isn
	}
	h := wire.TCPHeader{SrcPort: r.pport, DstPort: r.lport, Seq: s.Seq + r.o.PeerISN, Ack: ack,
		Flags: s.Flags, Window: win, Urgent: s.Urg, Opts: s.Opts}
	if h.Opts.HasTimestamps && h.Opts.TSEcr != 0 && r.hasTS {
		h.Opts.TSEcr = r.tsVal // packetdrill: a script's TSecr echoes our live TSval
	}
	b := make([]byte, h.Len()+s.Len)
	n := h.Put(b)
	for i := range s.Len {
		b[n+i] = byte('a' + i%26)
	}
	wire.SetTCPChecksum(b, RemoteAddr, LocalAddr)
	r.l.Input(r.now, RemoteAddr, LocalAddr, b, false)
	return nil
}

// decode turns an emitted segment into script form, learning our ISN from the
// SYN it sends (learn set).
func (r *runner) decode(o outSeg, learn bool) (Segment, error) {
	var g Segment
	t, err := wire.ParseTCP(o.b)
	if err != nil {
		return g, fmt.Errorf("emitted segment does not parse: %w", err)
	}
	if !wire.TCPChecksumValid(o.b, o.src, o.dst) {
		return g, fmt.Errorf("emitted segment has a bad checksum")
	}
	if err := wire.ParseTCPOptions(t.Options(), &g.Opts); err != nil {
		return g, fmt.Errorf("emitted options: %w", err)
	}
	g.HasOpts = true
	if learn && g.Opts.HasTimestamps {
		r.tsVal, r.hasTS = g.Opts.TSVal, true
	}
	if learn && t.Flags()&wire.FlagSYN != 0 { // a new incarnation has a new ISS
		r.isn, r.hasISN = t.Seq(), true
	}
	seq := t.Seq()
	// A reset generated from the offending segment alone (RFC 9293
	// §3.10.7.1 R2: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>) carries no
	// sequence number of the connection: it is written "R. 0:0(0)" even
	// when the connection has an ISS.
	if r.hasISN && !(t.Flags()&wire.FlagRST != 0 && seq == 0) {
		seq -= r.isn
	}
	g.Flags, g.Seq, g.Len = t.Flags(), seq, len(t.Payload())
	g.End = g.Seq + uint32(g.Len)
	g.Ack = t.Ack() - r.o.PeerISN
	g.HasAck = t.Flags()&wire.FlagACK != 0
	g.Win, g.HasWin = t.Window(), true
	if t.Flags()&wire.FlagURG != 0 {
		g.Urg, g.HasUrg = t.Urgent(), true
	}
	return g, nil
}

// expect takes the next segment the stack sent and compares it with the
// script's, allowing the script's timing tolerance.
func (r *runner) expect(ev *Event) error {
	var t time.Time
	if ev.Mode == TimeAny {
		limit := r.now.Add(maxWait)
		for len(r.out) == 0 {
			d := r.l.NextDeadline()
			if d.IsZero() || d.After(limit) {
				return r.fail("expected an outbound segment; none sent and no timer pending")
			}
			if err := r.advance(d); err != nil {
				return err
			}
		}
		t = r.out[0].at
	} else {
		t = r.target(ev)
		if err := r.advance(t); err != nil {
			return err
		}
		for len(r.out) == 0 {
			d := r.l.NextDeadline()
			if d.IsZero() || d.After(t.Add(r.s.Tolerance)) {
				f := r.fail("expected an outbound segment at %.3f; none sent", t.Sub(r.start).Seconds())
				f.Want = "> " + ev.Seg.String()
				f.Got = "(nothing)"
				return f
			}
			if err := r.advance(d); err != nil {
				return err
			}
		}
	}
	o := r.out[0]
	r.out = r.out[1:]
	r.last = t
	if o.src != LocalAddr || o.dst != RemoteAddr {
		return r.fail("segment addressed %v -> %v", o.src, o.dst)
	}
	g, err := r.decode(o, true)
	if err != nil {
		return r.fail("%v", err)
	}
	if tt, _ := wire.ParseTCP(o.b); tt.SrcPort() != r.lport || tt.DstPort() != r.pport {
		return r.fail("segment on ports %d -> %d, want %d -> %d", tt.SrcPort(), tt.DstPort(), r.lport, r.pport)
	}
	if d := diffSegments(ev.Seg, g); len(d) > 0 {
		f := r.fail("outbound segment differs")
		f.Want, f.Got, f.Diff = "> "+ev.Seg.String(), "> "+g.String(), d
		return f
	}
	if dt := o.at.Sub(t); dt > r.s.Tolerance || -dt > r.s.Tolerance {
		return r.fail("segment sent at %.3f, script says %.3f (tolerance %v)",
			o.at.Sub(r.start).Seconds(), t.Sub(r.start).Seconds(), r.s.Tolerance)
	}
	return nil
}

// invariants runs the TCP layer's runtime invariants (issue 3 item 3) after
// every event: SND.UNA <= SND.NXT, RCV.NXT never moves back, the receive
// window's right edge never moves left, TIME-WAIT lasts 2*MSL, tables within
// their bounds (tcp.InvariantChecker).
func (r *runner) invariants() error {
	if err := r.inv.Check(r.now, r.l); err != nil {
		return r.fail("%v", err)
	}
	return nil
}

// errnoOf maps the stack's errors to the errno names scripts expect.
func errnoOf(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, sock.ErrWouldBlock):
		return "EAGAIN"
	case errors.Is(err, sock.ErrReset):
		return "ECONNRESET"
	case errors.Is(err, sock.ErrRefused):
		return "ECONNREFUSED"
	case errors.Is(err, sock.ErrTimeout):
		return "ETIMEDOUT"
	case errors.Is(err, sock.ErrClosing):
		return "EPIPE"
	case errors.Is(err, sock.ErrNotExist):
		return "ENOTCONN"
	case errors.Is(err, sock.ErrExists):
		return "EADDRINUSE"
	case errors.Is(err, sock.ErrBadFD):
		return "EBADF"
	case errors.Is(err, sock.ErrLimit), errors.Is(err, sock.ErrNoPorts):
		return "ENOBUFS"
	}
	return "EIO"
}

func resultString(ret int64, errno string) string {
	if errno != "" {
		return fmt.Sprintf("-1 %s", errno)
	}
	return strconv.FormatInt(ret, 10)
}

// call performs a socket call and compares its result with the script's.
func (r *runner) call(c *Call) error {
	ret, errno, err := r.do(c)
	if err != nil {
		return err
	}
	want := resultString(c.Ret, c.Errno)
	got := resultString(ret, errno)
	if want != got {
		f := r.fail("%s returned %s, script expects %s", c.Name, got, want)
		f.Want, f.Got = want, got
		return f
	}
	return nil
}

func (r *runner) arg(c *Call, i int) (int64, error) {
	if i >= len(c.Args) {
		return 0, r.fail("%s: missing argument %d", c.Name, i+1)
	}
	v, err := strconv.ParseInt(c.Args[i], 10, 64)
	if err != nil {
		return 0, r.fail("%s: argument %d: not a number: %q", c.Name, i+1, c.Args[i])
	}
	return v, nil
}

func (r *runner) sock(c *Call) (*socket, error) {
	fd, err := r.arg(c, 0)
	if err != nil {
		return nil, err
	}
	s := r.fds[fd]
	if s == nil {
		return nil, r.fail("%s: fd %d is not open in the script", c.Name, fd)
	}
	return s, nil
}

// do runs one call and returns its result as (return value, errno name).
func (r *runner) do(c *Call) (int64, string, error) {
	switch c.Name {
	case "socket":
		if c.Ret < 0 {
			return 0, "", r.fail("socket: a failing socket() is not supported")
		}
		r.fds[c.Ret] = &socket{}
		return c.Ret, "", nil
	case "fcntl":
		return 0, "", nil // every socket is non-blocking
	case "peer_port":
		// Extension: the scripted peer continues from another source port
		// (a second client of a listener); the connection under test is
		// the one on the new port from here on.
		if len(c.Args) != 1 {
			return 0, "", r.fail("peer_port: want one port")
		}
		p, err := r.arg(c, 0)
		if err != nil {
			return 0, "", err
		}
		if p <= 0 || p > 65535 {
			return -1, "EINVAL", nil
		}
		if r.hasISN {
			r.isns[r.pport] = r.isn
		}
		r.pport = uint16(p)
		r.state = r.states[r.pport] // StateClosed if no connection yet
		r.isn, r.hasISN = r.isns[r.pport]
		return 0, "", nil
	case "setsockopt":
		s, err := r.sock(c)
		if err != nil {
			return 0, "", err
		}
		if len(c.Args) > 3 && c.Args[2] == "SO_LINGER" {
			s.linger0 = strings.ReplaceAll(strings.Join(c.Args[3:len(c.Args)-1], ","), " ", "") == "{onoff=1,linger=0}"
		}
		return 0, "", nil
	case "bind":
		s, err := r.sock(c)
		if err != nil {
			return 0, "", err
		}
		s.bound = true
		return 0, "", nil
	case "listen":
		s, err := r.sock(c)
		if err != nil {
			return 0, "", err
		}
		backlog, err := r.arg(c, 1)
		if err != nil {
			return 0, "", err
		}
		ln, lerr := r.l.Listen(r.now, LocalAddr, LocalPort, int(backlog), 1)
		if lerr != nil {
			return -1, errnoOf(lerr), nil
		}
		s.ln = ln
		return 0, "", nil
	case "accept":
		s, err := r.sock(c)
		if err != nil {
			return 0, "", err
		}
		if s.ln == nil {
			return -1, "EINVAL", nil
		}
		conn, aerr := s.ln.Accept(r.now)
		if aerr != nil {
			return -1, errnoOf(aerr), nil
		}
		if c.Ret < 0 {
			return 0, "", nil // accepted although the script expects failure: reported by the caller
		}
		r.fds[c.Ret] = &socket{c: conn}
		r.conn = conn
		return c.Ret, "", nil
	case "connect":
		s, err := r.sock(c)
		if err != nil {
			return 0, "", err
		}
		r.pport, r.lport = LocalPort, 0
		conn, cerr := r.l.Connect(r.now, LocalAddr, 0, RemoteAddr, LocalPort, 2)
		if cerr != nil {
			return -1, errnoOf(cerr), nil
		}
		_, r.lport, _, _ = conn.Endpoints()
		r.state = conn.State()
		s.c, r.conn = conn, conn
		return -1, "EINPROGRESS", nil // non-blocking: completion is observed on the wire
	case "write", "read":
		s, err := r.sock(c)
		if err != nil {
			return 0, "", err
		}
		n, err := r.arg(c, 2)
		if err != nil {
			return 0, "", err
		}
		if s.c == nil || n < 0 || n > 1<<24 {
			return -1, "EINVAL", nil
		}
		buf := make([]byte, n)
		var got int
		var ioerr error
		if c.Name == "write" {
			got, ioerr = s.c.Send(r.now, buf)
		} else {
			got, ioerr = s.c.Recv(r.now, buf)
			if ioerr == io.EOF {
				return 0, "", nil
			}
		}
		if ioerr != nil && got == 0 {
			return -1, errnoOf(ioerr), nil
		}
		return int64(got), "", nil
	case "shutdown":
		s, err := r.sock(c)
		if err != nil {
			return 0, "", err
		}
		if s.c == nil {
			return -1, "ENOTCONN", nil
		}
		if len(c.Args) > 1 && c.Args[1] == "SHUT_RD" {
			return 0, "", nil
		}
		if e := s.c.CloseWrite(r.now); e != nil {
			return -1, errnoOf(e), nil
		}
		return 0, "", nil
	case "close":
		fd, err := r.arg(c, 0)
		if err != nil {
			return 0, "", err
		}
		s := r.fds[fd]
		if s == nil {
			return -1, "EBADF", nil
		}
		delete(r.fds, fd)
		var e error
		switch {
		case s.ln != nil:
			s.ln.Close(r.now)
		case s.c != nil && s.linger0:
			e = s.c.Abort(r.now)
		case s.c != nil:
			e = s.c.Close(r.now)
		}
		if e != nil {
			return -1, errnoOf(e), nil
		}
		return 0, "", nil
	}
	return 0, "", r.fail("unsupported call %q", c.Name)
}

// Linux TCP state names (as in tcp_info.tcpi_state) for assertions.
var linuxStates = map[string]tcp.State{
	"TCP_CLOSE": tcp.StateClosed, "TCP_LISTEN": tcp.StateListen, "TCP_SYN_SENT": tcp.StateSynSent,
	"TCP_SYN_RECV": tcp.StateSynReceived, "TCP_ESTABLISHED": tcp.StateEstablished,
	"TCP_FIN_WAIT1": tcp.StateFinWait1, "TCP_FIN_WAIT2": tcp.StateFinWait2,
	"TCP_CLOSE_WAIT": tcp.StateCloseWait, "TCP_CLOSING": tcp.StateClosing,
	"TCP_LAST_ACK": tcp.StateLastAck, "TCP_TIME_WAIT": tcp.StateTimeWait,
}

// assert evaluates "tcpi_state == TCP_X" (the connection under test),
// "drops.Reason == N" (the layer's drop counter for a tcp.Reason) or
// "counters.Field == N" (a uint64 field of tcp.Counters, e.g. OOWAckLimited).
func (r *runner) assert(expr string) error {
	lhs, rhs, ok := strings.Cut(expr, "==")
	if !ok {
		return r.fail("assert: only \"==\" is supported: %q", expr)
	}
	lhs, rhs = strings.TrimSpace(lhs), strings.TrimSpace(rhs)
	switch {
	case lhs == "tcpi_state":
		want, ok := linuxStates[rhs]
		if !ok {
			return r.fail("assert: unknown state %q", rhs)
		}
		if r.state != want {
			f := r.fail("state is %v, script asserts %v", r.state, want)
			f.Want, f.Got = want.String(), r.state.String()
			return f
		}
		return nil
	case strings.HasPrefix(lhs, "drops."):
		name := lhs[len("drops."):]
		n, err := strconv.ParseUint(rhs, 10, 64)
		if err != nil {
			return r.fail("assert: bad count %q", rhs)
		}
		for reason := tcp.Reason(0); reason < tcp.NumReasons; reason++ {
			if reason.String() == name {
				if got := r.l.Counters().Drops[reason]; got != n {
					f := r.fail("drop counter %s is %d, script asserts %d", name, got, n)
					f.Want, f.Got = strconv.FormatUint(n, 10), strconv.FormatUint(got, 10)
					return f
				}
				return nil
			}
		}
		return r.fail("assert: unknown drop reason %q", name)
	case strings.HasPrefix(lhs, "counters."):
		name := lhs[len("counters."):]
		n, err := strconv.ParseUint(rhs, 10, 64)
		if err != nil {
			return r.fail("assert: bad count %q", rhs)
		}
		f := reflect.ValueOf(r.l.Counters()).Elem().FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.Uint64 {
			return r.fail("assert: unknown counter %q", name)
		}
		if got := f.Uint(); got != n {
			ff := r.fail("counter %s is %d, script asserts %d", name, got, n)
			ff.Want, ff.Got = strconv.FormatUint(n, 10), strconv.FormatUint(got, 10)
			return ff
		}
		return nil
	}
	return r.fail("assert: unsupported expression %q", expr)
}
