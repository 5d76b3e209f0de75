//go:build linux

package afpacket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/lab/labtest"
)

// seqFrame is test frame i: a size that varies with i (60 to 1514 bytes)
// and i in its first payload bytes, so order and content can be checked.
func seqFrame(srv, cli *Link, i int) []byte {
	p := make([]byte, 46+(i*97)%1455)
	binary.BigEndian.PutUint32(p, uint32(i))
	for j := 4; j < len(p); j++ {
		p[j] = byte(i + j)
	}
	return ethFrame(srv.MAC(), cli.MAC(), etherTypeTest, p)
}

// send1 sends frame f from link, again after ENOBUFS: the machine's
// per-CPU receive backlog, shared by every namespace, overflows under
// other tests' floods.
func send1(t *testing.T, link *Link, f []byte) {
	t.Helper()
	for try := 0; ; try++ {
		err := link.WriteBatch([][]byte{f}, nil)
		if err == nil {
			return
		}
		if !errors.Is(err, unix.ENOBUFS) || try == 20 {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

// readTest reads from link until it holds want test frames (others are
// skipped) or 5 s pass, and returns them. A read that brings more test
// frames than want fails the test, naming the sequence numbers that came
// twice: the link delivered a frame twice, or one the previous call did
// not take.
func readTest(t *testing.T, link *Link, r *rx, want int) [][]byte {
	t.Helper()
	var got [][]byte
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want {
		k, err := r.read(link, deadline)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			t.Fatalf("%d of %d frames within 5 s; stats %+v", len(got), want, link.Stats())
		}
		for i := range k {
			if f := r.frames[i][:r.n[i]]; etherType(f) == etherTypeTest {
				got = append(got, bytes.Clone(f))
			}
		}
	}
	if len(got) > want {
		t.Fatalf("%d test frames where %d were sent (sequence numbers %v); twice: %v; stats %+v",
			len(got), want, seqs(got), twice(seqs(got)), link.Stats())
	}
	return got
}

// seqs returns the sequence numbers of seqFrames fs.
func seqs(fs [][]byte) []int {
	n := make([]int, len(fs))
	for i, f := range fs {
		if len(f) >= 18 {
			n[i] = int(binary.BigEndian.Uint32(f[14:]))
		}
	}
	return n
}

// twice returns the numbers that occur more than once in ns, in order.
func twice(ns []int) []int {
	seen := map[int]int{}
	var d []int
	for _, n := range ns {
		if seen[n]++; seen[n] == 2 {
			d = append(d, n)
		}
	}
	return d
}

// TestRingOrderAndWrap sends frames of many sizes through a ring of four
// blocks until it has wrapped several times: every frame arrives intact and
// in order, the blocks go back to the kernel, and nothing is dropped or
// found malformed (a block handed back with stale headers would show here).
// With ReadLent, frames are read where they lie in the ring.
func TestRingOrderAndWrap(t *testing.T) {
	for _, lend := range []bool{false, true} {
		t.Run(map[bool]string{false: "copy", true: "lend"}[lend], func(t *testing.T) { testRingOrderAndWrap(t, lend) })
	}
}

func testRingOrderAndWrap(t *testing.T, lend bool) {
	opts := Options{Receive: ReceiveRing, RingBlocks: 4, RingBlockSize: 128 << 10}
	_, srv, cli := labLinks(t, opts, Options{})
	r := newRx(64, srv.MaxFrame())
	r.lend = lend
	next := 0
	for round := range 100 {
		batch := make([][]byte, 1+round%48)
		for i := range batch {
			batch[i] = seqFrame(srv, cli, next+i)
		}
		if err := cli.WriteBatch(batch, nil); err != nil {
			t.Fatal(err)
		}
		for i, f := range readTest(t, srv, r, len(batch)) {
			if !bytes.Equal(f, batch[i]) {
				t.Fatalf("frame %d: got %d bytes (seq %d), want %d bytes", next+i, len(f), binary.BigEndian.Uint32(f[14:]), len(batch[i]))
			}
		}
		next += len(batch)
	}
	st := srv.Stats()
	if st.RingBlocks < 8 || st.RingBad != 0 || st.KernelDrops != 0 || st.RxTruncated != 0 {
		t.Fatalf("after %d frames: stats %+v", next, st)
	}
}

// TestRingCutCounted: a super-frame larger than a ring block is cut by the
// kernel (tp_snaplen < tp_len); it is counted, not delivered, and the frame
// behind it still comes.
func TestRingCutCounted(t *testing.T) {
	opts := Options{Receive: ReceiveRing, RingBlockSize: 16 << 10, MaxFrame: 1514}
	_, srv, cli := labLinks(t, opts, Options{})
	big, hdr := gsoFrame(srv.MAC(), cli.MAC(), 30000)
	small := seqFrame(srv, cli, 7)
	if err := cli.WriteBatch([][]byte{big, small}, []driver.TxMeta{hdr}); err != nil {
		t.Fatal(err)
	}
	r := newRx(8, 65536)
	got := readTest(t, srv, r, 1)
	if !bytes.Equal(got[0], small) {
		t.Fatalf("got %d bytes, want the %d-byte frame", len(got[0]), len(small))
	}
	if st := srv.Stats(); st.RxTruncated != 1 || st.RxGSO != 0 {
		t.Fatalf("stats %+v: want the super-frame counted as truncated", st)
	}
}

// TestRingWakesPerFrame sends single frames to a reader already asleep,
// with the backstop sleep taken away: each frame must wake the reader by
// itself (through the wake socket), not when the kernel retires the block
// (which a reader of the ring socket would wait for).
func TestRingWakesPerFrame(t *testing.T) {
	defer func(d time.Duration) { ringMaxSleep = d }(ringMaxSleep)
	ringMaxSleep = time.Hour
	_, srv, cli := labLinks(t, Options{Receive: ReceiveRing}, Options{})
	r := newRx(8, srv.MaxFrame())
	for i := range 50 {
		f := seqFrame(srv, cli, i)
		type read struct {
			k   int
			err error
		}
		done := make(chan read, 1)
		go func() {
			for {
				k, err := srv.ReadBatch(r.frames, r.n, r.meta, time.Now().Add(5*time.Second))
				if k != 1 || err != nil || etherType(r.frames[0][:r.n[0]]) == etherTypeTest {
					done <- read{k, err}
					return
				}
			}
		}()
		time.Sleep(2 * time.Millisecond) // let it sleep (the result does not depend on it)
		send1(t, cli, f)
		if res := <-done; res.err != nil || res.k != 1 || !bytes.Equal(r.frames[0][:r.n[0]], f) {
			t.Fatalf("frame %d: ReadBatch = %d, %v within 5 s; stats %+v", i, res.k, res.err, srv.Stats())
		}
	}
}

// TestRingFallback: a ring that cannot be set up (a block too small for the
// largest frame) is logged with its reason, and the link receives with
// recvmmsg.
func TestRingFallback(t *testing.T) {
	var log bytes.Buffer
	opts := Options{Receive: ReceiveRing, RingBlockSize: 4096, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	l := labtest.ForTest(t)
	var srv *Link
	if err := l.RunInServerNS(func() (err error) {
		srv, err = Open(l.ServerIface(), opts)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.Ring() || !strings.Contains(log.String(), "no receive ring") || !strings.Contains(log.String(), "block size 4096") {
		t.Fatalf("Ring() = %v, log %q", srv.Ring(), log.String())
	}
}

// TestRingLendWrapStops fills every block of a ring with one frame the
// reader has not read, each block retired by the kernel's timer, so that
// one ReadLent can pass through every block and come back to the first:
// the read must stop at the block it holds (whose frames it lent) rather
// than deliver that block's frames a second time (it delivered the four
// frames 16 times over, filling its batch of 64), and the kernel must
// take frames again after the next read hands the blocks back.
func TestRingLendWrapStops(t *testing.T) {
	const nblk = 4
	_, srv, cli := labLinks(t, Options{Receive: ReceiveRing, RingBlocks: nblk, RingBlockSize: 128 << 10}, Options{})
	r := newRx(64, srv.MaxFrame())
	r.lend = true
	// One frame per block, each block retired before the next frame is
	// sent: the kernel then finds the first block still the reader's and
	// freezes (RingFreezes) until it is handed back.
	for i := range nblk {
		send1(t, cli, seqFrame(srv, cli, i))
		awaitRetired(t, srv.ring, i)
	}
	got := readTest(t, srv, r, nblk)
	for i, n := range seqs(got) {
		if n != i {
			t.Fatalf("read %v, want 0 to %d in order", seqs(got), nblk-1)
		}
	}
	// The blocks the read lent from go back at the next read; only then
	// can the kernel take a frame again (until then it drops).
	if k, err := r.read(srv, time.Now()); k != 0 || err != nil {
		t.Fatalf("read with nothing sent = %d, %v", k, err)
	}
	send1(t, cli, seqFrame(srv, cli, nblk))
	if n := seqs(readTest(t, srv, r, 1)); n[0] != nblk {
		t.Fatalf("second read %v, want [%d]", n, nblk)
	}
	if st := srv.Stats(); st.RingBad != 0 || st.KernelDrops != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// awaitRetired waits up to 5 s for the kernel to retire block i of ring r
// (TP_STATUS_USER: its retire timer fired with a frame in it).
func awaitRetired(t *testing.T, r *ring, i int) {
	t.Helper()
	b := r.mem[i*r.bsize : (i+1)*r.bsize]
	for deadline := time.Now().Add(5 * time.Second); u32(b, blkStatusOff)&unix.TP_STATUS_USER == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("block %d not retired within 5 s", i)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRingClearsConsumed: the reader clears the frames of the block it is
// still reading once the read after theirs begins, leaves the frames it
// has not reached intact (they arrive whole), and hands the block back
// with its whole frame area zero, so the next fill's completion marks
// start from zeros; read by copying and by lending.
// The eight frames must land in one block; on a loaded machine the
// kernel's 4 ms block timer may retire the block between them, and the
// run is taken again (at most ringClearTries times: a reader that clears
// wrongly fails every try).
func TestRingClearsConsumed(t *testing.T) {
	for _, lend := range []bool{false, true} {
		t.Run(map[bool]string{false: "copy", true: "lend"}[lend], func(t *testing.T) {
			for try := 1; testRingClearsConsumed(t, lend); try++ {
				if try == ringClearTries {
					t.Fatalf("in %d tries the frames never landed in one block", try)
				}
			}
		})
	}
}

const ringClearTries = 5

// testRingClearsConsumed runs TestRingClearsConsumed once; it reports
// whether to run it again: the kernel spread the frames over two blocks.
func testRingClearsConsumed(t *testing.T, lend bool) (again bool) {
	_, srv, cli := labLinks(t, Options{Receive: ReceiveRing, RingBlocks: 4, RingBlockSize: 128 << 10}, Options{})
	rg := srv.ring
	r := newRx(3, srv.MaxFrame())
	r.lend = lend
	batch := make([][]byte, 8)
	for i := range batch {
		batch[i] = seqFrame(srv, cli, i)
	}
	if err := cli.WriteBatch(batch, nil); err != nil {
		t.Fatal(err)
	}
	cur := rg.cur // the block the frames fill
	var got [][]byte
	for _, n := range []int{3, 3} {
		for _, f := range readTest(t, srv, r, n) {
			got = append(got, bytes.Clone(f))
		}
	}
	if rg.cur != cur {
		t.Logf("the kernel retired block %d within the batch: the frames span two blocks", cur)
		return true
	}
	// The second read began by clearing what the first took.
	b := rg.mem[rg.cur*rg.bsize : (rg.cur+1)*rg.bsize]
	if rg.clr <= blkHdrLen || rg.clr >= rg.off {
		t.Fatalf("cleared up to %d, read up to %d: want the first read's frames cleared, the second's not yet", rg.clr, rg.off)
	}
	if i := slices.IndexFunc(b[blkHdrLen:rg.clr], func(c byte) bool { return c != 0 }); i >= 0 {
		t.Fatalf("octet %d of a consumed frame not cleared", blkHdrLen+i)
	}
	for _, f := range readTest(t, srv, r, 2) {
		got = append(got, bytes.Clone(f))
	}
	for i, f := range got {
		if !bytes.Equal(f, batch[i]) {
			t.Fatalf("frame %d: got %d bytes (seq %d), want %d bytes", i, len(f), binary.BigEndian.Uint32(f[14:]), len(batch[i]))
		}
	}
	// Once retired and left, the block goes back all zeros (a lending
	// read holds it until the read after). On a slow machine the kernel's
	// block timer may have retired it while the frames were read, and the
	// reader already left it with the last one.
	if rg.cur == cur {
		awaitRetired(t, rg, cur)
	}
	for range 2 {
		if _, err := r.read(srv, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	b = rg.mem[cur*rg.bsize : (cur+1)*rg.bsize]
	if st := u32(b, blkStatusOff); st != unix.TP_STATUS_KERNEL {
		t.Fatalf("block %d status %#x after the reader left it, want TP_STATUS_KERNEL", cur, st)
	}
	if i := slices.IndexFunc(b[blkHdrLen:], func(c byte) bool { return c != 0 }); i >= 0 {
		t.Fatalf("block %d handed back with octet %d not cleared", cur, blkHdrLen+i)
	}
	if st := srv.Stats(); st.RingBad != 0 || st.KernelDrops != 0 {
		t.Fatalf("stats %+v", st)
	}
	return false
}
