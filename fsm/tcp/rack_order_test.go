package tcp

import (
	"testing"
	"time"
)

// TestRACKRetransmissionAfterNewDataSameInstant: new data goes out on one
// ACK and a retransmission on the next, at the same instant (one batch of
// the event loop has one clock reading). The retransmission left after the
// new data, so an ACK that SACKs the new data a round trip later does not
// show it lost: RACK must order transmissions as they were made, not by
// sequence number when their times are equal (RFC 8985 §6.2
// RACK_sent_after). With the tie broken by sequence number the
// retransmission was deemed lost at once (reo_wnd is 0 in recovery) and
// sent a third time; against Linux clients that made 40-70 % of the
// retransmissions of a download at 5 % loss spurious (D-SACKed).
func TestRACKRetransmissionAfterNewDataSameInstant(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedSACK()
	r.write(30 * rkMSS)
	r.drain() // the initial window, segments 0..9
	// A round trip later: segment 1 lost; the first ACK lets new data out.
	r.now = r.now.Add(20 * time.Millisecond)
	r.sackAck(segAt(1), segAt(2), segAt(3))
	fresh := dataSegs(r.drain())
	if len(fresh) == 0 || fresh[0] < segAt(10) {
		t.Fatalf("sent %v on the first ACK, want new data from %d", fresh, segAt(10))
	}
	// The next ACKs, same instant, show DupThresh segments SACKed: the
	// hole is retransmitted, after the new data.
	r.sackAck(segAt(1), segAt(2), segAt(4))
	r.sackAck(segAt(1), segAt(2), segAt(5))
	rtx := dataSegs(r.drain())
	if len(rtx) == 0 || rtx[0] != segAt(1) {
		t.Fatalf("sent %v, want the retransmission of %d", rtx, segAt(1))
	}
	// A round trip later the new data is SACKed; the retransmission, sent
	// after it, is not yet reported.
	r.now = r.now.Add(20 * time.Millisecond)
	r.sackAck(segAt(1), segAt(2), segAt(5), fresh[0], fresh[len(fresh)-1]+rkMSS)
	if again := dataSegs(r.drain()); contains(again, segAt(1)) {
		t.Fatalf("sent %v: %d retransmitted again, though its retransmission left after the data just SACKed", again, segAt(1))
	}
	if ctr := r.l.Counters(); ctr.LostRetransmits != 0 {
		t.Fatalf("lost retransmits %d, want 0", ctr.LostRetransmits)
	}
}
