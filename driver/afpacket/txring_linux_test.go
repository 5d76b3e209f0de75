//go:build linux

package afpacket

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver"
)

// collectSeq reads seqFrames from link until want have come or 5 s pass
// and returns their numbers in arrival order.
func collectSeq(t *testing.T, link *Link, want int) []int {
	t.Helper()
	r := newRx(64, link.MaxFrame())
	var got []int
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		k, err := link.ReadBatch(r.frames, r.n, r.meta, deadline)
		if err != nil {
			t.Fatal(err)
		}
		for i := range k {
			if f := r.frames[i][:r.n[i]]; etherType(f) == etherTypeTest {
				got = append(got, int(binary.BigEndian.Uint32(f[14:])))
			}
		}
	}
	return got
}

// checkSeq checks that got holds every frame the link reports sent, in
// the order sent: strictly increasing numbers below total, as many as
// TxFrames, and TxFrames + TxErrors = total (a frame the machine's shared
// receive backlog dropped is refused and counted, see send1).
func checkSeq(t *testing.T, got []int, st Stats, total int) {
	t.Helper()
	if int(st.TxFrames+st.TxErrors) != total || len(got) != int(st.TxFrames) {
		t.Fatalf("received %d frames; stats %+v; want TxFrames+TxErrors = %d", len(got), st, total)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] || got[i] >= total {
			t.Fatalf("frame %d after %d: out of order", got[i], got[i-1])
		}
	}
}

// TestTxRingOrderAndWrap sends batches longer than the send ring (its
// slots wrap, several sendto per batch), plain frames of every size with
// a GSO super-frame among them (sent with sendmmsg, in its place): every
// frame arrives, in order.
func TestTxRingOrderAndWrap(t *testing.T) {
	_, srv, cli := labLinks(t, Options{TxRingFrames: 1}, Options{})
	if srv.tx.slots >= 100 {
		t.Fatalf("%d slots: the test wants fewer than a batch", srv.tx.slots)
	}
	const batches, per = 3, 100
	frames := make([][]byte, per)
	meta := make([]driver.TxMeta, per)
	big, bigMeta := gsoFrame(cli.MAC(), srv.MAC(), 20000)
	n := 0 // plain frames numbered in order
	for range batches {
		for i := range frames {
			if i == per/2 {
				frames[i], meta[i] = big, bigMeta
				continue
			}
			frames[i], meta[i] = seqFrame(cli, srv, n), driver.TxMeta{}
			n++
		}
		if err := srv.WriteBatch(frames, meta); err != nil && !errors.Is(err, unix.ENOBUFS) {
			t.Fatal(err)
		}
	}
	got := collectSeq(t, cli, int(srv.Stats().TxFrames)-batches)
	st := srv.Stats()
	st.TxFrames -= batches // the super-frames, not counted in got
	checkSeq(t, got, st, n)
}

// TestTxRingRefusals: frames the kernel refuses are counted (TxErrors) and
// skipped, the first error returned, and the frames around them sent in
// order; the ring stays in step with the kernel afterwards.
func TestTxRingRefusals(t *testing.T) {
	_, srv, cli := labLinks(t, Options{}, Options{})
	short := make([]byte, 10)                                                          // shorter than an Ethernet header: EINVAL from the ring
	long := ethFrame(cli.MAC(), srv.MAC(), etherTypeTest, make([]byte, srv.MTU()+100)) // over the MTU, no GSO: EMSGSIZE
	batch := [][]byte{seqFrame(cli, srv, 0), short, seqFrame(cli, srv, 1), long, seqFrame(cli, srv, 2)}
	err := srv.WriteBatch(batch, nil)
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "tx ring") {
		t.Fatalf("WriteBatch = %v, want the ring's EINVAL first", err)
	}
	if err := srv.WriteBatch([][]byte{seqFrame(cli, srv, 3), seqFrame(cli, srv, 4)}, nil); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.TxErrors != 2 {
		t.Fatalf("stats %+v: want TxErrors 2", st)
	}
	checkSeq(t, collectSeq(t, cli, int(st.TxFrames)), st, 7)
}

// TestTxRingWaitsForSlots holds the sent frames in a slow qdisc (tbf) on
// the server's interface, so every slot is in flight: the send waits for
// slots (TxRingFull) and every frame still leaves, in order.
func TestTxRingWaitsForSlots(t *testing.T) {
	l, srv, cli := labLinks(t, Options{TxRingFrames: 1}, Options{})
	tc := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		full := append([]string{"-n", l.ServerNS(), "qdisc"}, args...)
		if out, err := exec.CommandContext(ctx, "tc", full...).CombinedOutput(); err != nil {
			t.Skipf("tc qdisc %v: %v %s", args, err, out)
		}
	}
	// 41 slots of 60-byte frames at 5 Mbit/s: a slot comes free every
	// ~0.13 ms, well within txRingWait.
	tc("add", "dev", l.ServerIface(), "root", "tbf", "rate", "5mbit", "burst", "1600", "limit", "1000000")
	const total = 300
	frames := make([][]byte, total)
	for i := range frames {
		frames[i] = ethFrame(cli.MAC(), srv.MAC(), etherTypeTest, binary.BigEndian.AppendUint32(nil, uint32(i)))
		frames[i] = append(frames[i], make([]byte, 60-len(frames[i]))...)
	}
	if err := srv.WriteBatch(frames, nil); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.TxRingFull == 0 {
		t.Fatalf("stats %+v: the ring never filled", st)
	}
	checkSeq(t, collectSeq(t, cli, int(st.TxFrames)), st, total)
}

// TestTxRingCloseGivesBack: Close unmaps the send ring and closes its
// socket (and every other descriptor the link opened).
func TestTxRingCloseGivesBack(t *testing.T) {
	l, _, _ := labLinks(t, Options{}, Options{})
	fds0 := openFDs(t)
	var link *Link
	if err := l.RunInServerNS(func() (err error) { link, err = Open(l.ServerIface(), Options{}); return err }); err != nil {
		t.Fatal(err)
	}
	if !link.TxRing() {
		t.Fatal("no send ring")
	}
	addr := fmt.Sprintf("%x-", uintptr(unsafe.Pointer(&link.tx.mem[0])))
	if !strings.Contains(readFile(t, "/proc/self/maps"), "\n"+addr) {
		t.Fatalf("send ring %s not in /proc/self/maps", addr)
	}
	if err := link.WriteBatch([][]byte{seqFrame(link, link, 0)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := link.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(readFile(t, "/proc/self/maps"), "\n"+addr) {
		t.Fatalf("send ring %s still mapped after Close", addr)
	}
	if fds := openFDs(t); fds != fds0 {
		t.Fatalf("%d descriptors open after Close, %d before Open", fds, fds0)
	}
	if err := link.WriteBatch([][]byte{seqFrame(link, link, 1)}, nil); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v", err)
	}
}

func readFile(t *testing.T, name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return "\n" + string(bytes.TrimSpace(b))
}

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
