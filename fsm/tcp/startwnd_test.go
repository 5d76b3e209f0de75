package tcp

import (
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
)

// uploadStart runs the start of an upload from a Linux-like sender (10
// segments of initial window, slow start growing by what each ACK covers,
// never past the window we advertise) into a server with cfg whose reader
// reads everything after each batch, as the driver loop's batch of frames
// is processed before the handler's goroutine runs. Each round trip's
// flight arrives as one batch. It returns the ACKs we sent with a closed
// window (less than a full-sized segment, which a Linux sender does not
// split: tcp_snd_wnd_test), the octets read and the rig.
func uploadStart(t *testing.T, cfg Config, total int) (zero []ackSeen, read int, r *groRig) {
	t.Helper()
	const mss = 1448
	r = newGroRig(t, cfg)
	shift := r.c.rcv.shift
	nxt := seqnum.Value(100)
	edge := nxt.Add(0xffff) // the SYN,ACK's unscaled window
	cwnd := 10 * mss
	una := nxt
	take := func() {
		for _, a := range r.takeAcks() {
			if int(a.wnd)<<shift < mss {
				zero = append(zero, a)
			}
			if ack := seqnum.Value(a.ack); una.LessThan(ack) {
				cwnd += int(ack - una) // slow start (RFC 5681 §3.1, Linux's tcp_slow_start)
				una = ack
			}
			edge = seqnum.Value(a.ack).Add(seqnum.Size(uint32(a.wnd) << shift))
		}
	}
	buf := make([]byte, 256<<10)
	for round := 0; int(nxt-100) < total && round < 200; round++ {
		room := min(int(edge.Sub(nxt)), int(una.Add(seqnum.Size(cwnd)).Sub(nxt)), total-int(nxt-100))
		r.l.BeginBatch()
		for ; room >= mss; room -= mss {
			r.batchSeg(uint32(nxt), mss)
			nxt = nxt.Add(mss)
		}
		r.l.EndBatch(r.now)
		take()
		for {
			n, _ := r.c.Recv(r.now, buf)
			read += n
			if n == 0 {
				break
			}
		}
		take()
		r.advance(100 * time.Microsecond)
	}
	return zero, read, r
}

// TestUploadStartNoZeroWindow: an upload into a reader that takes each
// batch's data as soon as the batch is processed never sees the window
// close (to less than a full-sized segment):
// the flight that fills the first 64 KiB window arrives in one batch and is
// acknowledged before the reader runs, but the receive buffer keeps room
// beyond the window (headroom), so that ACK still offers the whole window.
// The window grows with auto-tuning while the sender's slow start catches
// up, and once drained the connection holds no ring. The same upload into
// a fixed 64 KiB buffer (no headroom) does close the window: the control
// shows that the script reaches the case.
func TestUploadStartNoZeroWindow(t *testing.T) {
	const total = 11586 * 1448 // 16 MiB in full-sized segments
	zero, read, r := uploadStart(t, Config{}, total)
	if len(zero) > 0 {
		t.Errorf("auto-tuned buffer: %d zero-window ACKs, first %+v", len(zero), zero[0])
	}
	if read != total {
		t.Errorf("read %d of %d", read, total)
	}
	if limit, _ := r.c.RecvBuffer(); limit <= 64<<10 {
		t.Errorf("receive buffer %d after 16 MiB read promptly: want it auto-tuned past 64 KiB", limit)
	}
	if r.c.rcv.buf.buf != nil {
		t.Errorf("drained connection holds a %d-octet ring", len(r.c.rcv.buf.buf))
	}
	zero, _, _ = uploadStart(t, Config{RecvBuf: 64 << 10}, total)
	if len(zero) == 0 {
		t.Error("fixed 64 KiB buffer: no zero window; the script does not fill a window before the reader runs")
	}
}

// TestHeadroomBoundsUnread: a reader that does not read gets the whole
// window, then the headroom, and no more: the window closes when the
// unread octets reach the limit plus the headroom, never beyond the ring.
func TestHeadroomBoundsUnread(t *testing.T) {
	const mss = 1448
	r := newGroRig(t, Config{})
	limit, _ := r.c.RecvBuffer()
	want := limit + r.c.rcv.headroom(limit)
	if h := r.c.rcv.headroom(limit); h != 64<<10 {
		t.Fatalf("headroom %d, want 64 KiB", h)
	}
	nxt := uint32(100)
	for k := 0; k < 2*want/mss; k++ {
		r.l.BeginBatch()
		r.batchSeg(nxt, mss)
		r.l.EndBatch(r.now)
		if uint32(r.c.tcb.RcvNxt) == nxt+mss {
			nxt += mss
		}
	}
	unit := 1 << r.c.rcv.shift // the window is rounded up to the scale unit
	if got := r.c.rcv.buf.unread; got > want+unit || got < want-mss {
		t.Errorf("unread %d, want the limit %d plus headroom %d (within a segment)", got, limit, want-limit)
	}
	if w := r.c.rcv.wnd(); w >= mss+uint32(unit) {
		t.Errorf("window %d with the buffer and its headroom full", w)
	}
	if len(r.c.rcv.buf.buf) > r.c.rcv.buf.size {
		t.Errorf("ring %d past its capacity %d", len(r.c.rcv.buf.buf), r.c.rcv.buf.size)
	}
}
