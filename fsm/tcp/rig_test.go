package tcp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// rig drives one Layer ("us", TCP B in the RFC figures unless a test says
// otherwise) with hand-written segments from a scripted peer, in the style of
// smoltcp's tests: send injects a segment, recv asserts the next segment we
// emit, recvNothing asserts silence.
type rig struct {
	t      *testing.T
	now    time.Time
	l      *Layer
	o      *capture
	isses  []uint32 // ISNs our layer will pick, in order
	us     wire.Addr
	peer   wire.Addr
	uport  uint16 // our port
	pport  uint16 // the peer's port
	ln     *Listener
	c      *Conn // the connection under test
	peerWS uint8
	meta   SegMeta  // IP metadata of the segment recv last took
	mark   dropMark // counters at the last segment input (checkDrops)
}

// dropMark is what checkDrops compares: segments given to the layer and
// drops counted, every reason.
type dropMark struct {
	segsIn uint64
	drops  [NumReasons]uint64
}

// checkDrops asserts the property drop-counts-a-segment: a drop counter
// counts a segment discarded, so none moves unless a segment arrived since
// the last mark. User calls (SEND, CLOSE, ABORT ...) and timers discard no
// segment: a row of theirs that said drop (or code counting one) would
// show here. The rig checks it around every segment it sends, every
// advance of the clock and at the end of the test, so a drop counted by a
// user call or a timer fails the test that made it.
func (r *rig) checkDrops(when string) {
	r.t.Helper()
	ctr := r.l.Counters()
	if ctr.SegsIn == r.mark.segsIn {
		for reason, n := range ctr.Drops {
			if n != r.mark.drops[reason] {
				r.t.Fatalf("drop-counts-a-segment: %s: drops[%v] went %d -> %d with no segment received (a user call or timer counted a drop)",
					when, Reason(reason), r.mark.drops[reason], n)
			}
		}
	}
	r.mark = dropMark{ctr.SegsIn, ctr.Drops}
}

func newRig(t *testing.T, cfg Config, isses ...uint32) *rig {
	r := &rig{t: t, now: epoch, o: &capture{}, isses: isses, us: addrB, peer: addrA, uport: 80, pport: 1000}
	r.l = NewLayer(cfg, r.o, rand.New(rand.NewPCG(7, 7)))
	layersUnderTest = append(layersUnderTest, r.l)
	t.Cleanup(func() {
		if !t.Failed() {
			r.checkDrops("at the end of the test")
		}
	})
	r.l.issHook = func() seqnum.Value {
		if len(r.isses) == 0 {
			t.Fatal("rig: no ISS left")
		}
		v := r.isses[0]
		r.isses = r.isses[1:]
		return seqnum.Value(v)
	}
	return r
}

// listen opens a listener on our port.
func (r *rig) listen(backlog int) {
	r.t.Helper()
	ln, err := r.l.Listen(r.now, r.us, r.uport, backlog, 1)
	if err != nil {
		r.t.Fatal(err)
	}
	r.ln = ln
}

// connect is an active OPEN from our port to the peer's.
func (r *rig) connect() {
	r.t.Helper()
	c, err := r.l.Connect(r.now, r.us, r.uport, r.peer, r.pport, 2)
	if err != nil {
		r.t.Fatal(err)
	}
	r.c = c
}

// seg describes a segment: flags, SEQ, ACK, text and window.
type seg struct {
	flags wire.TCPFlags
	seq   uint32
	ack   uint32
	data  []byte
	wnd   uint16 // 0 means 65535 when sending (unless wnd0); when receiving, 0 skips the check
	wnd0  bool   // send a zero window
	opts  wire.TCPOptions
	tos   uint8 // IP TOS octet it arrives with (send only)
	unres bool  // from a neighbour not yet resolved (SegMeta.Unresolved, send only)
}

func (s seg) String() string {
	return fmt.Sprintf("<SEQ=%d><ACK=%d><CTL=%v><LEN=%d><WND=%d>", s.seq, s.ack, s.flags, len(s.data), s.wnd)
}

const (
	SYN = wire.FlagSYN
	ACK = wire.FlagACK
	FIN = wire.FlagFIN
	RST = wire.FlagRST
	PSH = wire.FlagPSH
)

