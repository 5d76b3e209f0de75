//go:build linux

package afpacket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/linktest"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

func TestRawBothWays(t *testing.T) { eachReceive(t, testRawBothWays) }

func testRawBothWays(t *testing.T, rx Receive) {
	_, srv, cli := labLinks(t, Options{Receive: rx}, Options{Receive: rx})
	payload := bytes.Repeat([]byte("netspec "), 8)
	up := ethFrame(wire.BroadcastMAC, cli.MAC(), etherTypeTest, payload)
	if err := cli.WriteBatch([][]byte{up, up}, nil); err != nil {
		t.Fatal(err)
	}
	r := newRx(1, srv.MaxFrame()) // await drops the rest of a batch
	for i := 0; i < 2; i++ {
		f, m := r.await(t, srv, "test frame", func(f []byte, _ driver.RxMeta) bool { return etherType(f) == etherTypeTest })
		if !bytes.Equal(f, up) || m.CsumPartial || m.Time.IsZero() {
			t.Fatalf("server got %d bytes %x meta %+v", len(f), f, m)
		}
	}
	down := ethFrame(cli.MAC(), srv.MAC(), etherTypeTest+1, payload)
	if err := srv.WriteBatch([][]byte{down}, nil); err != nil {
		t.Fatal(err)
	}
	rc := newRx(4, cli.MaxFrame())
	if f, _ := rc.await(t, cli, "frame from server", func(f []byte, _ driver.RxMeta) bool { return etherType(f) == etherTypeTest+1 }); !bytes.Equal(f, down) {
		t.Fatalf("client got %x", f)
	}
	// The client sent up twice and never sees its own frames looped back.
	if k, err := cli.ReadBatch(rc.frames, rc.n, rc.meta, time.Now()); err != nil || k != 0 {
		t.Fatalf("client ReadBatch after drain = %d, %v", k, err)
	}
	if st := cli.Stats(); st.TxFrames != 2 || st.TxBytes != uint64(2*len(up)) || st.RxFrames != 1 {
		t.Fatalf("client stats %+v", st)
	}
}

// gsoFrame builds a TCP/IPv4 super-frame of payload bytes and the metadata
// whose virtio-net header asks the kernel to segment it (as a TSO sender
// would).
func gsoFrame(dst, src wire.MAC, payload int) ([]byte, driver.TxMeta) {
	ip := make([]byte, 40+payload)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, 6
	copy(ip[12:], cliIP[:])
	copy(ip[16:], srvIP[:])
	binary.BigEndian.PutUint16(ip[10:], ^checksum(ip[:20], 0))
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	binary.BigEndian.PutUint32(tcp[8:], 1)
	tcp[12], tcp[13] = 5<<4, 0x18 // ACK|PSH
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	for i := range payload {
		tcp[20+i] = byte(i)
	}
	// CHECKSUM_PARTIAL: the field holds the pseudo-header sum (RFC 9293 §3.1).
	pseudo := uint32(checksum(ip[12:20], 0)) + 6 + uint32(len(tcp))
	binary.BigEndian.PutUint16(tcp[16:], checksum(nil, pseudo))
	h := driver.TxMeta{
		GSO:        stack.GSOTCPv4,
		NeedsCsum:  true,
		HdrLen:     14 + 40,
		GSOSize:    1448,
		CsumStart:  14 + 20,
		CsumOffset: 16,
	}
	return ethFrame(dst, src, etherTypeIPv4, ip), h
}

// TestGSOMaxSizeCrossesWhole: the largest super-frame the link advertises
// (GSOMaxSize) reaches the veth whole; one longer, and the kernel would cut
// it into MSS-sized packets in software first (each of 46 segments then
// crosses alone, at about three times the sender's CPU: BenchmarkVethTx,
// frame=gso-over). The client interface counts the packets: 8 frames must
// arrive as 8 packets (a few more for the kernel's own, e.g. IPv6
// neighbour discovery), not 8 x 46.
func TestGSOMaxSizeCrossesWhole(t *testing.T) {
	l, srv, _ := labLinks(t, Options{}, Options{})
	if srv.GSOMaxSize() <= 0 {
		t.Skip("no virtio-net header on this link")
	}
	const n = 8
	frames := make([][]byte, n)
	meta := make([]driver.TxMeta, n)
	for i := range frames {
		frames[i], meta[i] = gsoFrame(wire.MAC{0x02, 0, 0, 0, 0, 0x99}, srv.MAC(), srv.GSOMaxSize()-40)
	}
	rx0 := clientRxPackets(t, l)
	if err := srv.WriteBatch(frames, meta); err != nil {
		t.Fatal(err)
	}
	if got := clientRxPackets(t, l) - rx0; got < n || got >= 2*n {
		t.Fatalf("%d super-frames of %d IPv4 octets arrived as %d packets: want %d, whole", n, srv.GSOMaxSize(), got, n)
	}
}

// TestGSOSuperFrameWhole injects a 60 KB TSO frame on the client side: the
// server must get it whole, flagged checksum-partial; a receive buffer too
// small for it must count the truncation instead of delivering a cut frame.
func TestGSOSuperFrameWhole(t *testing.T) { eachReceive(t, testGSOSuperFrameWhole) }

