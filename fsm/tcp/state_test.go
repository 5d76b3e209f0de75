package tcp

import (
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// TestGuardsAndActionsImplemented: a guard or action the spec names without
// a method of tcpRun does not compile (Impl); the machine the layer runs
// passes fsmrt's check, and calls the methods themselves.
func TestGuardsAndActionsImplemented(t *testing.T) {
	l := NewLayer(Config{}, nil, rand.New(rand.NewPCG(1, 2)))
	if err := l.m.Check(); err != nil {
		t.Fatal(err)
	}
	f := l.m.Funcs()
	direct := func(fn any, name string) {
		got := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
		if !strings.HasSuffix(got, "/fsm/tcp.tcpRun."+name) {
			t.Errorf("%s is called through %s", name, got)
		}
	}
	for g := Guard(0); g < NumGuards; g++ {
		direct(f.Guards[g], "Guard"+g.String())
	}
	for a := Action(0); a < NumActions; a++ {
		direct(f.Actions[a], "Act"+a.String())
	}
}

// TestStageOrder pins the event order NextStage relies on (ev+1 walks the
// synchronized-state steps of RFC 9293 §3.10.7.4).
func TestStageOrder(t *testing.T) {
	want := []Event{EvSegSeq, EvSegRst, EvSegSec, EvSegSyn, EvSegAck, EvSegUrg, EvSegText, EvSegFin}
	for i, e := range want {
		if e != EvSegSeq+Event(i) {
			t.Fatalf("stage %d is %v, want %v", i, EvSegSeq+Event(i), e)
		}
	}
}

// TestStages: SEGMENT ARRIVES starts at SegPre in CLOSED, LISTEN and
// SYN-SENT and at SegSeq elsewhere; SegPre's continue resumes at SegUrg;
// synchronized states walk steps 1-8 and end after SegFin.
func TestStages(t *testing.T) {
	for st := range State(NumStates) {
		want := EvSegSeq
		if st == StateClosed || st == StateListen || st == StateSynSent {
			want = EvSegPre
		}
		if got := FirstStage(st); got != want {
			t.Errorf("FirstStage(%v) = %v, want %v", st, got, want)
		}
	}
	walk := func(ev Event) (evs []Event) {
		for more := true; more; ev, more = NextStage(ev) {
			evs = append(evs, ev)
		}
		return evs
	}
	if got, want := walk(EvSegSeq), []Event{EvSegSeq, EvSegRst, EvSegSec, EvSegSyn, EvSegAck, EvSegUrg, EvSegText, EvSegFin}; !slices.Equal(got, want) {
		t.Errorf("from SegSeq: %v, want %v", got, want)
	}
	if got, want := walk(EvSegPre), []Event{EvSegPre, EvSegUrg, EvSegText, EvSegFin}; !slices.Equal(got, want) {
		t.Errorf("from SegPre: %v, want %v", got, want)
	}
}

func TestClosedRstForms(t *testing.T) {
	r := newRig(t, Config{})
	r.send(seg{flags: ACK, seq: 10, ack: 77})
	r.recv(seg{flags: RST, seq: 77}) // R1
	r.send(seg{flags: SYN, seq: 10, data: []byte("abc")})
	r.recv(seg{flags: RST | ACK, seq: 0, ack: 14}) // R2: SEG.SEQ+SEG.LEN
	r.send(seg{flags: RST, seq: 10})
	r.recvNothing()
	r.dropped(DropNoConn, 2)
	r.dropped(DropClosedRst, 1)
	// The segments met the CLOSED state (no TCB): nothing was opened or
	// established, nothing is held.
	if ctr := r.l.Counters(); ctr.Established != 0 || ctr.PassiveOpens != 0 || ctr.Conns != 0 || ctr.Timers != 0 {
		t.Fatalf("after segments to no connection: %d established, %d passive opens, %d connections, %d timers; want none",
			ctr.Established, ctr.PassiveOpens, ctr.Conns, ctr.Timers)
	}
}

func TestListenRstAndAck(t *testing.T) {
	r := newRig(t, Config{})
	r.listen(0)
	r.send(seg{flags: RST, seq: 1})
	r.recvNothing()
	r.send(seg{flags: ACK, seq: 1, ack: 55})
	r.recv(seg{flags: RST, seq: 55})
	r.send(seg{flags: FIN, seq: 1})
	r.recvNothing()
	r.dropped(DropListenRst, 1)
	r.dropped(DropListenAck, 1)
	r.dropped(DropListenNoSyn, 1)
	if len(r.l.conns) != 0 {
		t.Fatalf("%d connections left", len(r.l.conns))
	}
}

func TestListenBacklogOverflow(t *testing.T) {
	r := newRig(t, Config{SynBacklog: 2, NoSynCookies: true}, 1000, 2000, 3000)
	r.listen(0)
	for i := range 3 {
		r.pport = uint16(1000 + i)
		r.send(seg{flags: SYN, seq: 5})
	}
	if n := len(r.o.take()); n != 2 {
		t.Fatalf("%d SYN-ACKs, want 2", n)
	}
	r.dropped(DropSynQueueOverflow, 1)
}

func TestSynReceivedAck(t *testing.T) {
	r := newRig(t, Config{}, 300)
	r.listen(0)
	r.send(seg{flags: SYN, seq: 100})
	r.recv(seg{flags: SYN | ACK, seq: 300, ack: 101})
	if _, err := r.ln.Accept(r.now); !errors.Is(err, sock.ErrWouldBlock) {
		t.Fatalf("accept before the handshake completed: %v", err)
	}
	r.send(seg{flags: ACK, seq: 101, ack: 301, wnd: 1234})
	r.state(StateEstablished)
	if r.c.tcb.SndWnd != 1234 || r.c.tcb.SndWl1 != 101 || r.c.tcb.SndWl2 != 301 {
		t.Fatalf("window not initialised: %+v", r.c.tcb)
	}
	if c, err := r.ln.Accept(r.now); err != nil || c != r.c {
		t.Fatalf("accept: %v", err)
	}
	r.noDrops()
}

func TestSynReceivedBadAck(t *testing.T) {
	r := newRig(t, Config{}, 300)
	r.listen(0)
	r.send(seg{flags: SYN, seq: 100})
	r.recv(seg{flags: SYN | ACK, seq: 300, ack: 101})
	r.send(seg{flags: ACK, seq: 101, ack: 999})
	r.recv(seg{flags: RST, seq: 999})
	r.state(StateSynReceived)
	r.dropped(DropBadAck, 1)
}

func TestSynReceivedDupSyn(t *testing.T) {
	r := newRig(t, Config{}, 300)
	r.listen(0)
	r.send(seg{flags: SYN, seq: 100})
	r.recv(seg{flags: SYN | ACK, seq: 300, ack: 101})
	r.send(seg{flags: SYN, seq: 100})
	r.recv(seg{flags: SYN | ACK, seq: 300, ack: 101})
	r.dropped(DropDupSyn, 1)
}

func TestSynReceivedRetransmitsSynAckThenGivesUp(t *testing.T) {
	r := newRig(t, Config{SynAckRetries: 2}, 300)
	r.listen(0)
	r.send(seg{flags: SYN, seq: 100})
	r.recv(seg{flags: SYN | ACK, seq: 300, ack: 101})
	r.advance(time.Second)
	r.recv(seg{flags: SYN | ACK, seq: 300, ack: 101})
	r.advance(2 * time.Second)
	r.recv(seg{flags: SYN | ACK, seq: 300, ack: 101})
	r.advance(4 * time.Second)
	r.recvNothing()
	r.state(StateClosed)
	if len(r.ln.embryos) != 0 || len(r.l.conns) != 0 {
		t.Fatal("embryonic connection left behind")
	}
}

func TestSynSentRstAcceptable(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	r.send(seg{flags: RST | ACK, seq: 0, ack: 101})
	r.state(StateClosed)
	r.recvErr(sock.ErrRefused)
}

func TestSynSentRstUnacceptableIgnored(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	r.send(seg{flags: RST | ACK, seq: 0, ack: 150})
	r.recvNothing()
	r.state(StateSynSent)
	r.send(seg{flags: RST, seq: 0})
	r.state(StateSynSent)
	r.dropped(DropSynSentBadAck, 1)
	r.dropped(DropSynSentRst, 1)
}

func TestSynSentOptionsNegotiated(t *testing.T) {
	r := newRig(t, Config{RecvBuf: 1 << 20}, 100)
	r.connect()
	syn := r.recv(seg{flags: SYN, seq: 100})
	var o wire.TCPOptions
	if err := wire.ParseTCPOptions(syn.Options(), &o); err != nil || !o.HasMSS || o.MSS != 1460 || !o.HasWScale || o.WScale != 5 {
		t.Fatalf("SYN options %+v (%v)", o, err)
	}
	r.send(seg{flags: SYN | ACK, seq: 300, ack: 101, wnd: 1000, opts: wire.TCPOptions{MSS: 1000, HasMSS: true, WScale: 3, HasWScale: true}})
	r.recv(seg{flags: ACK, seq: 101, ack: 301})
	if r.c.snd.mss != 1000 || r.c.snd.shift != 3 || r.c.rcv.shift != 5 || r.c.tcb.SndWnd != 1000 {
		t.Fatalf("negotiated mss %d shifts %d/%d wnd %d", r.c.snd.mss, r.c.snd.shift, r.c.rcv.shift, r.c.tcb.SndWnd)
	}
	r.send(seg{flags: ACK, seq: 301, ack: 101, wnd: 1000})
	if r.c.tcb.SndWnd != 8000 {
		t.Fatalf("scaled window %d, want 8000", r.c.tcb.SndWnd)
	}
}

func TestMSSDefault536(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299) // the SYN had no MSS option (MUST-15)
	r.c.Send(r.now, make([]byte, 2000))
	seq := uint32(300)
	for _, n := range []int{536, 536, 536, 392} {
		r.recv(seg{flags: ACK, seq: seq, ack: 100, data: make([]byte, n)})
		seq += uint32(n)
	}
}