// send injects s from the peer.
func (r *rig) send(s seg) {
	r.t.Helper()
	if s.wnd == 0 && !s.wnd0 {
		s.wnd = 0xffff
	}
	h := wire.TCPHeader{SrcPort: r.pport, DstPort: r.uport, Seq: s.seq, Ack: s.ack, Flags: s.flags, Window: s.wnd, Opts: s.opts}
	b := make([]byte, h.Len()+len(s.data))
	n := h.Put(b)
	copy(b[n:], s.data)
	wire.SetTCPChecksum(b, r.peer, r.us)
	r.checkDrops("before a segment " + s.String())
	// b is the segment's own: it stays valid, so a batch may coalesce it.
	r.l.InputIP(r.now, r.peer, r.us, SegMeta{TOS: s.tos, Stable: true, Unresolved: s.unres}, b, false)
	r.checkDrops("segment " + s.String())
	if r.c == nil && r.ln != nil {
		r.c = r.l.demux[connKey{r.us, r.peer, r.uport, r.pport}]
	}
}

// recv asserts that the next segment we sent matches want (PSH ignored;
// ACK checked only when want has ACK; window only when want.wnd != 0).
func (r *rig) recv(want seg) wire.TCP {
	r.t.Helper()
	if len(r.o.segs) == 0 {
		r.t.Fatalf("recv: nothing sent, want %v", want)
	}
	got := r.o.segs[0]
	r.o.segs = r.o.segs[1:]
	r.meta = got.meta
	t, err := wire.ParseTCP(got.b)
	if err != nil {
		r.t.Fatalf("recv: %v", err)
	}
	if !wire.TCPChecksumValid(got.b, got.src, got.dst) {
		r.t.Errorf("recv: bad checksum")
	}
	g := seg{flags: t.Flags() &^ PSH, seq: t.Seq(), ack: t.Ack(), data: t.Payload(), wnd: t.Window()}
	if got.src != r.us || got.dst != r.peer || t.SrcPort() != r.uport || t.DstPort() != r.pport {
		r.t.Errorf("recv: addressed %v:%d -> %v:%d", got.src, t.SrcPort(), got.dst, t.DstPort())
	}
	bad := g.flags != want.flags || g.seq != want.seq || (want.flags&ACK != 0 && g.ack != want.ack) ||
		len(g.data) != len(want.data) || (want.wnd != 0 && g.wnd != want.wnd)
	if bad {
		r.t.Fatalf("recv: got %v, want %v", g, want)
	}
	return t
}

// recvNothing asserts that we sent nothing.
func (r *rig) recvNothing() {
	r.t.Helper()
	if len(r.o.segs) > 0 {
		t, _ := wire.ParseTCP(r.o.segs[0].b)
		r.t.Fatalf("recvNothing: sent <SEQ=%d><ACK=%d><CTL=%v> (%d segments)", t.Seq(), t.Ack(), t.Flags(), len(r.o.segs))
	}
}

// advance moves simulated time by d and fires due timers.
func (r *rig) advance(d time.Duration) {
	r.t.Helper()
	r.checkDrops("before advancing the clock")
	r.now = r.now.Add(d)
	r.l.Poll(r.now)
	r.checkDrops(fmt.Sprintf("timers to +%v", d))
}

// state asserts the connection's state.
func (r *rig) state(want State) {
	r.t.Helper()
	if r.c == nil {
		r.t.Fatalf("no connection; want %v", want)
	}
	if got := r.c.State(); got != want {
		r.t.Fatalf("state %v, want %v", got, want)
	}
}

// dropped asserts a drop counter.
func (r *rig) dropped(reason Reason, want uint64) {
	r.t.Helper()
	if got := r.l.Counters().Drops[reason]; got != want {
		r.t.Fatalf("drops[%v] = %d, want %d", reason, got, want)
	}
}

// noDrops asserts that no drop was counted for any reason: every segment
// the test sent was taken (the done and continue rows of its path), none
// discarded.
func (r *rig) noDrops() {
	r.t.Helper()
	for reason, n := range r.l.Counters().Drops {
		if n != 0 {
			r.t.Fatalf("drops[%v] = %d, want no drop at all", Reason(reason), n)
		}
	}
}

