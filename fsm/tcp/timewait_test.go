package tcp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// twStep is one step of a TIME-WAIT script: a segment from the peer, a wait
// (timers fire), or an ICMP error for the 4-tuple.
type twStep struct {
	in   *seg
	wait time.Duration
	icmp bool
}

// twRig brings a rig (passive side, ISS 300, IRS 100, MSL 5 s) to TIME-WAIT
// after the user closed the connection; ts negotiates timestamps. full keeps
// the connection as a full Conn (the form before compaction).
func twRig(t *testing.T, ts, full bool) (*rig, *InvariantChecker) {
	r := newRig(t, Config{MSL: 5 * time.Second, ChallengeACKLimit: 2})
	r.l.twFull = full
	k := NewInvariantChecker()
	var fin seg
	if ts {
		ours := r.establishedTS(100, 300, 5000, true)
		fin = seg{flags: FIN | ACK, seq: 101, ack: 302, opts: tsOpt(5200, ours)}
	} else {
		r.establishedPassive(100, 300)
		fin = seg{flags: FIN | ACK, seq: 101, ack: 302}
	}
	if err := r.c.Close(r.now); err != nil {
		t.Fatal(err)
	}
	r.recv(seg{flags: FIN | ACK, seq: 301, ack: 101})
	r.send(fin)
	r.recv(seg{flags: ACK, seq: 302, ack: 102})
	r.state(StateTimeWait)
	r.isses = append(r.isses, 7000, 7100) // for a reopened connection
	if want := 1; full == (len(r.l.tw) == want) || full != (len(r.l.conns) == want) {
		t.Fatalf("full=%v: %d connections, %d TIME-WAIT records", full, len(r.l.conns), len(r.l.tw))
	}
	if err := k.Check(r.now, r.l); err != nil { // TIME-WAIT begins now
		t.Fatal(err)
	}
	return r, k
}

// twCounters is the layer's counters without the gauges that tell the two
// forms apart.
func twCounters(l *Layer) Counters {
	c := *l.Counters()
	c.TimeWaitRecords = 0
	return c
}

