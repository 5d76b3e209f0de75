package pipe

import (
	"errors"
	"hash/crc32"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/wire"
)

// sendN writes frames 0..n-1 from a in one batch each of up to 64.
func sendN(t *testing.T, a *End, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := a.WriteBatch([][]byte{frame(uint32(i), 64)}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func lossRun(t *testing.T, seed uint64) ([]uint32, Stats) {
	a, b := New(Config{QueueLen: 1000, AtoB: Faults{Seed: seed, Loss: 0.3}})
	sendN(t, a, 1000)
	got := newReader(b, 16).ids(t, b, 0)
	return got, b.Stats()
}

func TestLossSeeded(t *testing.T) {
	got1, s1 := lossRun(t, 42)
	got2, _ := lossRun(t, 42)
	got3, _ := lossRun(t, 43)
	if !slices.Equal(got1, got2) {
		t.Fatal("same seed gave different deliveries")
	}
	if slices.Equal(got1, got3) {
		t.Fatal("different seeds gave the same deliveries")
	}
	if s1.Faults.Lost < 200 || s1.Faults.Lost > 400 {
		t.Fatalf("lost %d of 1000 at p=0.3", s1.Faults.Lost)
	}
	if uint64(len(got1))+s1.Faults.Lost != 1000 || s1.Received != 1000 {
		t.Fatalf("delivered %d + lost %d != 1000 (raw received %d)", len(got1), s1.Faults.Lost, s1.Received)
	}
	if !slices.IsSorted(got1) {
		t.Fatal("loss alone reordered frames")
	}
}

func TestDuplicate(t *testing.T) {
	a, b := New(Config{AtoB: Faults{Seed: 1, Duplicate: 1}})
	sendN(t, a, 3)
	got := newReader(b, 4).ids(t, b, 0)
	if want := []uint32{0, 0, 1, 1, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if s := b.Stats(); s.Faults.Duplicated != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCorruptCaughtByFCS(t *testing.T) {
	a, b := New(Config{FCS: true, AtoB: Faults{Seed: 9, Corrupt: 1}})
	sendN(t, a, 50)
	r := newReader(b, 8)
	seen := 0
	for {
		k, err := b.ReadBatch(r.frames, r.n, r.meta, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
		for i := 0; i < k; i++ {
			seen++
			if crc32.ChecksumIEEE(r.frames[i][:r.n[i]]) == 0x2144df1c {
				t.Fatalf("corrupted frame %d passes the FCS check", seen)
			}
		}
	}
	if s := b.Stats(); seen != 50 || s.Faults.Corrupted != 50 {
		t.Fatalf("seen %d, stats %+v", seen, s)
	}
}

func TestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := New(Config{AtoB: Faults{Seed: 1, Delay: 5 * time.Millisecond}})
		start := time.Now()
		sendN(t, a, 1)
		r := newReader(b, 1)
		// A deadline before the release returns empty at the deadline.
		k, err := b.ReadBatch(r.frames, r.n, r.meta, start.Add(2*time.Millisecond))
		if k != 0 || err != nil || time.Since(start) != 2*time.Millisecond {
			t.Fatalf("early ReadBatch = %d, %v after %v", k, err, time.Since(start))
		}
		k, err = b.ReadBatch(r.frames, r.n, r.meta, time.Time{})
		if k != 1 || err != nil || time.Since(start) != 5*time.Millisecond {
			t.Fatalf("ReadBatch = %d, %v after %v", k, err, time.Since(start))
		}
		if s := b.Stats(); s.Faults.Delayed != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestReorder(t *testing.T) {
	run := func() ([]uint32, FaultStats) {
		var got []uint32
		var st FaultStats
		synctest.Test(t, func(t *testing.T) {
			a, b := New(Config{AtoB: Faults{Seed: 5, Reorder: 0.2}})
			sendN(t, a, 100)
			got = newReader(b, 16).ids(t, b, 10*time.Millisecond)
			st = b.Stats().Faults
		})
		return got, st
	}
	got, st := run()
	again, _ := run()
	if !slices.Equal(got, again) {
		t.Fatal("same seed gave different orders")
	}
	if len(got) != 100 {
		t.Fatalf("delivered %d of 100", len(got))
	}
	if slices.IsSorted(got) || st.Reordered == 0 {
		t.Fatalf("no reordering: reordered=%d %v", st.Reordered, got)
	}
	sorted := slices.Sorted(slices.Values(got))
	for i, id := range sorted {
		if id != uint32(i) {
			t.Fatalf("not a permutation of 0..99: %v", got)
		}
	}
	// The held frames come last, in their own order.
	tail := got[100-st.Reordered:]
	if !slices.IsSorted(tail) || !slices.IsSorted(got[:100-st.Reordered]) {
		t.Fatalf("unexpected order %v", got)
	}
}

func TestFaultOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := New(Config{AtoB: Faults{Seed: 1, Delay: time.Millisecond, QueueLen: 4}})
		sendN(t, a, 10)
		got := newReader(b, 16).ids(t, b, 5*time.Millisecond)
		// The fault link reads 16 at a time, holds 4 and drops the rest.
		if s := b.Stats(); len(got) != 4 || s.Faults.DropOverflow != 6 {
			t.Fatalf("got %v, stats %+v", got, s)
		}
	})
}

func TestFaultyWrapsAnyLink(t *testing.T) {
	a, b := New(Config{})
	lossy := Faulty(b, Faults{Seed: 3, Loss: 1})
	if lossy.MAC() != b.MAC() || lossy.MTU() != b.MTU() || lossy.MaxFrame() != b.MaxFrame() {
		t.Fatal("wrapper does not report the inner link's properties")
	}
	sendN(t, a, 10)
	if got := newReader(lossy, 4).ids(t, lossy, 0); len(got) != 0 {
		t.Fatalf("Loss=1 delivered %v", got)
	}
	if st := lossy.(*FaultLink).Stats(); st.Lost != 10 {
		t.Fatalf("stats %+v", st)
	}
	// Writes pass through unimpaired.
	if err := lossy.WriteBatch([][]byte{frame(1, 64)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := newReader(a, 4).ids(t, a, 0); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("write through wrapper delivered %v", got)
	}
	if err := lossy.Close(); err != nil {
		t.Fatal(err)
	}
	r := newReader(lossy, 1)
	if _, err := lossy.ReadBatch(r.frames, r.n, r.meta, time.Time{}); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("ReadBatch after Close: %v", err)
	}
}

// txLossRun writes frames 0..999 through a FaultLink with TxLoss 0.3 (and
// Loss set, to show the receive draws do not disturb the transmit ones) and
// returns what the far end received.
func txLossRun(t *testing.T, seed uint64, metas bool) ([]uint32, FaultStats) {
	t.Helper()
	a, b := New(Config{QueueLen: 1000})
	lossy := NewFaulty(b, Faults{Seed: seed, TxLoss: 0.3, Loss: 0.5})
	for i := 0; i < 1000; i += 4 {
		batch := [][]byte{frame(uint32(i), 64), frame(uint32(i+1), 64), frame(uint32(i+2), 64), frame(uint32(i+3), 64)}
		var meta []driver.TxMeta
		if metas {
			meta = make([]driver.TxMeta, len(batch))
		}
		if err := lossy.WriteBatch(batch, meta); err != nil {
			t.Fatal(err)
		}
	}
	return newReader(a, 16).ids(t, a, 0), lossy.Stats()
}

func TestTxLoss(t *testing.T) {
	got1, s1 := txLossRun(t, 42, false)
	got2, _ := txLossRun(t, 42, true)
	got3, _ := txLossRun(t, 43, false)
	if !slices.Equal(got1, got2) {
		t.Fatal("same seed gave different transmit drops (with and without TxMeta)")
	}
	if slices.Equal(got1, got3) {
		t.Fatal("different seeds gave the same transmit drops")
	}
	if s1.TxLost < 200 || s1.TxLost > 400 {
		t.Fatalf("lost %d of 1000 sent at TxLoss=0.3", s1.TxLost)
	}
	if uint64(len(got1)) != s1.TxSent || s1.TxSent+s1.TxLost != 1000 {
		t.Fatalf("delivered %d, stats %+v", len(got1), s1)
	}
	if !slices.IsSorted(got1) {
		t.Fatal("transmit loss reordered frames")
	}
	if s1.Lost != 0 {
		t.Fatalf("receive-side loss counted %d with nothing received", s1.Lost)
	}
}

// ipFrame is an Ethernet frame carrying an IPv4 header with the given ECN
// field and id in its ID field.
func ipFrame(id uint16, ecn uint8) []byte {
	f := make([]byte, wire.EthernetHeaderLen+wire.IPv4MinHeaderLen+8)
	wire.PutEthernet(f, wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 0xa}, wire.EtherTypeIPv4)
	(&wire.IPv4Header{TOS: 0x20 | ecn, TotalLen: wire.IPv4MinHeaderLen + 8, ID: id, TTL: 64, Protocol: 253,
		Src: wire.Addr{198, 18, 0, 1}, Dst: wire.Addr{198, 18, 0, 2}}).Put(f[wire.EthernetHeaderLen:])
	return f
}

// TestMarkCE: with MarkCE 1 every ECN-capable IPv4 frame arrives CE-marked
// with a valid header checksum; Not-ECT frames and other EtherTypes pass
// untouched (RFC 3168 §5: a router marks only ECT packets).
func TestMarkCE(t *testing.T) {
	a, b := New(Config{AtoB: Faults{Seed: 3, MarkCE: 1}})
	in := [][]byte{ipFrame(1, wire.ECNECT0), ipFrame(2, wire.ECNNotECT), ipFrame(3, wire.ECNECT1), frame(4, 64)}
	for _, f := range in {
		if err := a.WriteBatch([][]byte{f}, nil); err != nil {
			t.Fatal(err)
		}
	}
	r := newReader(b, 8)
	k, err := b.ReadBatch(r.frames, r.n, r.meta, time.Now().Add(time.Second))
	if err != nil || k != len(in) {
		t.Fatalf("read %d frames, %v", k, err)
	}
	want := []uint8{wire.ECNCE, wire.ECNNotECT, wire.ECNCE}
	for i, w := range want {
		ip := wire.IPv4(r.frames[i][wire.EthernetHeaderLen:r.n[i]])
		if ip.ECN() != w || ip.TOS()&^wire.ECNMask != 0x20 || !ip.HeaderChecksumValid() {
			t.Fatalf("frame %d: TOS %#x, checksum valid %v; want ECN %02b", i, ip.TOS(), ip.HeaderChecksumValid(), w)
		}
	}
	if !slices.Equal(r.frames[3][:r.n[3]], in[3]) {
		t.Fatal("non-IP frame changed")
	}
	if s := b.Stats(); s.Faults.CEMarked != 2 || s.Faults.Lost != 0 {
		t.Fatalf("stats %+v", s.Faults)
	}
}

// offloadLink reports every frame it reads as checksum-verified or, with
// partial, as CHECKSUM_PARTIAL (what AF_PACKET says of a veth peer's frames
// with transmit offload on).
type offloadLink struct {
	driver.Link
	partial bool
}

func (o offloadLink) ReadBatch(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	k, err := o.Link.ReadBatch(frames, n, meta, deadline)
	for i := range k {
		meta[i].CsumValid, meta[i].CsumPartial = !o.partial, o.partial
	}
	return k, err
}

// TestCorruptClearsChecksumVerdict: a corrupted frame is delivered with its
// checksum unverified, whatever the inner link said, so the stack checks it
// (found by the soak: with the client's offloads on, a flipped bit in a
// CHECKSUM_PARTIAL segment reached the application); frames not corrupted
// keep the inner link's verdict.
func TestCorruptClearsChecksumVerdict(t *testing.T) {
	for _, partial := range []bool{false, true} {
		for _, corrupt := range []float64{0, 1} {
			a, b := New(Config{})
			fl := NewFaulty(offloadLink{b, partial}, Faults{Seed: 5, Corrupt: corrupt, Duplicate: 0.5})
			sendN(t, a, 20)
			r := newReader(fl, 8)
			seen := 0
			for {
				k, err := fl.ReadBatch(r.frames, r.n, r.meta, time.Now().Add(50*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				if k == 0 {
					break
				}
				for _, m := range r.meta[:k] {
					seen++
					trusted := m.CsumValid || m.CsumPartial
					if corrupt == 1 && trusted {
						t.Fatalf("partial=%v: a corrupted frame delivered as %+v: its checksum would not be checked", partial, m)
					}
					if corrupt == 0 && (m.CsumValid != !partial || m.CsumPartial != partial) {
						t.Fatalf("partial=%v: an intact frame lost the inner link's verdict: %+v", partial, m)
					}
				}
			}
			if seen < 20 {
				t.Fatalf("delivered %d frames of 20", seen)
			}
		}
	}
}
