package tcp

import (
	"errors"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// icmp delivers an ICMP error quoting a segment of the connection under test.
func (r *rig) icmp(seq uint32, typ, code uint8, mtu uint16) ICMPOutcome {
	r.t.Helper()
	o, id := r.l.ICMPError(r.now, r.us, r.peer, r.uport, r.pport, seq, typ, code, mtu)
	if o != ICMPNoConn && r.c != nil && r.c.hasID && id != r.c.id {
		r.t.Fatalf("id %d, want %d", id, r.c.id)
	}
	return o
}

func TestSynSentPortUnreachableAborts(t *testing.T) {
	for _, code := range []uint8{codeProtoUnreachable, codePortUnreachable} {
		r := newRig(t, Config{}, 100)
		r.connect()
		r.recv(seg{flags: SYN, seq: 100})
		if o := r.icmp(100, icmpDestUnreachable, code, 0); o != ICMPAborted {
			t.Fatalf("code %d: outcome %v", code, o)
		}
		r.state(StateClosed)
		if !errors.Is(r.c.Err(), sock.ErrRefused) {
			t.Fatalf("err %v, want refused", r.c.Err())
		}
		if n := r.o.notes; len(n) == 0 || n[len(n)-1].ev&sock.Closed == 0 {
			t.Fatalf("no Closed readiness: %v", n)
		}
		r.advance(r.l.cfg.RTOInitial)
		r.recvNothing() // no SYN retransmission after the abort
	}
}

func TestSynSentICMPOutOfWindowIgnored(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	if o := r.icmp(5000, icmpDestUnreachable, codePortUnreachable, 0); o != ICMPOutOfWindow {
		t.Fatalf("outcome %v", o)
	}
	r.state(StateSynSent)
}

func TestSynSentHostUnreachableIsSoft(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	if o := r.icmp(100, icmpDestUnreachable, 1, 0); o != ICMPSoft {
		t.Fatalf("outcome %v", o) // RFC 1122 §4.2.3.9: MUST NOT abort on codes 0, 1, 5
	}
	r.state(StateSynSent)
}

func TestEstablishedPortUnreachableIsSoft(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.Send(r.now, []byte("hello"))
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("hello")})
	if o := r.icmp(300, icmpDestUnreachable, codePortUnreachable, 0); o != ICMPSoft {
		t.Fatalf("outcome %v", o)
	}
	if o := r.icmp(300, icmpTimeExceeded, 0, 0); o != ICMPSoft {
		t.Fatalf("time exceeded: outcome %v", o)
	}
	r.state(StateEstablished)
}

func TestFragNeededLowersMSS(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedMSS(99, 299, 1460, 65535)
	data := make([]byte, 3000)
	r.c.Send(r.now, data)
	segs := r.o.take()
	if len(segs) == 0 || len(wire.TCP(segs[0].b).Payload()) != 1460 {
		t.Fatalf("first segment not full-sized: %d segments", len(segs))
	}
	if o := r.icmp(300, icmpDestUnreachable, codeFragNeeded, 1000); o != ICMPMSSLowered {
		t.Fatalf("outcome %v", o)
	}
	if got := r.c.SendMSS(); got != 1000-40 {
		t.Fatalf("MSS %d, want 960", got)
	}
	r.advance(r.l.cfg.RTOInitial)
	for _, s := range r.o.take() {
		if n := len(wire.TCP(s.b).Payload()); n > 960 {
			t.Fatalf("segment of %d octets after the path MTU dropped to 1000", n)
		}
	}
	// A larger MTU never raises it; an estimate below 68 is clamped (RFC 1191 §3).
	r.icmp(300, icmpDestUnreachable, codeFragNeeded, 1400)
	r.icmp(300, icmpDestUnreachable, codeFragNeeded, 20)
	if got := r.c.SendMSS(); got != 68-40 {
		t.Fatalf("MSS %d, want 28", got)
	}
}

func TestICMPNoConnection(t *testing.T) {
	r := newRig(t, Config{})
	if o, id := r.l.ICMPError(r.now, r.us, r.peer, 1, 2, 0, icmpDestUnreachable, codePortUnreachable, 0); o != ICMPNoConn || id != 0 {
		t.Fatalf("outcome %v id %d", o, id)
	}
}