func TestEstablishedData(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("hello")})
	r.advance(40 * time.Millisecond) // delayed ACK
	r.recv(seg{flags: ACK, seq: 300, ack: 105})
	b := make([]byte, 16)
	n, err := r.c.Recv(r.now, b)
	if err != nil || string(b[:n]) != "hello" {
		t.Fatalf("Recv %q %v", b[:n], err)
	}
	r.recvErr(sock.ErrWouldBlock)
	r.noDrops()
}

func TestEstablishedOutOfOrderHeld(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 105, ack: 300, data: []byte("world")})
	r.recv(seg{flags: ACK, seq: 300, ack: 100}) // duplicate ACK (MAY-13)
	r.recvErr(sock.ErrWouldBlock)
	r.send(seg{flags: ACK | FIN, seq: 110, ack: 300}) // FIN beyond the hole is held
	r.recv(seg{flags: ACK, seq: 300, ack: 100})
	r.state(StateEstablished)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("hello")})
	r.recv(seg{flags: ACK, seq: 300, ack: 111}) // hole filled: data and FIN
	r.state(StateCloseWait)
	b := make([]byte, 16)
	n, _ := r.c.Recv(r.now, b)
	if string(b[:n]) != "helloworld" {
		t.Fatalf("Recv %q", b[:n])
	}
	r.recvErr(io.EOF)
}

