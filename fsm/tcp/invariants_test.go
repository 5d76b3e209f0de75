package tcp

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// mustHold fails the test if the layer's invariants do not hold.
func mustHold(t *testing.T, k *InvariantChecker, now time.Time, l *Layer) {
	t.Helper()
	if err := k.Check(now, l); err != nil {
		t.Fatal(err)
	}
}

// mustBreak asserts that check reports an invariant violation mentioning want.
func mustBreak(t *testing.T, err error, want string) {
	t.Helper()
	if !errors.Is(err, ErrInvariant) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an invariant violation mentioning %q", err, want)
	}
}

// TestInvariantsHoldAcrossWrap drives a connection whose sequence numbers
// wrap past 2^32 in both directions and checks the invariants at every step.
func TestInvariantsHoldAcrossWrap(t *testing.T) {
	r := newRig(t, Config{})
	k := NewInvariantChecker()
	r.establishedPassive(0xffffff00, 0xfffffff0)
	mustHold(t, k, r.now, r.l)
	data := make([]byte, 1000)
	for i := uint32(0); i < 4; i++ {
		r.send(seg{flags: ACK, seq: 0xffffff01 + i*1000, ack: 0xfffffff1, data: data})
		mustHold(t, k, r.now, r.l)
		r.advance(200 * time.Millisecond)
		mustHold(t, k, r.now, r.l)
	}
	if n, err := r.c.Send(r.now, make([]byte, 3000)); n != 3000 || err != nil {
		t.Fatalf("send: %d %v", n, err)
	}
	mustHold(t, k, r.now, r.l)
	irs, iss := uint32(0xffffff00), uint32(0xfffffff0)
	r.send(seg{flags: ACK, seq: irs + 1 + 4000, ack: iss + 1 + 3000})
	mustHold(t, k, r.now, r.l)
	if k.Tracked() != 1 {
		t.Fatalf("tracked %d connections, want 1", k.Tracked())
	}
}

// TestInvariantsCatchCorruption breaks one variable at a time and checks
// that the matching invariant reports it, so none of the checks is vacuous.
func TestInvariantsCatchCorruption(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(c *Conn)
		want   string
	}{
		{"SndNxtBeforeSndUna", func(c *Conn) { c.tcb.SndNxt = c.tcb.SndUna - 1 }, "before SND.UNA"},
		{"FlightBeyondBuffer", func(c *Conn) { c.tcb.SndNxt = c.tcb.SndUna + 10 }, "flight"},
		{"FinWithoutClose", func(c *Conn) { c.snd.finSent = true }, "FIN sent without CLOSE"},
		{"RcvNxtBack", func(c *Conn) { c.tcb.RcvNxt -= 5; c.rcv.edge -= 5 }, "RCV.NXT moved back"},
		{"EdgeLeft", func(c *Conn) { c.rcv.edge -= 5 }, "right edge"},
		{"SndUnaBack", func(c *Conn) { c.tcb.SndUna--; c.tcb.SndNxt-- }, "SND.UNA moved back"},
		{"WindowBeyondRing", func(c *Conn) { c.rcv.edge = c.tcb.RcvNxt.Add(seqnumSize(uint32(c.rcv.buf.size) + 1)) }, "exceed the receive ring"},
		{"InFlightNoTimer", func(c *Conn) { c.snd.buf.n = 1; c.tcb.SndNxt++; c.snd.rtxAt = 0 }, "no retransmission timer"},
		{"TimeWaitNoTimer", func(c *Conn) { c.state = StateTimeWait }, "without its 2*MSL timer"},
		{"OOOBehindRcvNxt", func(c *Conn) {
			c.rcv.buf.ooo = c.rcv.buf.oooPool.get(maxOOO)[:1]
			c.rcv.buf.ooo[0] = seqRange{c.tcb.RcvNxt - 10, c.tcb.RcvNxt - 5}
		}, "out-of-order range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{})
			k := NewInvariantChecker()
			r.establishedPassive(1000, 5000)
			mustHold(t, k, r.now, r.l)
			tc.break_(r.c)
			mustBreak(t, k.Check(r.now, r.l), tc.want)
		})
	}
}

