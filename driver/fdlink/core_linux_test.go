//go:build linux

package fdlink

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/linktest"
	"github.com/netspec/netspec/fsm/stack"
)

// The Core is tested on one end of a SOCK_SEQPACKET socket pair, which keeps
// message boundaries and cuts a message that does not fit the buffer
// silently, as a TAP device does; the test's Read and Write are readv and
// writev with the optional virtio-net header, like tap's. The other end is
// the peer: what it writes the Core reads, and the other way round. No root
// needed.

// seqIO is the test driver: its Read and Write for Config.
type seqIO struct {
	vnet  bool
	rhdr  VnetHdr
	rtail [1]byte
	riov  [3]unix.Iovec
	wvhdr VnetHdr
	wiov  [2]unix.Iovec
	// refuse makes Write fail with EINVAL for empty frames (before any
	// system call), as a TAP device refuses a frame without an Ethernet
	// header.
	refuse bool
}

func (s *seqIO) iov0() int {
	if s.vnet {
		return 0
	}
	return 1
}

func (s *seqIO) read(fd uintptr, rx *Rx) unix.Errno {
	slot := rx.Got()
	s.riov[0].Base = &s.rhdr[0]
	s.riov[0].SetLen(VnetHdrLen)
	SetIov(&s.riov[1], rx.Frame(slot))
	s.riov[2].Base = &s.rtail[0]
	s.riov[2].SetLen(1)
	r, _, e := unix.Syscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&s.riov[s.iov0()])), uintptr(3-s.iov0()))
	if e != 0 {
		return e
	}
	rx.Received(slot, int(r), false, &s.rhdr, time.Now())
	return 0
}

func (s *seqIO) write(fd uintptr, tx *Tx) (int, unix.Errno) {
	i := tx.Sent()
	if s.refuse && len(tx.Frames()[i]) == 0 {
		return 0, unix.EINVAL
	}
	s.wiov[0].Base = &tx.Hdr(i, &s.wvhdr)[0]
	s.wiov[0].SetLen(VnetHdrLen)
	SetIov(&s.wiov[1], tx.Frames()[i])
	_, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&s.wiov[s.iov0()])), uintptr(2-s.iov0()))
	if e != 0 {
		return 0, e
	}
	return 1, 0
}

// pair returns a Core over one end of a fresh socket pair and the peer's
// descriptor (blocking); both are closed at cleanup.
func pair(t *testing.T, cfg Config, io *seqIO) (*Core, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	io.vnet = cfg.Vnet
	cfg.Driver, cfg.Name = "test", "sp0"
	cfg.Read, cfg.ReadOp, cfg.Write, cfg.WriteOp = io.read, "readv", io.write, "writev"
	c, err := New(fds[0], cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); unix.Close(fds[1]) })
	return c, fds[1]
}

func peerWrite(t *testing.T, fd int, msgs ...[]byte) {
	t.Helper()
	for _, m := range msgs {
		if _, err := unix.Write(fd, m); err != nil {
			t.Fatal(err)
		}
	}
}