// TestSynSentHostUnreachableReportedOnTimeout: a soft error does not abort
// (RFC 1122 §4.2.3.9) but is made available to the application, and the
// timeout that finally ends the connection names it.
func TestSynSentHostUnreachableReportedOnTimeout(t *testing.T) {
	r := newRig(t, Config{SynRetries: 2}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	if o := r.icmp(100, icmpDestUnreachable, 1, 0); o != ICMPSoft {
		t.Fatalf("outcome %v", o)
	}
	if !errors.Is(r.c.SoftError(), sock.ErrHostUnreachable) {
		t.Fatalf("SoftError %v, want host unreachable", r.c.SoftError())
	}
	for i := 0; i < 10 && r.c.State() != StateClosed; i++ {
		r.advance(r.c.RTO())
		r.o.segs = r.o.segs[:0]
	}
	r.state(StateClosed)
	err := r.c.Err()
	if !errors.Is(err, sock.ErrTimeout) || !errors.Is(err, sock.ErrHostUnreachable) {
		t.Fatalf("Err %v, want a timeout naming host unreachable", err)
	}
}

// TestICMPSourceQuenchDiscarded: Source Quench is silently discarded
// (RFC 9293 §3.9.2.2 MUST-55): no state change, no soft error, nothing sent.
func TestICMPSourceQuenchDiscarded(t *testing.T) {
	r := newRig(t, Config{}, 299)
	r.establishedPassive(99, 299)
	r.c.Send(r.now, []byte("hello"))
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("hello")})
	cwnd := r.c.snd.cc.cwnd
	if o := r.icmp(300, icmpSourceQuench, 0, 0); o != ICMPSourceQuench {
		t.Fatalf("outcome %v", o)
	}
	r.state(StateEstablished)
	if r.c.SoftError() != nil || r.c.snd.cc.cwnd != cwnd {
		t.Fatalf("soft error %v, cwnd %d (was %d)", r.c.SoftError(), r.c.snd.cc.cwnd, cwnd)
	}
	r.recvNothing()
}

// softICMP lists the ICMP errors that are soft in every profile (RFC 9293
// §3.9.2.2 MUST-56): destination unreachable codes 0, 1, 5 and the other
// codes with no hard meaning, time exceeded, parameter problem.
var softICMP = [][2]uint8{
	{icmpDestUnreachable, 0}, {icmpDestUnreachable, 1}, {icmpDestUnreachable, 5},
	{icmpDestUnreachable, 6}, {icmpDestUnreachable, 7}, {icmpDestUnreachable, 9},
	{icmpDestUnreachable, 10}, {icmpDestUnreachable, 11}, {icmpDestUnreachable, 12},
	{icmpDestUnreachable, 13}, {icmpTimeExceeded, 0}, {icmpTimeExceeded, 1},
	{icmpParamProblem, 0}, {icmpParamProblem, 1},
}

// TestEstablishedSoftICMPNeverAborts: no soft error aborts a connection, in
// either profile (MUST-56); each is kept for the application (MUST-47,
// SHLD-25), and data still flows afterwards.
func TestEstablishedSoftICMPNeverAborts(t *testing.T) {
	for _, p := range []Profile{ProfileLinux, ProfileRfc9293} {
		for _, m := range softICMP {
			r := newRig(t, Config{Profile: p}, 299)
			r.establishedPassive(99, 299)
			r.c.Send(r.now, []byte("hello"))
			r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("hello")})
			if o := r.icmp(300, m[0], m[1], 0); o != ICMPSoft {
				t.Fatalf("%v: type %d code %d: outcome %v", p, m[0], m[1], o)
			}
			r.state(StateEstablished)
			if r.c.SoftError() == nil {
				t.Fatalf("%v: type %d code %d: no soft error kept", p, m[0], m[1])
			}
			r.send(seg{flags: ACK, seq: 100, ack: 305, data: []byte("ok")})
			r.advance(time.Second)
			r.recv(seg{flags: ACK, seq: 305, ack: 102})
		}
	}
}