// TestInvariantsTimeWait checks MUST-13 both ways: a TIME-WAIT that ends
// after 2*MSL passes, one whose timer was cut short fails; for a full Conn
// and for a TIME-WAIT record (timewait.go).
func TestInvariantsTimeWait(t *testing.T) {
	for i := range 4 {
		short, full := i&1 != 0, i&2 != 0
		r := newRig(t, Config{MSL: time.Second})
		r.l.twFull = full
		k := NewInvariantChecker()
		r.establishedActive(100, 300)
		if err := r.c.Close(r.now); err != nil {
			t.Fatal(err)
		}
		r.recv(seg{flags: FIN | ACK, seq: 101, ack: 301})
		r.send(seg{flags: FIN | ACK, seq: 301, ack: 102})
		r.state(StateTimeWait)
		mustHold(t, k, r.now, r.l)
		if short {
			if rec := r.c.record(); full != (rec == nil) {
				t.Fatalf("full=%v: record %v", full, rec)
			} else if rec != nil { // the compact form
				rec.at = r.l.tick(r.now).Add(time.Second)
				r.l.twHeap.fix(rec)
			} else {
				r.c.twAt = r.l.tick(r.now).Add(time.Second)
				r.l.schedule(r.c) // keep the timer heap exact: only MUST-13 is broken
			}
			mustBreak(t, k.Check(r.now, r.l), "less than 2*MSL")
			continue
		}
		r.advance(1999 * time.Millisecond)
		mustHold(t, k, r.now, r.l)
		r.advance(time.Millisecond)
		mustHold(t, k, r.now, r.l)
		if r.l.Counters().Conns != 0 || k.Tracked() != 0 {
			t.Fatalf("TIME-WAIT did not end after 2*MSL: %d conns, %d tracked", r.l.Counters().Conns, k.Tracked())
		}
	}
}

// TestInvariantsListenerBound checks the backlog bound and table agreement.
func TestInvariantsListenerBound(t *testing.T) {
	r := newRig(t, Config{SynBacklog: 2, NoSynCookies: true}, 1, 2, 3)
	r.listen(0)
	for i := uint32(0); i < 3; i++ {
		r.pport = uint16(1000 + i)
		r.send(seg{flags: SYN, seq: 77})
		if err := r.l.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(r.ln.embryos); got != 2 {
		t.Fatalf("%d embryos, want the SYN backlog 2", got)
	}
	r.ln.synBacklog = 1
	mustBreak(t, r.l.CheckInvariants(), "SYN backlog")
	r.ln.synBacklog = 2
	delete(r.l.demux, r.ln.embryos[0].key)
	mustBreak(t, r.l.CheckInvariants(), "demultiplexing")
}

// TestInvariantsTimerHeap checks that a deadline changed behind the timer
// heap's back is reported: NextDeadline and Poll rely on the heap.
func TestInvariantsTimerHeap(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedActive(100, 300)
	mustHold(t, NewInvariantChecker(), r.now, r.l)
	r.c.rcv.delackAt = r.l.tick(r.now).Add(time.Millisecond)
	mustBreak(t, r.l.CheckInvariants(), "timer heap")
}

// TestInvariantsImpossibleRow: a row the spec marks impossible that fires
// (the 2*MSL timeout delivered to an ESTABLISHED connection) performs
// nothing, is counted in Counters.Internal and seen by the rule hits, and
// every invariant check reports it by its spec line.
func TestInvariantsImpossibleRow(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedActive(100, 300)
	k := NewInvariantChecker()
	mustHold(t, k, r.now, r.l)
	if out := r.l.run(r.c, EvTimeoutTimeWait, r.l.userCall(r.now)); out != OutImpossible {
		t.Fatalf("Established/TimeoutTimeWait: outcome %v", out)
	}
	r.state(StateEstablished)
	if c := r.l.Counters(); c.Internal != 1 {
		t.Fatalf("Internal = %d, want 1", c.Internal)
	}
	mustBreak(t, k.Check(r.now, r.l), "Established/TimeoutTimeWait -> Established impossible")
}