func TestEstablishedOutOfWindowData(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100 + 1<<20, ack: 300, data: []byte("x")})
	r.recv(seg{flags: ACK, seq: 300, ack: 100})
	r.send(seg{flags: ACK, seq: 50, ack: 300, data: []byte("old")})
	r.recv(seg{flags: ACK, seq: 300, ack: 100})
	r.dropped(DropOutOfWindow, 2)
	r.send(seg{flags: FIN, seq: 100 + 1<<20}) // no ACK bit: dropped silently (as Linux)
	r.recvNothing()
	r.dropped(DropNoAck, 1)
}

func TestEstablishedRstExact(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.SetID(9)
	r.send(seg{flags: RST, seq: 100})
	r.recvNothing()
	r.state(StateClosed)
	r.recvErr(sock.ErrReset)
	if _, err := r.c.Send(r.now, []byte("x")); !errors.Is(err, sock.ErrReset) {
		t.Fatalf("Send after reset: %v", err)
	}
}

func TestEstablishedRstInWindowChallenge(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: RST, seq: 101})
	r.recv(seg{flags: ACK, seq: 300, ack: 100}) // RFC 5961 §3.2 challenge ACK
	r.state(StateEstablished)
	r.send(seg{flags: RST, seq: 100 + 1<<20})
	r.recvNothing()
	r.dropped(DropRstChallenge, 1)
	r.dropped(DropRstOutOfWindow, 1)
}