// recvErr asserts what RECEIVE returns.
func (r *rig) recvErr(want error) {
	r.t.Helper()
	_, err := r.c.Recv(r.now, make([]byte, 16))
	if !errors.Is(err, want) {
		r.t.Fatalf("Recv error %v, want %v", err, want)
	}
}

// timeWaitActive brings us to TIME-WAIT by the active close (RFC 9293
// Figure 12): ESTABLISHED with ISS 99 and IRS 299, CLOSE, our FIN acked with
// the peer's FIN, which we acknowledge. Afterwards SND.NXT = 101 and
// RCV.NXT = 301.
func (r *rig) timeWaitActive() {
	r.t.Helper()
	r.establishedActive(99, 299)
	r.c.Close(r.now)
	r.recv(seg{flags: FIN | ACK, seq: 100, ack: 300})
	r.send(seg{flags: FIN | ACK, seq: 300, ack: 101})
	r.recv(seg{flags: ACK, seq: 101, ack: 301})
	r.state(StateTimeWait)
}

// closingPassive brings us to CLOSING (RFC 9293 Figure 13, simultaneous
// close): ESTABLISHED as the passive side with ISS 299 and IRS 99, our FIN
// sent by CloseWrite and crossed by the peer's, which we acknowledge.
// Afterwards SND.NXT = 301 and RCV.NXT = 101.
func (r *rig) closingPassive() {
	r.t.Helper()
	r.establishedPassive(99, 299)
	if err := r.c.CloseWrite(r.now); err != nil {
		r.t.Fatal(err)
	}
	r.recv(seg{flags: FIN | ACK, seq: 300, ack: 100})
	r.send(seg{flags: FIN | ACK, seq: 100, ack: 300}) // crosses our FIN
	r.recv(seg{flags: ACK, seq: 301, ack: 101})
	r.state(StateClosing)
}

// timeWaitWrite brings us to TIME-WAIT by a half-close: ESTABLISHED as the
// passive side with IRS irs and ISS iss, our FIN sent by CloseWrite, the
// peer's FIN acknowledging it, and our ACK of that FIN. The user has not
// closed: the connection stays a full Conn.
func (r *rig) timeWaitWrite(irs, iss uint32) {
	r.t.Helper()
	r.establishedPassive(irs, iss)
	if err := r.c.CloseWrite(r.now); err != nil {
		r.t.Fatal(err)
	}
	r.recv(seg{flags: FIN | ACK, seq: iss + 1, ack: irs + 1})
	r.send(seg{flags: FIN | ACK, seq: irs + 1, ack: iss + 2})
	r.recv(seg{flags: ACK, seq: iss + 2, ack: irs + 2})
	r.state(StateTimeWait)
}

// established brings us to ESTABLISHED as the passive side with ISS = iss
// and IRS = irs: afterwards SND.NXT = iss+1 and RCV.NXT = irs+1.
func (r *rig) establishedPassive(irs, iss uint32) {
	r.t.Helper()
	r.isses = append(r.isses, iss)
	r.listen(0)
	r.send(seg{flags: SYN, seq: irs})
	r.recv(seg{flags: SYN | ACK, seq: iss, ack: irs + 1})
	r.now = r.now.Add(100 * time.Millisecond) // one RTT: the first sample (RFC 6298 §2.2)
	r.send(seg{flags: ACK, seq: irs + 1, ack: iss + 1})
	r.state(StateEstablished)
	c, err := r.ln.Accept(r.now)
	if err != nil || c != r.c {
		r.t.Fatalf("accept: %v", err)
	}
	r.recvNothing()
}

// establishedActive brings us to ESTABLISHED as the active side.
func (r *rig) establishedActive(iss, irs uint32) {
	r.t.Helper()
	r.isses = append(r.isses, iss)
	r.connect()
	r.recv(seg{flags: SYN, seq: iss})
	r.now = r.now.Add(100 * time.Millisecond)
	r.send(seg{flags: SYN | ACK, seq: irs, ack: iss + 1})
	r.recv(seg{flags: ACK, seq: iss + 1, ack: irs + 1})
	r.state(StateEstablished)
}

func seqnumSize(n uint32) seqnum.Size { return seqnum.Size(n) }

func seqnumVal(n int) seqnum.Value { return seqnum.Value(n) }
