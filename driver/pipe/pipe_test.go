package pipe

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/wire"
)

// frame builds a minimal Ethernet frame whose payload carries id.
func frame(id uint32, size int) []byte {
	f := make([]byte, size)
	copy(f[0:6], wire.BroadcastMAC[:])
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 0xa})
	binary.BigEndian.PutUint16(f[12:14], 0x88b5) // IEEE local experimental EtherType
	binary.BigEndian.PutUint32(f[14:18], id)
	return f
}

type reader struct {
	frames [][]byte
	n      []int
	meta   []driver.RxMeta
}

func newReader(l driver.Link, batch int) *reader {
	r := &reader{frames: make([][]byte, batch), n: make([]int, batch), meta: make([]driver.RxMeta, batch)}
	for i := range r.frames {
		r.frames[i] = make([]byte, l.MaxFrame())
	}
	return r
}

// ids reads until the deadline passes with nothing new and returns the frame
// ids delivered, in order.
func (r *reader) ids(t *testing.T, l driver.Link, wait time.Duration) []uint32 {
	t.Helper()
	var out []uint32
	for {
		k, err := l.ReadBatch(r.frames, r.n, r.meta, time.Now().Add(wait))
		if err != nil {
			t.Fatalf("ReadBatch: %v", err)
		}
		if k == 0 {
			return out
		}
		for i := 0; i < k; i++ {
			out = append(out, binary.BigEndian.Uint32(r.frames[i][14:18]))
		}
	}
}

func TestDefaults(t *testing.T) {
	a, b := New(Config{})
	if a.MTU() != 1500 || a.MaxFrame() != 1514 || a.MAC() == b.MAC() {
		t.Fatalf("defaults: mtu %d max %d macs %v %v", a.MTU(), a.MaxFrame(), a.MAC(), b.MAC())
	}
	a, _ = New(Config{FCS: true, MTU: 9000})
	if a.MaxFrame() != 9018 {
		t.Fatalf("FCS MaxFrame = %d, want 9018", a.MaxFrame())
	}
}

func TestFramesAreCopied(t *testing.T) {
	a, b := New(Config{})
	f := frame(7, 60)
	if err := a.WriteBatch([][]byte{f}, nil); err != nil {
		t.Fatal(err)
	}
	f[14] = 0xff // the caller reuses its buffer at once
	r := newReader(b, 4)
	k, err := b.ReadBatch(r.frames, r.n, r.meta, time.Now().Add(time.Second))
	if err != nil || k != 1 {
		t.Fatalf("ReadBatch = %d, %v", k, err)
	}
	if r.n[0] != 60 || binary.BigEndian.Uint32(r.frames[0][14:18]) != 7 || r.meta[0].FCS {
		t.Fatalf("got n=%d id=%d fcs=%v", r.n[0], binary.BigEndian.Uint32(r.frames[0][14:18]), r.meta[0].FCS)
	}
	if s := a.Stats(); s.Sent != 1 {
		t.Fatalf("a stats %+v", s)
	}
	if s := b.Stats(); s.Received != 1 {
		t.Fatalf("b stats %+v", s)
	}
}

func TestBatchOrder(t *testing.T) {
	a, b := New(Config{})
	var batch [][]byte
	for i := uint32(0); i < 10; i++ {
		batch = append(batch, frame(i, 64))
	}
	if err := a.WriteBatch(batch, nil); err != nil {
		t.Fatal(err)
	}
	got := newReader(b, 3).ids(t, b, 0)
	if len(got) != 10 {
		t.Fatalf("got %v", got)
	}
	for i, id := range got {
		if id != uint32(i) {
			t.Fatalf("out of order: %v", got)
		}
	}
}