// TestTimeWaitRecordMatchesConn: a TIME-WAIT record behaves exactly like the
// full connection it replaced. Every script runs on both forms in lockstep;
// each step must emit the same bytes, fire the same table rows, count the
// same drops, leave the same state and deadline, and keep the invariants
// (RFC 9293 §3.10.7.4 TIME-WAIT: retransmitted FIN, RST, SYN reopen (MAY-2,
// SHLD-4), challenge ACKs (RFC 5961), 2*MSL expiry (MUST-13)).
func TestTimeWaitRecordMatchesConn(t *testing.T) {
	ts := func(v uint32) wire.TCPOptions { return tsOpt(v, 0) }
	scripts := []struct {
		name  string
		ts    bool
		steps []twStep
	}{
		{"retransmitted FIN, challenges, exact RST", true, []twStep{
			{wait: 6 * time.Second},
			{in: &seg{flags: FIN | ACK, seq: 101, ack: 302, opts: ts(5300)}},
			{wait: 9 * time.Second}, // past the first 2*MSL: restarted
			{icmp: true},
			{in: &seg{flags: RST, seq: 105}},
			{in: &seg{flags: RST, seq: 106}},
			{in: &seg{flags: RST, seq: 107}}, // over the challenge-ACK limit
			{in: &seg{flags: RST, seq: 101 + 1<<20}},
			{in: &seg{flags: ACK, seq: 102, ack: 302, data: []byte("x"), opts: ts(5400)}},
			{in: &seg{flags: ACK, seq: 102, ack: 200, opts: ts(5400)}}, // ACK below the range
			{in: &seg{flags: ACK, seq: 102, ack: 302, opts: ts(100)}},  // PAWS
			{in: &seg{flags: RST, seq: 102}},
			{in: &seg{flags: ACK, seq: 102, ack: 302}}, // CLOSED: RST
			{wait: 20 * time.Second},
		}},
		{"ACK range", true, []twStep{
			{in: &seg{flags: ACK, seq: 102, ack: 200, opts: ts(5300)}},                  // old, within MAX.SND.WND
			{in: &seg{flags: ACK, seq: 102, ack: 1<<32 - 100000 + 302, opts: ts(5300)}}, // below it: challenge (RFC 5961 §5.2)
			{in: &seg{flags: ACK, seq: 102, ack: 400, opts: ts(5300)}},                  // beyond SND.NXT
			{wait: 10 * time.Second},
		}},
		{"out-of-window ACKs rate-limited", false, []twStep{
			{in: &seg{flags: ACK, seq: 101 + 1<<20, ack: 302}}, // beyond the window: ACKed
			{in: &seg{flags: ACK, seq: 101 + 1<<20, ack: 302}}, // within OOWAckInterval: not
			{wait: 600 * time.Millisecond},
			{in: &seg{flags: ACK, seq: 101 + 1<<20, ack: 302}}, // ACKed again
			{in: &seg{flags: ACK, seq: 101 + 1<<20, ack: 302}}, // not
			{in: &seg{flags: FIN | ACK, seq: 101, ack: 302}},   // a retransmitted FIN always is
			{in: &seg{flags: SYN, seq: 50}},                    // an old SYN is limited too
			{wait: 20 * time.Second},
		}},
		{"expiry", true, []twStep{
			{wait: 10*time.Second - 1},
			{wait: 1},
			{in: &seg{flags: FIN | ACK, seq: 101, ack: 302, opts: ts(5300)}},
		}},
		{"reopen by timestamp", true, []twStep{
			{wait: time.Second},
			{in: &seg{flags: SYN, seq: 50, opts: ts(5100)}}, // older timestamp: no reopen
			{in: &seg{flags: SYN, seq: 50, opts: ts(5300)}}, // newer: reopens at a lower SEQ
			{in: &seg{flags: ACK, seq: 51, ack: 7001, opts: ts(5301)}},
			{wait: 20 * time.Second},
		}},
		{"reopen by sequence", false, []twStep{
			{in: &seg{flags: SYN, seq: 50}}, // old SEQ: no reopen
			{in: &seg{flags: FIN | ACK, seq: 101, ack: 302}},
			{wait: 3 * time.Second},
			{in: &seg{flags: SYN, seq: 9000}},
			{in: &seg{flags: ACK, seq: 9001, ack: 7001}},
			{wait: 20 * time.Second},
		}},
	}
	for _, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			full, kf := twRig(t, sc.ts, true)
			rec, kr := twRig(t, sc.ts, false)
			for i, st := range sc.steps {
				var icF, icR ICMPOutcome
				for _, r := range []*rig{full, rec} {
					r.o.segs = r.o.segs[:0]
					switch {
					case st.in != nil:
						r.send(*st.in)
					case st.icmp:
						o, _ := r.l.ICMPError(r.now, r.us, r.peer, r.uport, r.pport, 301, 3, 1, 0)
						if r == full {
							icF = o
						} else {
							icR = o
						}
					default:
						r.advance(st.wait)
					}
				}
				if icF != icR {
					t.Fatalf("step %d: ICMP %v from the Conn, %v from the record", i, icF, icR)
				}
				if len(full.o.segs) != len(rec.o.segs) {
					t.Fatalf("step %d: %d segments from the Conn, %d from the record", i, len(full.o.segs), len(rec.o.segs))
				}
				for j := range full.o.segs {
					if !bytes.Equal(full.o.segs[j].b, rec.o.segs[j].b) {
						t.Fatalf("step %d: segment %d differs:\nConn   %x\nrecord %x", i, j, full.o.segs[j].b, rec.o.segs[j].b)
					}
				}
				if twCounters(full.l) != twCounters(rec.l) {
					t.Fatalf("step %d: counters differ:\nConn   %+v\nrecord %+v", i, twCounters(full.l), twCounters(rec.l))
				}
				if full.c.State() != rec.c.State() || full.c.TCB() != rec.c.TCB() {
					t.Fatalf("step %d: Conn %v %+v, record %v %+v", i, full.c.State(), full.c.TCB(), rec.c.State(), rec.c.TCB())
				}
				if !full.l.NextDeadline().Equal(rec.l.NextDeadline()) {
					t.Fatalf("step %d: next deadline %v (Conn), %v (record)", i, full.l.NextDeadline(), rec.l.NextDeadline())
				}
				if err := kf.Check(full.now, full.l); err != nil {
					t.Fatalf("step %d (Conn): %v", i, err)
				}
				if err := kr.Check(rec.now, rec.l); err != nil {
					t.Fatalf("step %d (record): %v", i, err)
				}
			}
			if len(rec.l.tw) != 0 || len(rec.l.twHeap) != 0 || rec.l.Counters().TimeWaitRecords != 0 {
				t.Fatalf("%d records, %d deadlines left", len(rec.l.tw), len(rec.l.twHeap))
			}
		})
	}
}