func peerRead(t *testing.T, fd int) []byte {
	t.Helper()
	b := make([]byte, 70000)
	n, err := unix.Read(fd, b)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

func bufs(k, size int) ([][]byte, []int, []driver.RxMeta) {
	frames := make([][]byte, k)
	for i := range frames {
		frames[i] = make([]byte, size)
	}
	return frames, make([]int, k), make([]driver.RxMeta, k)
}

// soon is a deadline that only guards against a hang.
func soon() time.Time { return time.Now().Add(10 * time.Second) }

// TestVnetMetadata: a received header's flags become RxMeta and counters; a
// super-frame is sent behind the header PutVnetHdr makes, a plain frame
// behind a zero one.
func TestVnetMetadata(t *testing.T) {
	c, peer := pair(t, Config{Vnet: true}, &seqIO{})
	frame := bytes.Repeat([]byte{0xab}, 100)
	h := VnetHdr{vnetFlagNeedsCsum, vnetGSOTCPv4}
	peerWrite(t, peer, append(h[:], frame...), append(make([]byte, VnetHdrLen), frame...))
	v := VnetHdr{vnetFlagDataValid}
	peerWrite(t, peer, append(v[:], frame...))
	frames, n, meta := bufs(4, 2000)
	got := 0
	for got < 3 {
		k, err := c.ReadBatch(frames[got:], n[got:], meta[got:], soon())
		if err != nil || k == 0 {
			t.Fatalf("ReadBatch = %d, %v", k, err)
		}
		got += k
	}
	for i := range 3 {
		if !bytes.Equal(frames[i][:n[i]], frame) || meta[i].Time.IsZero() {
			t.Fatalf("frame %d: %d bytes, meta %+v", i, n[i], meta[i])
		}
	}
	if !meta[0].CsumPartial || meta[0].CsumValid || meta[1].CsumPartial || meta[1].CsumValid || !meta[2].CsumValid {
		t.Fatalf("meta %+v", meta[:3])
	}
	want := Stats{RxFrames: 3, RxBytes: 300, RxCsumPartial: 1, RxCsumValid: 1, RxGSO: 1}
	if st := c.Stats(); st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}

	m := driver.TxMeta{GSO: stack.GSOTCPv4, NeedsCsum: true, GSOSize: 1448, HdrLen: 54, CsumStart: 34, CsumOffset: 16}
	if err := c.WriteBatch([][]byte{frame, frame}, []driver.TxMeta{m}); err != nil {
		t.Fatal(err)
	}
	var wantHdr VnetHdr
	PutVnetHdr(&wantHdr, &m)
	if got := peerRead(t, peer); !bytes.Equal(got, append(wantHdr[:], frame...)) {
		t.Fatalf("super-frame sent as % x", got[:VnetHdrLen])
	}
	if got := peerRead(t, peer); !bytes.Equal(got, append(make([]byte, VnetHdrLen), frame...)) {
		t.Fatalf("plain frame sent as % x", got[:VnetHdrLen])
	}
	if st := c.Stats(); st.TxFrames != 2 || st.TxBytes != 200 || c.GSOMaxSize() != gsoMaxIPLen {
		t.Fatalf("stats %+v, GSOMaxSize %d", st, c.GSOMaxSize())
	}
}