func TestQueueFullDrops(t *testing.T) {
	a, b := New(Config{QueueLen: 4})
	for i := uint32(0); i < 6; i++ {
		if err := a.WriteBatch([][]byte{frame(i, 64)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if s := a.Stats(); s.Sent != 4 || s.DropQueueFull != 2 {
		t.Fatalf("stats %+v", s)
	}
	if got := newReader(b, 8).ids(t, b, 0); len(got) != 4 || got[3] != 3 {
		t.Fatalf("got %v", got)
	}
	// Buffers are recycled: the queue accepts frames again.
	if err := a.WriteBatch([][]byte{frame(9, 64)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := newReader(b, 8).ids(t, b, 0); len(got) != 1 || got[0] != 9 {
		t.Fatalf("got %v", got)
	}
}

func TestTooLong(t *testing.T) {
	a, b := New(Config{})
	err := a.WriteBatch([][]byte{frame(1, 1515), frame(2, 1514)}, nil)
	if !errors.Is(err, ErrFrameTooLong) {
		t.Fatalf("err = %v", err)
	}
	if s := a.Stats(); s.DropTooLong != 1 || s.Sent != 1 {
		t.Fatalf("stats %+v", s)
	}
	if got := newReader(b, 4).ids(t, b, 0); len(got) != 1 || got[0] != 2 {
		t.Fatalf("got %v", got)
	}
}

func TestShortReceiveBuffer(t *testing.T) {
	a, b := New(Config{})
	_ = a.WriteBatch([][]byte{frame(1, 1000), frame(2, 100)}, nil)
	frames := [][]byte{make([]byte, 200)}
	n, meta := make([]int, 1), make([]driver.RxMeta, 1)
	k, err := b.ReadBatch(frames, n, meta, time.Now())
	if err != nil || k != 1 || n[0] != 100 {
		t.Fatalf("ReadBatch = %d, %v, n=%d", k, err, n[0])
	}
	if s := b.Stats(); s.DropShortBuf != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFCS(t *testing.T) {
	a, b := New(Config{FCS: true})
	f := frame(3, 60)
	if err := a.WriteBatch([][]byte{f}, nil); err != nil {
		t.Fatal(err)
	}
	r := newReader(b, 1)
	k, err := b.ReadBatch(r.frames, r.n, r.meta, time.Now())
	if err != nil || k != 1 {
		t.Fatalf("ReadBatch = %d, %v", k, err)
	}
	got := r.frames[0][:r.n[0]]
	if len(got) != 64 || !r.meta[0].FCS {
		t.Fatalf("len %d fcs %v", len(got), r.meta[0].FCS)
	}
	if crc := binary.LittleEndian.Uint32(got[60:]); crc != crc32.ChecksumIEEE(f) {
		t.Fatalf("FCS %08x, want %08x", crc, crc32.ChecksumIEEE(f))
	}
	// The residue of a frame with its FCS appended is the CRC-32 magic constant.
	if crc32.ChecksumIEEE(got) != 0x2144df1c {
		t.Fatalf("residue %08x", crc32.ChecksumIEEE(got))
	}
}

func TestDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, b := New(Config{})
		r := newReader(b, 1)
		start := time.Now()
		k, err := b.ReadBatch(r.frames, r.n, r.meta, start.Add(10*time.Millisecond))
		if k != 0 || err != nil {
			t.Fatalf("ReadBatch = %d, %v", k, err)
		}
		if d := time.Since(start); d != 10*time.Millisecond {
			t.Fatalf("returned after %v, want 10ms", d)
		}
		// A deadline in the past polls.
		if k, err := b.ReadBatch(r.frames, r.n, r.meta, start); k != 0 || err != nil {
			t.Fatalf("ReadBatch(past) = %d, %v", k, err)
		}
	})
}

func TestReadWakesOnWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := New(Config{})
		go func() {
			time.Sleep(3 * time.Millisecond) // simulated time
			_ = a.WriteBatch([][]byte{frame(5, 64)}, nil)
		}()
		r := newReader(b, 1)
		start := time.Now()
		k, err := b.ReadBatch(r.frames, r.n, r.meta, time.Time{})
		if k != 1 || err != nil || time.Since(start) != 3*time.Millisecond {
			t.Fatalf("ReadBatch = %d, %v after %v", k, err, time.Since(start))
		}
	})
}

func TestCloseUnblocksRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := New(Config{})
		errc := make(chan error)
		go func() {
			r := newReader(b, 1)
			_, err := b.ReadBatch(r.frames, r.n, r.meta, time.Time{})
			errc <- err
		}()
		synctest.Wait()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, driver.ErrClosed) {
			t.Fatalf("ReadBatch after Close: %v", err)
		}
		if err := b.WriteBatch([][]byte{frame(1, 64)}, nil); !errors.Is(err, driver.ErrClosed) {
			t.Fatalf("WriteBatch after Close: %v", err)
		}
		if err := a.WriteBatch([][]byte{frame(1, 64)}, nil); err != nil {
			t.Fatal(err)
		}
		if s := a.Stats(); s.DropClosed != 1 {
			t.Fatalf("stats %+v", s)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// TestConcurrent runs writers on both ends and readers against them; run with -race.
func TestConcurrent(t *testing.T) {
	a, b := New(Config{QueueLen: 64})
	const perWriter = 2000
	var wg sync.WaitGroup
	for _, e := range []*End{a, b} {
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := frame(0, 64)
				for i := 0; i < perWriter; i++ {
					binary.BigEndian.PutUint32(f[14:], uint32(i))
					_ = e.WriteBatch([][]byte{f}, nil)
				}
			}()
		}
	}
	counts := make([]uint64, 2)
	var stop atomic.Bool
	var rg sync.WaitGroup
	for i, e := range []*End{a, b} {
		rg.Add(1)
		go func() {
			defer rg.Done()
			r := newReader(e, 8)
			for {
				// Once stop is seen, every write is done: an empty poll means drained.
				stopped := stop.Load()
				k, err := e.ReadBatch(r.frames, r.n, r.meta, time.Now().Add(time.Millisecond))
				if err != nil {
					t.Errorf("ReadBatch: %v", err)
					return
				}
				counts[i] += uint64(k)
				if k == 0 && stopped {
					return
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	rg.Wait()
	for i, e := range []*End{b, a} { // counts[0] is a's receive = b's sends
		s := e.Stats()
		if counts[i] != s.Sent || s.Sent+s.DropQueueFull != 2*perWriter {
			t.Fatalf("end %d: received %d, stats %+v", i, counts[i], s)
		}
	}
}

func TestNoAllocsPerFrame(t *testing.T) {
	a, b := New(Config{AtoB: Faults{Seed: 1, Duplicate: 0.5}})
	batch := [][]byte{frame(1, 64), frame(2, 1514)}
	r := newReader(b, 8)
	roundTrip := func() {
		if err := a.WriteBatch(batch, nil); err != nil {
			t.Fatal(err)
		}
		for {
			k, err := b.ReadBatch(r.frames, r.n, r.meta, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				return
			}
		}
	}
	for i := 0; i < 10; i++ { // warm the buffer pools
		roundTrip()
	}
	if allocs := testing.AllocsPerRun(100, roundTrip); allocs != 0 {
		t.Fatalf("%v allocations per round trip, want 0", allocs)
	}
}

// lentIDs reads with ReadLent until the deadline passes with nothing new and
// returns the frame ids delivered, in order.
func lentIDs(t *testing.T, e *End, batch int, wait time.Duration) []uint32 {
	t.Helper()
	frames, meta := make([][]byte, batch), make([]driver.RxMeta, batch)
	var out []uint32
	for {
		k, err := e.ReadLent(frames, meta, time.Now().Add(wait))
		if err != nil {
			t.Fatalf("ReadLent: %v", err)
		}
		if k == 0 {
			return out
		}
		for _, f := range frames[:k] {
			out = append(out, binary.BigEndian.Uint32(f[14:18]))
		}
	}
}

// TestReadLent: ReadLent delivers the frames where they lie in the queue,
// in order, each exactly its length, and the batch written in one
// WriteBatch (plain frames around a refused super-frame) keeps its order.
func TestReadLent(t *testing.T) {
	a, b := New(Config{})
	batch := [][]byte{frame(1, 60), frame(2, 1514), frame(3, 100)}
	if err := a.WriteBatch(batch, []driver.TxMeta{{}, {}, {}}); err != nil {
		t.Fatal(err)
	}
	frames, meta := make([][]byte, 8), make([]driver.RxMeta, 8)
	k, err := b.ReadLent(frames, meta, time.Now())
	if err != nil || k != 3 {
		t.Fatalf("ReadLent = %d, %v", k, err)
	}
	for i, f := range frames[:k] {
		if len(f) != len(batch[i]) || binary.BigEndian.Uint32(f[14:18]) != uint32(i+1) || meta[i].Time.IsZero() {
			t.Fatalf("frame %d: len %d id %d meta %+v", i, len(f), binary.BigEndian.Uint32(f[14:18]), meta[i])
		}
	}
	if s := b.Stats(); s.Received != 3 {
		t.Fatalf("stats %+v", s)
	}
}

// TestLentFramesDoNotShrinkTheQueue: the frames a reader holds (lent until
// its next read) are not counted against the queue: QueueLen frames still
// fit behind them, the next is dropped, and the lent buffers come back.
func TestLentFramesDoNotShrinkTheQueue(t *testing.T) {
	a, b := New(Config{QueueLen: 4})
	write := func(from, to uint32) {
		for i := from; i < to; i++ {
			if err := a.WriteBatch([][]byte{frame(i, 64)}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, 4)
	frames, meta := make([][]byte, 4), make([]driver.RxMeta, 4)
	if k, err := b.ReadLent(frames, meta, time.Now()); k != 4 || err != nil {
		t.Fatalf("ReadLent = %d, %v", k, err)
	}
	write(4, 9) // four fit while the first four are lent; the fifth is dropped
	if s := a.Stats(); s.Sent != 8 || s.DropQueueFull != 1 {
		t.Fatalf("stats %+v", s)
	}
	if id := binary.BigEndian.Uint32(frames[3][14:18]); id != 3 {
		t.Fatalf("a lent frame changed before the next read: id %d", id)
	}
	if got := lentIDs(t, b, 8, 0); len(got) != 4 || got[0] != 4 || got[3] != 7 {
		t.Fatalf("got %v", got)
	}
	if n := len(b.rx.pool); n != 8 {
		t.Fatalf("%d buffers back in the pool, want the 8 allocated", n)
	}
}

// TestReadLentThroughFaults: with faults configured ReadLent delivers what
// the fault wrapper lets through (here every frame twice).
func TestReadLentThroughFaults(t *testing.T) {
	a, b := New(Config{AtoB: Faults{Seed: 1, Duplicate: 1}})
	if err := a.WriteBatch([][]byte{frame(1, 64), frame(2, 64)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := lentIDs(t, b, 8, 10*time.Millisecond); len(got) != 4 || got[0] != got[1] || got[2] != got[3] {
		t.Fatalf("got %v", got)
	}
}

// TestReadLentNoAllocs: steady traffic read with ReadLent allocates nothing
// once the queue's buffers exist.
func TestReadLentNoAllocs(t *testing.T) {
	a, b := New(Config{})
	batch := [][]byte{frame(1, 64), frame(2, 1514)}
	frames, meta := make([][]byte, 8), make([]driver.RxMeta, 8)
	roundTrip := func() {
		if err := a.WriteBatch(batch, nil); err != nil {
			t.Fatal(err)
		}
		if k, err := b.ReadLent(frames, meta, time.Now()); k != 2 || err != nil {
			t.Fatalf("ReadLent = %d, %v", k, err)
		}
	}
	for range 10 {
		roundTrip()
	}
	if allocs := testing.AllocsPerRun(100, roundTrip); allocs != 0 {
		t.Fatalf("%v allocations per round trip, want 0", allocs)
	}
}
