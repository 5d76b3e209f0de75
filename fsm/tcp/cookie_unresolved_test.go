package tcp

import "testing"

// TestSynCookieUnresolvedPeerAnswered: the SYN of a neighbour still being
// resolved is answered (RFC 4987 §3.6: a cookie SYN,ACK), not dropped, so
// no drop is counted for it; with cookies off (Config.NoSynCookies) it
// makes an embryo like any SYN (RFC 9293 §3.10.7.2), and a drop is counted
// for neither.
func TestSynCookieUnresolvedPeerAnswered(t *testing.T) {
	for _, off := range []bool{false, true} {
		r := newRig(t, Config{NoSynCookies: off}, 500)
		r.listen(4)
		r.send(seg{flags: SYN, seq: 70, unres: true})
		syn, _ := r.ln.QueueLens()
		if out := r.o.take(); len(out) != 1 {
			t.Fatalf("NoSynCookies %v: %d segments answer the SYN, want one SYN,ACK", off, len(out))
		}
		cookies := r.l.Counters().CookiesSent
		if off && (syn != 1 || cookies != 0) || !off && (syn != 0 || cookies != 1) {
			t.Fatalf("NoSynCookies %v: SYN queue %d, %d cookies sent", off, syn, cookies)
		}
		r.noDrops()
	}
}

// TestSynCookieFullQueueCountsNoDrop: a SYN that finds the SYN queue full is
// answered with a cookie (RFC 4987 §3.6), not dropped: its SYN,ACK leaves,
// no embryo is made and no drop is counted; with cookies off the same SYN
// is dropped and counted (SynQueueOverflow).
func TestSynCookieFullQueueCountsNoDrop(t *testing.T) {
	for _, off := range []bool{false, true} {
		r := newRig(t, Config{SynBacklog: 1, NoSynCookies: off}, 500)
		r.listen(4)
		r.send(seg{flags: SYN, seq: 10})
		r.recv(seg{flags: SYN | ACK, seq: 500, ack: 11})
		r.pport, r.c = 1001, nil
		r.send(seg{flags: SYN, seq: 70})
		out, cookies := r.o.take(), r.l.Counters().CookiesSent
		if syn, _ := r.ln.QueueLens(); syn != 1 {
			t.Fatalf("NoSynCookies %v: SYN queue %d after a SYN to a full one, want 1", off, syn)
		}
		if off {
			if len(out) != 0 || cookies != 0 || r.l.Counters().Drops[DropSynQueueOverflow] != 1 {
				t.Fatalf("cookies off: %d segments sent, %d cookies, drops %v; want the SYN dropped as SynQueueOverflow", len(out), cookies, r.l.Counters().Drops)
			}
			continue
		}
		if len(out) != 1 || cookies != 1 {
			t.Fatalf("%d segments sent, %d cookies; want one cookie SYN,ACK", len(out), cookies)
		}
		r.noDrops()
	}
}