// TestDropsCounted: a message shorter than the header and one longer than
// the buffer are counted, not delivered, and do not end the batch: the good
// frame behind them comes in the same ReadBatch.
func TestDropsCounted(t *testing.T) {
	c, peer := pair(t, Config{Vnet: true, Drain: true}, &seqIO{})
	good := append(make([]byte, VnetHdrLen), bytes.Repeat([]byte{1}, 60)...)
	peerWrite(t, peer, make([]byte, 4), append(make([]byte, VnetHdrLen), make([]byte, 200)...), good)
	frames, n, meta := bufs(4, 100)
	k, err := c.ReadBatch(frames, n, meta, soon())
	if err != nil || k != 1 || n[0] != 60 || frames[0][0] != 1 {
		t.Fatalf("ReadBatch = %d, %v (n %v)", k, err, n)
	}
	if st := c.Stats(); st.RxShort != 1 || st.RxTruncated != 1 || st.RxFrames != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDrain: with Drain a batch takes every queued frame; without, the
// first read that delivers ends it.
func TestDrain(t *testing.T) {
	for _, drain := range []bool{false, true} {
		c, peer := pair(t, Config{Drain: drain}, &seqIO{})
		peerWrite(t, peer, []byte("one"), []byte("two"), []byte("three"))
		frames, n, meta := bufs(8, 100)
		want := 1
		if drain {
			want = 3
		}
		if k, err := c.ReadBatch(frames, n, meta, soon()); k != want || err != nil {
			t.Fatalf("drain %v: ReadBatch = %d, %v; want %d", drain, k, err, want)
		}
		if got := string(frames[want-1][:n[want-1]]); got != []string{"one", "two", "three"}[want-1] {
			t.Fatalf("drain %v: frame %d is %q", drain, want-1, got)
		}
	}
}

// TestBatchLimit: ReadBatch delivers at most Config.Batch frames; WriteBatch
// sends more than Batch, in order, waiting in the netpoller when the
// socket's buffer is full.
func TestBatchLimit(t *testing.T) {
	c, peer := pair(t, Config{Batch: 4, Drain: true}, &seqIO{})
	if err := unix.SetsockoptInt(peer, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096); err != nil {
		t.Fatal(err)
	}
	const total = 300
	out := make([][]byte, total)
	for i := range out {
		out[i] = []byte{byte(i), byte(i >> 8), 0, 0, 0, 0, 0, 0}
	}
	done := make(chan error, 1)
	go func() { done <- c.WriteBatch(out, nil) }()
	for i := range total {
		if got := peerRead(t, peer); !bytes.Equal(got, out[i]) {
			t.Fatalf("message %d is % x", i, got)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	peerWrite(t, peer, out[:6]...)
	frames, n, meta := bufs(8, 100)
	if k, err := c.ReadBatch(frames, n, meta, soon()); k != 4 || err != nil {
		t.Fatalf("ReadBatch = %d, %v; want Batch (4)", k, err)
	}
	if st := c.Stats(); st.TxFrames != total || st.TxBytes != 8*total {
		t.Fatalf("stats %+v", st)
	}
}

// TestWriteRefusalCounted: a frame the kernel refuses is counted and
// skipped; the rest of the batch is sent and the first error returned.
func TestWriteRefusalCounted(t *testing.T) {
	c, peer := pair(t, Config{}, &seqIO{refuse: true})
	err := c.WriteBatch([][]byte{[]byte("a"), nil, []byte("b"), nil}, nil)
	if !errors.Is(err, unix.EINVAL) || !strings.HasPrefix(err.Error(), "test: writev sp0: ") {
		t.Fatalf("WriteBatch = %v", err)
	}
	if a, b := peerRead(t, peer), peerRead(t, peer); string(a) != "a" || string(b) != "b" {
		t.Fatalf("peer got %q, %q", a, b)
	}
	if st := c.Stats(); st.TxErrors != 2 || st.TxFrames != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDeadlineAndClose: with nothing queued, a past deadline polls (0, nil)
// and a near one expires (0, nil); Close ends a blocked ReadBatch with
// driver.ErrClosed; after it both calls fail the same way and Close is
// idempotent.
func TestDeadlineAndClose(t *testing.T) {
	c, _ := pair(t, Config{}, &seqIO{})
	frames, n, meta := bufs(4, 100)
	if k, err := c.ReadBatch(frames, n, meta, time.Now().Add(-time.Second)); k != 0 || err != nil {
		t.Fatalf("past deadline: %d, %v", k, err)
	}
	if k, err := c.ReadBatch(frames, n, meta, time.Now().Add(20*time.Millisecond)); k != 0 || err != nil {
		t.Fatalf("deadline: %d, %v", k, err)
	}
	linktest.CloseUnblocksRead(t, c, frames, n, meta)
	if _, err := c.ReadBatch(frames, n, meta, time.Time{}); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("ReadBatch after Close: %v", err)
	}
	if err := c.WriteBatch([][]byte{{1}}, nil); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v", err)
	}
	if err := Control(c, func(uintptr) {}); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("Control after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestNoAllocs: a batch each way allocates nothing.
func TestNoAllocs(t *testing.T) {
	c, peer := pair(t, Config{Vnet: true, Drain: true}, &seqIO{})
	frames, n, meta := bufs(4, 100)
	out := [][]byte{make([]byte, 60), make([]byte, 60)}
	m := []driver.TxMeta{{}, {NeedsCsum: true, CsumStart: 34, CsumOffset: 16}}
	msg := make([]byte, VnetHdrLen+60)
	buf := make([]byte, 200)
	allocs := testing.AllocsPerRun(50, func() {
		if err := c.WriteBatch(out, m); err != nil {
			t.Fatal(err)
		}
		for range out {
			if _, err := unix.Read(peer, buf); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := unix.Write(peer, msg); err != nil {
			t.Fatal(err)
		}
		if k, err := c.ReadBatch(frames, n, meta, soon()); k != 1 || err != nil {
			t.Fatalf("ReadBatch = %d, %v", k, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per write+read", allocs)
	}
}