// TestEstablishedHardICMPProfiles: destination unreachable codes 2 and 3
// are hard errors (SHLD-26). The rfc9293 profile aborts a synchronized
// connection on them; the linux profile (the default) keeps them soft, as
// Linux does without IP_RECVERR. Code 4 lowers the MSS in both (RFC 1191).
func TestEstablishedHardICMPProfiles(t *testing.T) {
	for _, code := range []uint8{codeProtoUnreachable, codePortUnreachable} {
		r := newRig(t, Config{Profile: ProfileRfc9293}, 299)
		r.establishedPassive(99, 299)
		r.c.Send(r.now, []byte("hello"))
		r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("hello")})
		if o := r.icmp(300, icmpDestUnreachable, code, 0); o != ICMPAborted {
			t.Fatalf("rfc9293 code %d: outcome %v", code, o)
		}
		r.state(StateClosed)
		if !errors.Is(r.c.Err(), sock.ErrRefused) {
			t.Fatalf("rfc9293 code %d: Err %v", code, r.c.Err())
		}
		r.recvNothing()

		r = newRig(t, Config{}, 299)
		r.establishedPassive(99, 299)
		r.c.Send(r.now, []byte("hello"))
		r.recv(seg{flags: ACK, seq: 300, ack: 100, data: []byte("hello")})
		if o := r.icmp(300, icmpDestUnreachable, code, 0); o != ICMPSoft {
			t.Fatalf("linux code %d: outcome %v", code, o)
		}
		r.state(StateEstablished)
	}
	r := newRig(t, Config{Profile: ProfileRfc9293}, 299)
	r.establishedMSS(99, 299, 1460, 65535)
	r.c.Send(r.now, make([]byte, 100))
	r.o.take()
	if o := r.icmp(300, icmpDestUnreachable, codeFragNeeded, 1000); o != ICMPMSSLowered {
		t.Fatalf("rfc9293 frag needed: outcome %v", o)
	}
	r.state(StateEstablished)
}

// TestSoftErrorsOff: with reporting turned off (SHLD-20) a soft error is
// not kept, and the timeout that ends the connection is a plain timeout.
func TestSoftErrorsOff(t *testing.T) {
	r := newRig(t, Config{SynRetries: 2}, 100)
	r.connect()
	r.recv(seg{flags: SYN, seq: 100})
	r.c.SetSoftErrors(false)
	if o := r.icmp(100, icmpDestUnreachable, 1, 0); o != ICMPSoft {
		t.Fatalf("outcome %v", o)
	}
	if r.c.SoftError() != nil {
		t.Fatalf("SoftError %v with reporting off", r.c.SoftError())
	}
	for i := 0; i < 10 && r.c.State() != StateClosed; i++ {
		r.advance(r.c.RTO())
		r.o.segs = r.o.segs[:0]
	}
	if err := r.c.Err(); !errors.Is(err, sock.ErrTimeout) || errors.Is(err, sock.ErrHostUnreachable) {
		t.Fatalf("Err %v, want a plain timeout", err)
	}
	// Turned back on, the next soft error is kept again.
	r2 := newRig(t, Config{}, 100)
	r2.connect()
	r2.recv(seg{flags: SYN, seq: 100})
	r2.c.SetSoftErrors(false)
	r2.c.SetSoftErrors(true)
	r2.icmp(100, icmpTimeExceeded, 0, 0)
	if !errors.Is(r2.c.SoftError(), sock.ErrTTLExceeded) {
		t.Fatalf("SoftError %v, want TTL exceeded", r2.c.SoftError())
	}
}

// TestSynReceivedPortUnreachableDropsEmbryo: port unreachable quoting our
// SYN,ACK removes the embryonic connection from the SYN queue (the linux
// profile, as Linux's tcp_req_err), without a RST; the listener stays.
func TestSynReceivedPortUnreachableDropsEmbryo(t *testing.T) {
	r := newRig(t, Config{}, 100)
	r.listen(0)
	r.send(seg{flags: SYN, seq: 300})
	r.recv(seg{flags: SYN | ACK, seq: 100, ack: 301})
	if syn, _ := r.ln.QueueLens(); syn != 1 {
		t.Fatalf("SYN queue %d", syn)
	}
	if o := r.icmp(100, icmpDestUnreachable, codePortUnreachable, 0); o != ICMPAborted {
		t.Fatalf("outcome %v", o)
	}
	r.state(StateClosed)
	if syn, _ := r.ln.QueueLens(); syn != 0 {
		t.Fatalf("SYN queue %d after the abort", syn)
	}
	r.recvNothing()
	r.advance(time.Second)
	r.recvNothing() // no SYN,ACK retransmission
}
