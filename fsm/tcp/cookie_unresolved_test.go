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
