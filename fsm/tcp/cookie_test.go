package tcp

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// cookieRig fills a listener's one-slot SYN queue, so the next SYN (from
// port 1001, with opts) is answered with a cookie; it returns the cookie
// SYN,ACK's ISS and options.
func cookieRig(t *testing.T, cfg Config, opts wire.TCPOptions) (*rig, uint32, wire.TCPOptions) {
	cfg.SynBacklog = 1
	r := newRig(t, cfg, 500)
	r.listen(0)
	r.send(seg{flags: SYN, seq: 10})
	r.recv(seg{flags: SYN | ACK, seq: 500, ack: 11})
	r.pport, r.c = 1001, nil
	r.send(seg{flags: SYN, seq: 70, opts: opts})
	if r.c != nil || len(r.l.conns) != 1 {
		t.Fatalf("a cookie SYN left state: %d conns", len(r.l.conns))
	}
	h := r.o.take()
	if len(h) != 1 {
		t.Fatalf("%d segments, want one cookie SYN,ACK", len(h))
	}
	p, _ := wire.ParseTCP(h[0].b)
	var o wire.TCPOptions
	if err := wire.ParseTCPOptions(p.Options(), &o); err != nil || p.Flags() != SYN|ACK || p.Ack() != 71 {
		t.Fatalf("cookie SYN,ACK %v ack %d: %v", p.Flags(), p.Ack(), err)
	}
	if r.l.Counters().CookiesSent != 1 {
		t.Fatalf("CookiesSent %d", r.l.Counters().CookiesSent)
	}
	return r, p.Seq(), o
}