// TestTimeWaitCompactOnlyAfterClose: a TIME-WAIT connection its user still
// holds (half-closed with CloseWrite, FIN consumed) stays a full Conn that
// RECEIVE reads from; Close turns it into a record, counted by the
// TimeWaitRecords gauge and still by Conns; its 4-tuple stays taken; expiry
// releases it.
func TestTimeWaitCompactOnlyAfterClose(t *testing.T) {
	r := newRig(t, Config{MSL: 5 * time.Second})
	r.timeWaitWrite(100, 300)
	if len(r.l.conns) != 1 || len(r.l.tw) != 0 {
		t.Fatalf("held by its user: %d connections, %d records", len(r.l.conns), len(r.l.tw))
	}
	r.recvErr(io.EOF)
	r.advance(time.Second)
	if err := r.c.Close(r.now); err != nil {
		t.Fatal(err)
	}
	ctr := r.l.Counters()
	if len(r.l.conns) != 0 || ctr.TimeWaitRecords != 1 || ctr.Conns != 1 || len(r.l.timers) != 0 {
		t.Fatalf("after Close: %d connections, %d timers, counters Conns %d TimeWaitRecords %d",
			len(r.l.conns), len(r.l.timers), ctr.Conns, ctr.TimeWaitRecords)
	}
	r.state(StateTimeWait)
	if d := r.l.NextDeadline().Sub(r.now); d != 9*time.Second {
		t.Fatalf("next deadline in %v, want the rest of 2*MSL (9s)", d)
	}
	if _, err := r.l.Connect(r.now, r.us, r.uport, r.peer, r.pport, 3); !errors.Is(err, sock.ErrExists) {
		t.Fatalf("Connect on a TIME-WAIT 4-tuple: %v, want ErrExists", err)
	}
	if err := r.l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	r.advance(9*time.Second - 1)
	r.state(StateTimeWait)
	r.advance(1)
	r.state(StateClosed)
	if ctr := r.l.Counters(); ctr.TimeWaitRecords != 0 || ctr.Conns != 0 || !r.l.NextDeadline().IsZero() {
		t.Fatalf("after 2*MSL: Conns %d TimeWaitRecords %d, next deadline %v", ctr.Conns, ctr.TimeWaitRecords, r.l.NextDeadline())
	}
}

// TestTimeWaitRecordsCountAgainstMaxConns: records are connections for
// Config.MaxConns, as the full TIME-WAIT Conns were.
func TestTimeWaitRecordsCountAgainstMaxConns(t *testing.T) {
	o := &capture{}
	l := NewLayer(Config{MaxConns: 3}, o, rand.New(rand.NewPCG(1, 2)))
	l.issHook = func() seqnum.Value { return 1000 }
	toTimeWait(t, l, o, 3, false)
	if len(l.tw) != 3 || len(l.conns) != 0 {
		t.Fatalf("%d records, %d connections, want 3 and 0", len(l.tw), len(l.conns))
	}
	if _, err := l.Connect(epoch, addrB, 0, addrA, 80, 9); !errors.Is(err, sock.ErrLimit) {
		t.Fatalf("Connect over MaxConns: %v, want ErrLimit", err)
	}
	l.Poll(epoch.Add(2 * l.cfg.MSL))
	if _, err := l.Connect(epoch.Add(2*l.cfg.MSL), addrB, 0, addrA, 80, 9); err != nil {
		t.Fatalf("Connect after the records expired: %v", err)
	}
}