func TestEstablishedSynChallenge(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: SYN, seq: 120})
	r.recv(seg{flags: ACK, seq: 300, ack: 100}) // RFC 5961 §4
	r.state(StateEstablished)
	r.dropped(DropSynChallenge, 1)
}

func TestEstablishedAckTooNew(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 400, data: []byte("x")})
	r.recv(seg{flags: ACK, seq: 300, ack: 100})
	r.recvErr(sock.ErrWouldBlock) // the text was not accepted
	r.dropped(DropAckTooNew, 1)
}

func TestEstablishedCloseWithUnreadDataResets(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: []byte("unread")})
	r.advance(40 * time.Millisecond) // delayed ACK
	r.recv(seg{flags: ACK, seq: 300, ack: 106})
	r.c.Close(r.now)
	r.recv(seg{flags: RST | ACK, seq: 300, ack: 106}) // SHLD-3
	if len(r.l.conns) != 0 {
		t.Fatal("connection left behind")
	}
}

func TestFinWait1DataAfterCloseResets(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.Close(r.now)
	r.recv(seg{flags: FIN | ACK, seq: 300, ack: 100})
	r.send(seg{flags: ACK, seq: 100, ack: 301, data: []byte("late")})
	r.recv(seg{flags: RST | ACK, seq: 301, ack: 100}) // SHLD-3
	r.state(StateClosed)
	r.dropped(DropTextAfterFin, 1) // the text is discarded
}

func TestFinWait2Fin(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.CloseWrite(r.now)
	r.recv(seg{flags: FIN | ACK, seq: 300, ack: 100})
	r.send(seg{flags: ACK, seq: 100, ack: 301})
	r.state(StateFinWait2)
	r.send(seg{flags: ACK, seq: 100, ack: 301, data: []byte("more")}) // half-close: still receiving
	r.advance(40 * time.Millisecond)                                  // delayed ACK
	r.recv(seg{flags: ACK, seq: 301, ack: 104})
	r.send(seg{flags: FIN | ACK, seq: 104, ack: 301})
	r.recv(seg{flags: ACK, seq: 301, ack: 105})
	r.state(StateTimeWait)
	b := make([]byte, 8)
	if n, _ := r.c.Recv(r.now, b); string(b[:n]) != "more" {
		t.Fatalf("Recv %q", b[:n])
	}
	r.recvErr(io.EOF)
	r.noDrops()
}

func TestFinWait2OrphanTimesOut(t *testing.T) {
	r := newRig(t, Config{FinWait2Timeout: 10 * time.Second}, 299)
	r.establishedPassive(99, 299)
	r.c.Close(r.now)
	r.recv(seg{flags: FIN | ACK, seq: 300, ack: 100})
	r.send(seg{flags: ACK, seq: 100, ack: 301})
	r.state(StateFinWait2)
	r.advance(10*time.Second - 1)
	r.state(StateFinWait2)
	r.advance(1)
	r.state(StateClosed)
	if len(r.l.conns) != 0 {
		t.Fatal("orphan left behind")
	}
}

func TestTimeWaitLastsTwoMSL(t *testing.T) {
	r := newRig(t, Config{MSL: 5 * time.Second}, 99)
	r.timeWaitActive()
	if d := r.l.NextDeadline().Sub(r.now); d != 10*time.Second {
		t.Fatalf("next deadline in %v, want 2*MSL", d)
	}
	r.advance(6 * time.Second)
	r.send(seg{flags: FIN | ACK, seq: 300, ack: 101}) // retransmitted FIN: ACK it, restart 2*MSL
	r.recv(seg{flags: ACK, seq: 101, ack: 301})
	r.noDrops() // acknowledged, not dropped
	r.advance(10*time.Second - 1)
	r.state(StateTimeWait)
	r.advance(1)
	r.state(StateClosed)
	if len(r.l.conns) != 0 {
		t.Fatal("TIME-WAIT connection not freed")
	}
}

