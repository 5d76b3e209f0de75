//go:build linux

package afpacket

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/lab/labtest"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// TestKernelTCPUpload runs the stack on the server link and uploads 8 MiB
// from Linux TCP in the client namespace (TSO on, the lab's default): the
// bytes arrive intact over each receive path, and the link delivered the
// client kernel's super-frames whole (up to 64 KiB) with their checksums
// left to compute (CsumPartial), which the stack accepts as valid.
func TestKernelTCPUpload(t *testing.T) { eachReceive(t, testKernelTCPUpload) }

func testKernelTCPUpload(t *testing.T, rx Receive) {
	const size = 8 << 20
	l := labtest.ForTest(t)
	var srv *Link
	if err := l.RunInServerNS(func() (err error) {
		srv, err = Open(l.ServerIface(), Options{Receive: rx})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if srv.Ring() != (rx == ReceiveRing) {
		t.Fatalf("Ring() = %v", srv.Ring())
	}
	addr, _ := wire.AddrFrom(l.ServerAddr().Addr())
	st := stack.New(stack.Config{MAC: srv.MAC(), Addr: addr, PrefixLen: l.ServerAddr().Bits(), MTU: srv.MTU(), Seed: 7, GSOMaxSize: driver.GSOMaxSize(srv)})
	loop := driver.NewLoop(srv, st, driver.LoopOptions{})
	errc := make(chan error, 1)
	go func() { errc <- loop.Run(context.Background()) }()
	defer func() {
		loop.Close()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	ln, err := netconn.Listen(loop, 9, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sum := make(chan [32]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sum <- [32]byte{}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		h := sha256.New()
		io.Copy(h, c)
		sum <- [32]byte(h.Sum(nil))
	}()

	body := make([]byte, size)
	rnd := rand.NewChaCha8([32]byte{1})
	rnd.Read(body)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.RunInClientNS(func() error {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", "198.18.0.2:9")
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		_, err = c.Write(body)
		return err
	}); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if got := <-sum; got != sha256.Sum256(body) {
		t.Fatal("the server read other bytes than the client sent")
	}
	s := srv.Stats()
	if s.RxGSO == 0 || s.RxCsumPartial == 0 || s.RxTruncated != 0 || s.RingBad != 0 {
		t.Fatalf("link stats %+v: want super-frames, checksum-partial, none cut", s)
	}
	ls := loop.Stats()
	t.Logf("%d frames (%d super-frames, %d checksum-partial), %d bytes; loop: %d frames in %d reads, %d frames in %d writes",
		s.RxFrames, s.RxGSO, s.RxCsumPartial, s.RxBytes, ls.RxFrames, ls.RxBatches, ls.TxFrames, ls.TxBatches)
}