// TestTimeWaitRecordHeap: many records whose 2*MSL restarts at different
// times (retransmitted FINs) expire each at its own deadline, in order; the
// deadline heap stays ordered throughout (Layer.CheckInvariants).
func TestTimeWaitRecordHeap(t *testing.T) {
	const n = 64
	o := &capture{}
	l := NewLayer(Config{MSL: 10 * time.Second}, o, rand.New(rand.NewPCG(3, 4)))
	l.issHook = func() seqnum.Value { return 1000 }
	toTimeWait(t, l, o, n, false)
	rng := rand.New(rand.NewPCG(5, 6))
	want := make(map[uint16]time.Time, n) // port -> expected expiry
	for i := range n {
		want[uint16(20000+i)] = epoch.Add(20 * time.Second)
	}
	now := epoch
	for range 200 {
		now = now.Add(time.Duration(rng.IntN(100)) * time.Millisecond)
		port := uint16(20000 + rng.IntN(n))
		h := wire.TCPHeader{SrcPort: 80, DstPort: port, Seq: 5001, Ack: 1002, Flags: FIN | ACK, Window: 0xffff}
		b := make([]byte, h.Len())
		h.Put(b)
		wire.SetTCPChecksum(b, addrA, addrB)
		l.Input(now, addrA, addrB, b, false) // retransmitted FIN: ACK, restart 2*MSL
		want[port] = now.Add(20 * time.Second)
		if err := l.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.tw) != n {
		t.Fatalf("%d records, want %d", len(l.tw), n)
	}
	for len(l.tw) > 0 {
		d := l.NextDeadline()
		var due []uint16
		for p, at := range want {
			if !at.After(d) {
				due = append(due, p)
			}
		}
		if len(due) == 0 {
			t.Fatalf("next deadline %v matches no record", d)
		}
		l.Poll(d.Add(-1))
		for _, p := range due {
			if l.tw[connKey{addrB, addrA, p, 80}] == nil {
				t.Fatalf("port %d released before its deadline %v", p, d)
			}
		}
		l.Poll(d)
		for _, p := range due {
			if l.tw[connKey{addrB, addrA, p, 80}] != nil {
				t.Fatalf("port %d kept past its deadline %v", p, d)
			}
			delete(want, p)
		}
		if err := l.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTimeWaitRecordInputAllocs: a segment for a TIME-WAIT record (here a
// retransmitted FIN, ACKed with 2*MSL restarted) allocates nothing.
func TestTimeWaitRecordInputAllocs(t *testing.T) {
	o := &capture{}
	l := NewLayer(Config{}, o, rand.New(rand.NewPCG(1, 2)))
	l.issHook = func() seqnum.Value { return 1000 }
	toTimeWait(t, l, o, 1, false)
	h := wire.TCPHeader{SrcPort: 80, DstPort: 20000, Seq: 5001, Ack: 1002, Flags: FIN | ACK, Window: 0xffff}
	b := make([]byte, h.Len())
	h.Put(b)
	wire.SetTCPChecksum(b, addrA, addrB)
	cnt := &countOutput{}
	l.out = cnt
	if n := testing.AllocsPerRun(100, func() { l.Input(epoch, addrA, addrB, b, true) }); n != 0 {
		t.Fatalf("%v allocations per segment", n)
	}
	if cnt.segs < 100 || len(l.tw) != 1 {
		t.Fatalf("%d ACKs sent, %d records: the record was not exercised", cnt.segs, len(l.tw))
	}
}

// countOutput counts the segments sent, without keeping (or allocating) them.
type countOutput struct{ segs int }

func (c *countOutput) SendSegment(src, dst wire.Addr, _ SegMeta, seg []byte) { c.segs++ }
func (c *countOutput) Notify(id uint64, ev sock.Readiness)                   {}

// TestTimeWaitRecordKeepsRule: a TIME-WAIT record reports the spec row that
// last decided for its connection, as the full Conn it replaced does (ss and
// the status page print it), before and after a retransmitted FIN.
func TestTimeWaitRecordKeepsRule(t *testing.T) {
	rules := func(full bool, fin bool) int {
		r, _ := twRig(t, false, full)
		if fin {
			r.send(seg{flags: FIN | ACK, seq: 101, ack: 302})
			r.recv(seg{flags: ACK, seq: 302, ack: 102})
		}
		infos := r.l.Info(nil) // the listener first
		if len(infos) != 2 || infos[1].State != StateTimeWait {
			t.Fatalf("full=%v: Info %+v, want the listener and one TIME-WAIT socket", full, infos)
		}
		return infos[1].Rule
	}
	for _, fin := range []bool{false, true} {
		conn, rec := rules(true, fin), rules(false, fin)
		if conn < 0 || rec != conn {
			t.Errorf("retransmitted FIN %v: the record's rule %d, the connection's %d", fin, rec, conn)
		}
	}
}

// TestTimeWaitRecycledForANewConnection: at Config.MaxConns, all of them
// TIME-WAIT records, a SYN that would open an embryo ends the record nearest
// its 2*MSL (through the TIME-WAIT timeout row) and is answered; one the
// table would answer otherwise (here the SYN queue is full and cookies are
// off) recycles nothing and is dropped, counted as before.
func TestTimeWaitRecycledForANewConnection(t *testing.T) {
	o := &capture{}
	l := NewLayer(Config{MaxConns: 2, SynBacklog: 1, NoSynCookies: true}, o, rand.New(rand.NewPCG(1, 2)))
	l.issHook = func() seqnum.Value { return 1000 }
	if _, err := l.Listen(epoch, addrB, 80, 4, 7); err != nil {
		t.Fatal(err)
	}
	toTimeWait(t, l, o, 2, false) // ports 20000, 20001 of addrB, to addrA:80
	oldest := connKey{addrB, addrA, 20000, 80}
	if len(l.tw) != 2 || l.nconns() != 2 {
		t.Fatalf("%d records, %d connections, want 2 and 2", len(l.tw), l.nconns())
	}
	syn := func(port uint16) {
		h := wire.TCPHeader{SrcPort: port, DstPort: 80, Seq: 9000, Flags: SYN, Window: 0xffff}
		b := make([]byte, h.Len())
		h.Put(b)
		wire.SetTCPChecksum(b, addrA, addrB)
		l.Input(epoch.Add(time.Second), addrA, addrB, b, false)
	}
	o.segs = o.segs[:0]
	syn(40000)
	if c := l.Counters(); c.TimeWaitRecycled != 1 || c.Drops[DropTooManyConns] != 0 || len(l.tw) != 1 || l.tw[oldest] != nil {
		t.Fatalf("SYN at MaxConns: recycled %d, dropped %d, %d records (oldest kept: %v)", c.TimeWaitRecycled, c.Drops[DropTooManyConns], len(l.tw), l.tw[oldest] != nil)
	}
	if len(o.segs) != 1 || wire.TCP(o.segs[0].b).Flags() != SYN|ACK {
		t.Fatalf("SYN at MaxConns answered with %d segments, want its SYN,ACK", len(o.segs))
	}
	if err := l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	// The embryo fills the SYN queue (SynBacklog 1): the table would drop
	// the next SYN, so no record is given up for it.
	syn(40001)
	if c := l.Counters(); c.TimeWaitRecycled != 1 || c.Drops[DropTooManyConns] != 1 || len(l.tw) != 1 {
		t.Fatalf("SYN with the SYN queue full: recycled %d, dropped %d, %d records; want 1, 1, 1", c.TimeWaitRecycled, c.Drops[DropTooManyConns], len(l.tw))
	}
}