// TestTimeWaitFinRetransmitIgnoresItsAck: a retransmitted FIN in TIME-WAIT
// is acknowledged and restarts 2*MSL at the sequence check (RFC 9293
// §3.10.7.4, step 1 and TIME-WAIT's MUST-13), as Linux's
// tcp_timewait_state_process does for any out-of-window segment: whatever
// its ACK field says, it reaches no later stage, so an ACK of data we never
// sent is not challenged and counts no drop (the row's outcome is done).
func TestTimeWaitFinRetransmitIgnoresItsAck(t *testing.T) {
	r := newRig(t, Config{MSL: 5 * time.Second}, 99)
	r.timeWaitActive()
	r.advance(3 * time.Second)
	r.send(seg{flags: FIN | ACK, seq: 300, ack: 5000}) // retransmitted, its ACK beyond SND.NXT
	r.recv(seg{flags: ACK, seq: 101, ack: 301})
	if n := len(r.o.segs); n != 0 {
		t.Fatalf("%d more segments sent for one retransmitted FIN: one ACK wanted", n)
	}
	r.noDrops()
	if d := r.l.NextDeadline().Sub(r.now); d != 10*time.Second {
		t.Fatalf("next deadline in %v, want 2*MSL restarted", d)
	}
}

func TestTimeWaitReopenBySyn(t *testing.T) {
	r := newRig(t, Config{}, 299, 5000)
	r.establishedPassive(99, 299)
	r.c.Close(r.now)
	r.recv(seg{flags: FIN | ACK, seq: 300, ack: 100})
	r.send(seg{flags: FIN | ACK, seq: 100, ack: 301})
	r.recv(seg{flags: ACK, seq: 301, ack: 101})
	r.state(StateTimeWait)
	r.c = nil
	r.send(seg{flags: SYN, seq: 9000}) // MAY-2: a newer SYN reopens
	r.recv(seg{flags: SYN | ACK, seq: 5000, ack: 9001})
	r.state(StateSynReceived)
}

func TestLastAckAck(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: FIN | ACK, seq: 100, ack: 300})
	r.recv(seg{flags: ACK, seq: 300, ack: 101})
	r.c.Close(r.now)
	r.recv(seg{flags: FIN | ACK, seq: 300, ack: 101})
	r.state(StateLastAck)
	r.send(seg{flags: ACK, seq: 101, ack: 300}) // does not cover the FIN
	r.state(StateLastAck)
	r.send(seg{flags: ACK, seq: 101, ack: 301})
	r.state(StateClosed)
	if len(r.l.conns) != 0 {
		t.Fatal("connection left behind")
	}
	r.noDrops()
}

func TestAbortSendsRst(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.Abort(r.now)
	r.recv(seg{flags: RST | ACK, seq: 300, ack: 100})
	r.state(StateClosed)
}

// TestListenerCloseResetsPending: closing a listener resets the connection
// that completed but was never accepted; the embryo is reset too under
// rfc9293, deleted silently under linux (inet_csk_listen_stop).
func TestListenerCloseResetsPending(t *testing.T) {
	for p := Profile(0); p < NumProfiles; p++ {
		t.Run(p.String(), func(t *testing.T) { testListenerCloseResetsPending(t, p) })
	}
}

func testListenerCloseResetsPending(t *testing.T, p Profile) {
	r := newRig(t, Config{Profile: p}, 300, 400)
	r.listen(0)
	r.send(seg{flags: SYN, seq: 100}) // stays embryonic
	r.recv(seg{flags: SYN | ACK, seq: 300, ack: 101})
	r.pport = 1001
	r.c = nil
	r.send(seg{flags: SYN, seq: 200}) // completes, never accepted
	r.recv(seg{flags: SYN | ACK, seq: 400, ack: 201})
	r.send(seg{flags: ACK, seq: 201, ack: 401})
	r.ln.Close(r.now)
	rsts := r.o.take()
	want := []uint32{300 + 1, 400 + 1} // the embryo's, then the accept queue's
	if p == ProfileLinux {
		want = want[1:]
	}
	if len(rsts) != len(want) {
		t.Fatalf("%d RSTs, want %d", len(rsts), len(want))
	}
	for i, f := range rsts {
		if got := wire.TCP(f.b).Seq(); got != want[i] {
			t.Errorf("RST %d at SEQ %d, want %d", i, got, want[i])
		}
	}
	if len(r.l.conns) != 0 {
		t.Fatalf("%d zombies after listener close", len(r.l.conns))
	}
}