func testGSOSuperFrameWhole(t *testing.T, rx Receive) {
	_, srv, cli := labLinks(t, Options{Receive: rx}, Options{Receive: rx})
	big, hdr := gsoFrame(srv.MAC(), cli.MAC(), 60000)
	if err := cli.WriteBatch([][]byte{big}, []driver.TxMeta{hdr}); err != nil {
		t.Fatalf("send GSO frame: %v", err)
	}
	r := newRx(4, srv.MaxFrame())
	f, m := r.await(t, srv, "GSO frame", func(f []byte, _ driver.RxMeta) bool { return etherType(f) == etherTypeIPv4 })
	if len(f) != len(big) || !bytes.Equal(f, big) {
		t.Fatalf("got %d bytes, want %d intact", len(f), len(big))
	}
	if !m.CsumPartial {
		t.Fatalf("meta %+v: want CsumPartial", m)
	}
	if st := srv.Stats(); st.RxGSO != 1 {
		t.Fatalf("stats %+v: want RxGSO 1", st)
	}

	// Now with MTU-sized buffers: counted, not delivered cut.
	if err := cli.WriteBatch([][]byte{big}, []driver.TxMeta{hdr}); err != nil {
		t.Fatal(err)
	}
	small := newRx(4, 1514)
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().RxTruncated == 0 && time.Now().Before(deadline) {
		k, err := srv.ReadBatch(small.frames, small.n, small.meta, time.Now().Add(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < k; i++ {
			if etherType(small.frames[i][:small.n[i]]) == etherTypeIPv4 {
				t.Fatalf("delivered a %d-byte cut of the GSO frame", small.n[i])
			}
		}
	}
	if st := srv.Stats(); st.RxTruncated != 1 {
		t.Fatalf("stats %+v: want RxTruncated 1", st)
	}

	// Without the vnet header the kernel refuses a frame over the MTU.
	if err := cli.WriteBatch([][]byte{big}, nil); err == nil {
		t.Fatal("oversized frame without GSO header was accepted")
	}
	if st := cli.Stats(); st.TxErrors != 1 {
		t.Fatalf("client stats %+v: want TxErrors 1", st)
	}
}

func TestNoVnetHdr(t *testing.T) { eachReceive(t, testNoVnetHdr) }

func testNoVnetHdr(t *testing.T, rx Receive) {
	_, srv, cli := labLinks(t, Options{NoVnetHdr: true, Receive: rx}, Options{NoVnetHdr: true, Receive: rx})
	f := ethFrame(srv.MAC(), cli.MAC(), etherTypeTest, []byte("plain frame, no virtio header......................"))
	if err := cli.WriteBatch([][]byte{f}, nil); err != nil {
		t.Fatal(err)
	}
	r := newRx(2, srv.MaxFrame())
	got, m := r.await(t, srv, "frame", func(f []byte, _ driver.RxMeta) bool { return etherType(f) == etherTypeTest })
	if !bytes.Equal(got, f) || m.CsumPartial || m.CsumValid {
		t.Fatalf("got %x meta %+v", got, m)
	}
}

func TestDeadlineAndClose(t *testing.T) { eachReceive(t, testDeadlineAndClose) }

func testDeadlineAndClose(t *testing.T, rx Receive) {
	_, srv, _ := labLinks(t, Options{Receive: rx}, Options{Receive: rx})
	r := newRx(2, srv.MaxFrame())
	deadline := time.Now().Add(50 * time.Millisecond)
	k, err := srv.ReadBatch(r.frames, r.n, r.meta, deadline)
	if k != 0 || err != nil {
		t.Fatalf("idle ReadBatch = %d, %v", k, err)
	}
	if time.Now().Before(deadline) {
		t.Fatal("ReadBatch returned before its deadline")
	}
	if k, err := srv.ReadBatch(r.frames, r.n, r.meta, time.Now().Add(-time.Second)); k != 0 || err != nil {
		t.Fatalf("past-deadline poll = %d, %v", k, err)
	}

	linktest.CloseUnblocksRead(t, srv, r.frames, r.n, r.meta)
	if err := srv.WriteBatch([][]byte{make([]byte, 60)}, nil); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNoAllocsPerBatch(t *testing.T) { eachReceive(t, testNoAllocsPerBatch) }

func testNoAllocsPerBatch(t *testing.T, rx Receive) {
	_, srv, cli := labLinks(t, Options{Receive: rx}, Options{Receive: rx})
	f := ethFrame(srv.MAC(), cli.MAC(), etherTypeTest, make([]byte, 100))
	batch := [][]byte{f, f, f, f}
	r := newRx(8, srv.MaxFrame())
	roundTrip := func() {
		if err := cli.WriteBatch(batch, nil); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(batch); {
			k, err := srv.ReadBatch(r.frames, r.n, r.meta, time.Now().Add(time.Second))
			if err != nil || k == 0 {
				t.Fatalf("ReadBatch = %d, %v", k, err)
			}
			got += k
		}
	}
	roundTrip()
	// The blocking path (deadline timer) may allocate in the runtime; the
	// steady-state per-batch work must not allocate per frame.
	if allocs := testing.AllocsPerRun(50, roundTrip); allocs > 1 {
		t.Fatalf("%v allocations per batch round trip", allocs)
	}
}
