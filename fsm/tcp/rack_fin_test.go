package tcp

import (
	"testing"
	"time"
)

// TestRACKFinRecordSACKedByItsData: the last segment carries our FIN, and
// the peer SACKs its data without the FIN's sequence number (netspec's
// receiver reports the octets it holds; Linux's block also covers the
// FIN). The record counts as delivered all the same, so RACK sees that the
// segments sent before it are lost. Before, a record holding the FIN was
// never SACKed, and a loss probe (which resends that last segment) drew
// D-SACKs RACK could not use: a tail loss in fast recovery waited for the
// retransmission timeout, which each probe pushed back (seconds, with BBR
// filling a queue at the end of a transfer).
func TestRACKFinRecordSACKedByItsData(t *testing.T) {
	r := newRig(t, Config{})
	r.establishedSACK()
	r.write(12 * rkMSS)
	if err := r.c.Close(r.now); err != nil {
		t.Fatal(err)
	}
	r.drain() // the initial window, segments 0..9
	// Segments 0 and 1 arrive: 10 and 11 go, the FIN with 11.
	r.now = r.now.Add(20 * time.Millisecond)
	r.sackAck(segAt(2))
	segs := r.drain()
	if last := segs[len(segs)-1]; last.seq != segAt(11) || last.n != rkMSS || last.flags&FIN == 0 {
		t.Fatalf("last segment %+v, want segment 11 with the FIN", last)
	}
	// Segments 2..10 are lost; 11 is SACKed without its FIN.
	r.now = r.now.Add(20 * time.Millisecond)
	r.sackAck(segAt(2), segAt(11), segAt(12))
	if r.c.snd.txq.sacked != 1 {
		t.Fatalf("SACKed records %d, want 1: the FIN's record", r.c.snd.txq.sacked)
	}
	r.advance(r.c.snd.rackReoWnd() + time.Millisecond)
	if got := dataSegs(r.drain()); !contains(got, segAt(2)) {
		t.Fatalf("sent %v, want the retransmission of %d", got, segAt(2))
	}
	if ctr := r.l.Counters(); ctr.Timeouts != 0 {
		t.Fatalf("%d timeouts", ctr.Timeouts)
	}
}