// TestRTODoubles: a black-holed segment is retransmitted at 1, 2, 4, 8 ... s
// (RFC 6298 §5.5) until R2, then the connection times out (MUST-20).
func TestRTODoubles(t *testing.T) {
	r := newRig(t, Config{MaxRetries: 5}, 299)
	r.establishedPassive(99, 299)
	r.c.Send(r.now, []byte("x"))
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("x")})
	base := r.c.RTO() // 300ms after the handshake's 100ms sample
	if base != 300*time.Millisecond {
		t.Fatalf("RTO after a 100ms handshake %v, want 300ms", base)
	}
	var gaps []time.Duration
	last := r.now
	for range 5 {
		d := r.l.NextDeadline()
		r.now = d
		r.l.Poll(d)
		r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("x")})
		gaps = append(gaps, d.Sub(last))
		last = d
	}
	for i, g := range gaps {
		if want := base << i; g != want {
			t.Fatalf("retransmission %d after %v, want %v (gaps %v)", i+1, g, want, gaps)
		}
	}
	r.now = r.l.NextDeadline()
	r.l.Poll(r.now)
	r.state(StateClosed)
	r.recvErr(sock.ErrTimeout)
}

func TestKarnNoSampleFromRetransmission(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.Send(r.now, []byte("x"))
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("x")})
	srtt := r.c.snd.srtt
	r.advance(r.c.RTO())
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("x")})
	r.advance(10 * time.Millisecond)
	r.send(seg{flags: ACK, seq: 100, ack: 301})
	if r.c.snd.srtt != srtt {
		t.Fatalf("RTT sampled from a retransmitted segment (srtt %v -> %v)", srtt, r.c.snd.srtt)
	}
	if r.c.RTO() != 600*time.Millisecond {
		t.Fatalf("RTO %v after backoff, want 600ms kept until a new sample", r.c.RTO())
	}
}

func TestRTTSample(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.Send(r.now, []byte("x"))
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("x")})
	r.advance(100 * time.Millisecond)
	r.send(seg{flags: ACK, seq: 100, ack: 301})
	// Handshake: SRTT = 100ms, RTTVAR = 50ms. Now R' = 100ms:
	// RTTVAR = 3/4*50 + 1/4*0 = 37.5ms, SRTT = 100ms, RTO = 100 + 4*37.5 = 250ms (RFC 6298 §2.3).
	if r.c.snd.srtt != 100*time.Millisecond || r.c.RTO() != 250*time.Millisecond {
		t.Fatalf("srtt %v rto %v", r.c.snd.srtt, r.c.RTO())
	}
}

// TestZeroWindowProbe: with the peer's window closed, data waits; one RTO
// later a one-octet probe goes out (MUST-36, SHLD-29), repeated with backoff
// (SHLD-30) and without giving up while the probes are answered (MUST-37).
func TestZeroWindowProbe(t *testing.T) {
	r := newRig(t, Config{MaxRetries: 3}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 300, wnd0: true})
	if r.c.tcb.SndWnd != 0 {
		t.Fatalf("SND.WND %d, want 0", r.c.tcb.SndWnd)
	}
	r.c.Send(r.now, []byte("0123456789"))
	r.recvNothing()
	rto := r.c.RTO()
	r.advance(rto)
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("0")})
	for i := range 6 { // more than MaxRetries probes, each answered
		r.send(seg{flags: ACK, seq: 100, ack: 300, wnd0: true})
		r.advance(rto<<(i+1) - 1)
		r.recvNothing()
		r.advance(1)
		r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("0")})
	}
	r.state(StateEstablished)
	r.send(seg{flags: ACK, seq: 100, ack: 300, wnd: 1000})
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("0123456789")})
	r.recvNothing()
	r.send(seg{flags: ACK, seq: 100, ack: 310, wnd: 1000})
	if r.l.NextDeadline() != (time.Time{}) {
		t.Fatal("timer still armed with nothing in flight")
	}
}

