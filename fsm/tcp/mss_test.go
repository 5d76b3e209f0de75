package tcp

import (
	"testing"

	"github.com/netspec/netspec/fsm/wire"
)

// TestSendMSSFollowsMTU: when the interface MTU changes (Layer.SetMSS, from
// stack.SetMTU) an established connection's send MSS follows it down and
// back up (RFC 9293 §3.7.3, SHLD-6), never past the peer's MSS option nor
// a lower path MTU learnt from ICMP; queued data goes out in segments of the
// new size, and a new connection advertises the new MSS (MUST-14).
func TestSendMSSFollowsMTU(t *testing.T) {
	r := newRig(t, Config{}, 299, 500)
	r.listen(0)
	r.send(seg{flags: SYN, seq: 99, opts: wire.TCPOptions{HasMSS: true, MSS: 1400}})
	r.recv(seg{flags: SYN | ACK, seq: 299, ack: 100})
	r.send(seg{flags: ACK, seq: 100, ack: 300})
	if _, err := r.ln.Accept(r.now); err != nil {
		t.Fatal(err)
	}
	if got := r.c.SendMSS(); got != 1400 {
		t.Fatalf("send MSS %d, want the peer's 1400", got)
	}
	r.l.SetMSS(r.now, 1000-40) // MTU 1000
	if got := r.c.SendMSS(); got != 960 {
		t.Fatalf("after MTU 1000: send MSS %d, want 960", got)
	}
	if _, err := r.c.Send(r.now, make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	r.recv(seg{flags: ACK, seq: 300, ack: 100, data: make([]byte, 960)})
	r.recv(seg{flags: ACK, seq: 1260, ack: 100, data: make([]byte, 960)})
	r.recv(seg{flags: ACK, seq: 2220, ack: 100, data: make([]byte, 80)})
	r.l.SetMSS(r.now, 9000-40) // a jumbo MTU: the peer's option limits
	if got := r.c.SendMSS(); got != 1400 {
		t.Fatalf("after MTU 9000: send MSS %d, want the peer's 1400", got)
	}
	// A path MTU of 1200 (fragmentation needed) lowers it; raising the
	// interface MTU does not undo what the path taught.
	if o, _ := r.l.ICMPError(r.now, r.us, r.peer, r.uport, r.pport, 300, icmpDestUnreachable, codeFragNeeded, 1200); o != ICMPMSSLowered {
		t.Fatalf("ICMP outcome %v", o)
	}
	r.l.SetMSS(r.now, 9000-40)
	if got := r.c.SendMSS(); got != 1160 {
		t.Fatalf("after PMTU 1200 and MTU 9000: send MSS %d, want 1160", got)
	}
	r.l.SetMSS(r.now, 576-40)
	if got := r.c.SendMSS(); got != 536 {
		t.Fatalf("after MTU 576: send MSS %d, want 536", got)
	}
	// A new connection advertises the interface's MSS now in force.
	r.pport = 1001
	r.c = nil
	if _, err := r.l.Connect(r.now, r.us, 0, r.peer, 2000, 9); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.o.take() {
		tcp, _ := wire.ParseTCP(s.b)
		if tcp.Flags()&SYN == 0 {
			continue
		}
		var o wire.TCPOptions
		if err := wire.ParseTCPOptions(tcp.Options(), &o); err != nil || o.MSS != 536 {
			t.Errorf("new SYN advertises MSS %d (%v), want 536", o.MSS, err)
		}
	}
}