// TestSynCookieTimestamps: with timestamps, the cookie carries the MSS index,
// window scale and SACK-permitted; the final ACK creates an ESTABLISHED
// connection queued for accept, and data flows both ways.
func TestSynCookieTimestamps(t *testing.T) {
	in := wire.TCPOptions{HasMSS: true, MSS: 1400, HasWScale: true, WScale: 7, SACKPermitted: true, HasTimestamps: true, TSVal: 9000}
	r, iss, o := cookieRig(t, Config{}, in)
	if !o.HasTimestamps || !o.HasWScale || !o.SACKPermitted || o.TSEcr != 9000 {
		t.Fatalf("cookie SYN,ACK options %+v", o)
	}
	r.now = r.now.Add(30 * time.Second)
	ack := wire.TCPOptions{HasTimestamps: true, TSVal: 9100, TSEcr: o.TSVal}
	r.send(seg{flags: ACK, seq: 71, ack: iss + 1, wnd: 100, opts: ack, data: []byte("hello")})
	c, err := r.ln.Accept(r.now)
	if err != nil {
		t.Fatalf("accept after a cookie ACK: %v", err)
	}
	if c.State() != StateEstablished || c.snd.shift != 7 || !c.sackOK || !c.tsOK || c.rcv.tsRecent != 9100 {
		t.Fatalf("cookie connection %v shift %d sack %v ts %v recent %d", c.State(), c.snd.shift, c.sackOK, c.tsOK, c.rcv.tsRecent)
	}
	if c.snd.mss != 1300-tsOptLen || c.tcb.SndWnd != 100<<7 || c.tcb.Iss != seqnumVal(int(iss)) {
		t.Fatalf("MSS %d (want 1300 less the TS option), SND.WND %d, ISS %d", c.snd.mss, c.tcb.SndWnd, c.tcb.Iss)
	}
	b := make([]byte, 16)
	if n, _ := c.Recv(r.now, b); string(b[:n]) != "hello" {
		t.Fatalf("text on the cookie ACK: %q", b[:n])
	}
	if ctr := r.l.Counters(); ctr.CookiesValidated != 1 || ctr.CookiesFailed != 0 {
		t.Fatalf("validated %d failed %d", ctr.CookiesValidated, ctr.CookiesFailed)
	}
	if err := r.l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestSynCookieNoTimestamps: without timestamps the SYN,ACK offers neither
// window scaling nor SACK, and the connection uses neither.
func TestSynCookieNoTimestamps(t *testing.T) {
	in := wire.TCPOptions{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true}
	r, iss, o := cookieRig(t, Config{}, in)
	if o.HasTimestamps || o.HasWScale || o.SACKPermitted || o.MSS != 1460 {
		t.Fatalf("cookie SYN,ACK options %+v", o)
	}
	r.send(seg{flags: ACK, seq: 71, ack: iss + 1})
	c, err := r.ln.Accept(r.now)
	if err != nil {
		t.Fatal(err)
	}
	if c.snd.shift != 0 || c.rcv.shift != 0 || c.sackOK || c.tsOK || c.snd.mss != 1460 {
		t.Fatalf("shift %d/%d sack %v ts %v mss %d", c.snd.shift, c.rcv.shift, c.sackOK, c.tsOK, c.snd.mss)
	}
	if _, err := c.Send(r.now, []byte("x")); err != nil {
		t.Fatal(err)
	}
	r.recv(seg{flags: ACK, seq: iss + 1, ack: 71, data: []byte("x")})
}

// TestSynCookieInvalid: a wrong cookie, a cookie for another ISN, altered
// option bits and an expired cookie are all refused with a RST and counted.
func TestSynCookieInvalid(t *testing.T) {
	in := wire.TCPOptions{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 2, HasTimestamps: true, TSVal: 1}
	r, iss, o := cookieRig(t, Config{}, in)
	ts := wire.TCPOptions{HasTimestamps: true, TSVal: 2, TSEcr: o.TSVal}
	r.send(seg{flags: ACK, seq: 71, ack: iss + 2, opts: ts})
	r.recv(seg{flags: RST, seq: iss + 2})
	r.send(seg{flags: ACK, seq: 72, ack: iss + 1, opts: ts})
	r.recv(seg{flags: RST, seq: iss + 1})
	bad := ts
	bad.TSEcr ^= 0x10 // claim SACK-permitted
	r.send(seg{flags: ACK, seq: 71, ack: iss + 1, opts: bad})
	r.recv(seg{flags: RST, seq: iss + 1})
	r.now = r.now.Add(2 * cookiePeriod)
	r.send(seg{flags: ACK, seq: 71, ack: iss + 1, opts: ts})
	r.recv(seg{flags: RST, seq: iss + 1})
	ctr := r.l.Counters()
	if ctr.CookiesFailed != 3 || ctr.CookiesValidated != 0 || len(r.ln.queue) != 0 {
		// the last one is a plain stray ACK: cookies are no longer pending
		t.Fatalf("failed %d validated %d queued %d; want 3 0 0", ctr.CookiesFailed, ctr.CookiesValidated, len(r.ln.queue))
	}
	r.dropped(DropListenAck, 1)
}

// TestSynCookieFlood: a flood of SYNs keeps the SYN queue at its bound;
// every SYN past it gets a cookie and each cookie ACK becomes a connection.
func TestSynCookieFlood(t *testing.T) {
	r := newRig(t, Config{SynBacklog: 4}, 1, 2, 3, 4)
	r.listen(64)
	isses := map[uint16]uint32{}
	for i := range 40 {
		r.pport = uint16(2000 + i)
		r.send(seg{flags: SYN, seq: uint32(1000 * i)})
		p, _ := wire.ParseTCP(r.o.take()[0].b)
		isses[r.pport] = p.Seq()
	}
	if syn, _ := r.ln.QueueLens(); syn != 4 || r.l.Counters().CookiesSent != 36 {
		t.Fatalf("SYN queue %d, cookies %d", syn, r.l.Counters().CookiesSent)
	}
	for i := range 40 {
		r.pport = uint16(2000 + i)
		r.send(seg{flags: ACK, seq: uint32(1000*i) + 1, ack: isses[r.pport] + 1})
	}
	if _, acc := r.ln.QueueLens(); acc != 40 || r.l.Counters().CookiesValidated != 36 {
		t.Fatalf("accept queue %d, validated %d", acc, r.l.Counters().CookiesValidated)
	}
	if err := r.l.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// tsvalOf returns the TSval of segment b.
func tsvalOf(t *testing.T, b []byte) uint32 {
	t.Helper()
	p, _ := wire.ParseTCP(b)
	var o wire.TCPOptions
	if err := wire.ParseTCPOptions(p.Options(), &o); err != nil || !o.HasTimestamps {
		t.Fatalf("segment without timestamps: %v", err)
	}
	return o.TSVal
}

// TestSynCookieTSvalNeverAhead: the option bits a cookie SYN,ACK carries in
// its TSval's low six bits never put it ahead of the connection's clock (as
// Linux's cookie_init_timestamp): the first segments after the cookie ACK
// carry a TSval no smaller, else the peer's PAWS test (RFC 7323 §5.3)
// discards them. Found by the on-link SYN flood of docs/robustness.md: every
// response sent in the cookie's first milliseconds was dropped.
func TestSynCookieTSvalNeverAhead(t *testing.T) {
	r := newRig(t, Config{SynBacklog: 1}, 500)
	r.listen(0)
	r.send(seg{flags: SYN, seq: 10})
	r.o.take()
	for port := uint16(2000); port < 2064; port++ { // 64 timestamp offsets
		r.pport, r.c = port, nil
		in := wire.TCPOptions{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 14, SACKPermitted: true, HasTimestamps: true, TSVal: 9000}
		r.send(seg{flags: SYN, seq: 70, opts: in})
		h := r.o.take()
		synack := tsvalOf(t, h[0].b)
		p, _ := wire.ParseTCP(h[0].b)
		r.send(seg{flags: ACK, seq: 71, ack: p.Seq() + 1, opts: wire.TCPOptions{HasTimestamps: true, TSVal: 9001, TSEcr: synack}})
		c, err := r.ln.Accept(r.now)
		if err != nil {
			t.Fatalf("port %d: accept: %v", port, err)
		}
		if _, err := c.Send(r.now, []byte("response")); err != nil {
			t.Fatal(err)
		}
		h = r.o.take()
		if len(h) == 0 {
			t.Fatalf("port %d: no data sent", port)
		}
		if d := int32(tsvalOf(t, h[0].b) - synack); d < 0 {
			t.Fatalf("port %d: data TSval %d behind the cookie SYN,ACK's by %d: the peer's PAWS drops it", port, tsvalOf(t, h[0].b), -d)
		}
	}
}

// TestSynCookieUnresolvedPeer: a SYN from a neighbour still being resolved
// (SegMeta.Unresolved) is answered with a cookie though the SYN queue has
// room, and leaves no embryo; the cookie's ACK creates the connection; such
// cookies do not count as a full queue, so an embryo born before one keeps
// its SYN,ACK retransmissions (timer.go synAckLimit).
func TestSynCookieUnresolvedPeer(t *testing.T) {
	r := newRig(t, Config{SynBacklog: 4}, 500)
	r.listen(4)
	r.send(seg{flags: SYN, seq: 10})
	r.recv(seg{flags: SYN | ACK, seq: 500, ack: 11})
	r.pport, r.c = 1001, nil
	r.send(seg{flags: SYN, seq: 70, unres: true})
	if syn, _ := r.ln.QueueLens(); syn != 1 || r.c != nil || r.l.Counters().CookiesSent != 1 {
		t.Fatalf("SYN from an unresolved peer: SYN queue %d, conn %v, %d cookies; want 1, none, 1", syn, r.c != nil, r.l.Counters().CookiesSent)
	}
	p, _ := wire.ParseTCP(r.o.take()[0].b)
	r.send(seg{flags: ACK, seq: 71, ack: p.Seq() + 1})
	r.state(StateEstablished)
	r.advance(time.Second)
	r.pport = 1000
	r.recv(seg{flags: SYN | ACK, seq: 500, ack: 11}) // the first embryo retransmits
	if n := r.l.Counters().SynRecvPruned; n != 0 {
		t.Fatalf("%d pruned: a cookie for an unresolved peer is not a full queue", n)
	}
}