func TestReceiveWindowNeverShrinks(t *testing.T) {
	r := newRig(t, Config{RecvBuf: 4096}, 299)
	r.establishedPassive(99, 299)
	edge := r.c.rcv.edge
	for i := range 4 {
		r.send(seg{flags: ACK, seq: 100 + uint32(i*1000), ack: 300, data: make([]byte, 1000)})
		r.advance(40 * time.Millisecond) // delayed ACK
		got := r.recv(seg{flags: ACK, seq: 300, ack: 100 + uint32((i+1)*1000)})
		e := r.c.tcb.RcvNxt.Add(seqnumSize(uint32(got.Window())))
		if e.LessThan(edge) {
			t.Fatalf("right edge moved left: %v < %v", e, edge)
		}
		edge = e
	}
	// 4000 unread of 4096: the window is 96, then data beyond it is refused.
	r.send(seg{flags: ACK, seq: 4100, ack: 300, data: make([]byte, 200)})
	r.recv(seg{flags: ACK, seq: 300, ack: 4196})
}

// TestReadReopensWindow: a full receive buffer advertises a zero window;
// reading it sends a window update (RFC 9293 §3.8.6.2.2).
func TestReadReopensWindow(t *testing.T) {
	r := newRig(t, Config{RecvBuf: 4096}, 299)
	r.establishedPassive(99, 299)
	r.send(seg{flags: ACK, seq: 100, ack: 300, data: make([]byte, 4096)})
	got := r.recv(seg{flags: ACK, seq: 300, ack: 4196})
	if got.Window() != 0 {
		t.Fatalf("window %d with a full buffer, want 0", got.Window())
	}
	r.send(seg{flags: ACK, seq: 4196, ack: 300, data: []byte("x")}) // zero window: not acceptable
	r.recv(seg{flags: ACK, seq: 300, ack: 4196})
	b := make([]byte, 1000)
	r.c.Recv(r.now, b)
	r.recvNothing() // 1000 octets: below min(RCV.BUFF/2, MSS) = 1460... and half the buffer
	r.c.Recv(r.now, b)
	got = r.recv(seg{flags: ACK, seq: 300, ack: 4196})
	if got.Window() != 2000 {
		t.Fatalf("window update %d, want 2000", got.Window())
	}
}

func TestSendAfterCloseWrite(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.CloseWrite(r.now)
	r.recv(seg{flags: FIN | ACK, seq: 300, ack: 100})
	if _, err := r.c.Send(r.now, []byte("x")); !errors.Is(err, sock.ErrClosing) {
		t.Fatalf("Send after CloseWrite: %v", err)
	}
}

func TestSendBufferFull(t *testing.T) {
	r := newRig(t, Config{SendBuf: 1000}, 299)
	r.establishedPassive(99, 299)
	n, err := r.c.Send(r.now, make([]byte, 1500))
	if n != 1000 || err != nil {
		t.Fatalf("Send = %d, %v; want 1000, nil", n, err)
	}
	if _, err := r.c.Send(r.now, []byte("x")); err != sock.ErrWouldBlock {
		t.Fatalf("Send on a full buffer: %v", err)
	}
}

func TestConnectEphemeralPortsDistinct(t *testing.T) {
	r := newRig(t, Config{}, 1, 2, 3, 4)
	seen := map[uint16]bool{}
	for range 4 {
		c, err := r.l.Connect(r.now, addrB, 0, addrA, 80, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, lport, _, _ := c.Endpoints()
		if lport < ephFirst || seen[lport] {
			t.Fatalf("ephemeral port %d (seen %v)", lport, seen)
		}
		seen[lport] = true
	}
	if _, err := r.l.Connect(r.now, addrB, 0, wire.Addr{224, 0, 0, 1}, 80, 0); err == nil {
		t.Fatal("connect to a multicast address accepted (MUST-46)")
	}
}
