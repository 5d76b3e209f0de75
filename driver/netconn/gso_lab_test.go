//go:build linux

package netconn_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/afpacket"
	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/lab/labtest"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/tap"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// gsoBody is what the GSO lab server sends: a seeded, non-repeating pattern,
// so a misplaced segment cannot go unnoticed.
func gsoBody(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// tcpSNMP reads the calling thread's namespace's TCP InSegs and InCsumErrors.
func tcpSNMP() (inSegs, csumErrs uint64, err error) {
	st, err := labtest.KernelTCPStats()
	return st["InSegs"], st["InCsumErrors"], err
}

// TestGSOLabDownload sends from netspec (GSO on, over AF_PACKET and over TAP)
// to Linux TCP in the client namespace: a Go socket must receive the bytes
// intact and curl must download the whole body, the stack must have sent
// super-frames, and the client kernel's TCP must count the segments with no
// checksum errors.
func TestGSOLabDownload(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	for _, drv := range []string{lab.DriverAFPacket, lab.DriverTAP} {
		t.Run(drv, func(t *testing.T) { gsoLabDownload(t, drv) })
	}
}

func gsoLabDownload(t *testing.T, drv string) {
	const size = 8 << 20
	l := labtest.ForTestConfig(t, lab.Config{Driver: drv})
	var link driver.Link
	var linkErrs func() uint64
	if err := l.RunInServerNS(func() error {
		if drv == lab.DriverTAP {
			tl, err := tap.Open(l.ServerIface(), tap.Options{NoCreate: true})
			link, linkErrs = tl, func() uint64 { return tl.Stats().TxErrors }
			return err
		}
		al, err := afpacket.Open(l.ServerIface(), afpacket.Options{})
		link, linkErrs = al, func() uint64 { return al.Stats().TxErrors }
		return err
	}); err != nil {
		t.Fatalf("open server link: %v", err)
	}
	if drv == lab.DriverTAP {
		if err := l.WaitServerIface(); err != nil {
			t.Fatal(err)
		}
	}
	if driver.GSOMaxSize(link) == 0 {
		t.Fatal("link does not offer GSO")
	}
	addr, _ := wire.AddrFrom(l.ServerAddr().Addr())
	st := stack.New(stack.Config{MAC: link.MAC(), Addr: addr, PrefixLen: l.ServerAddr().Bits(), MTU: link.MTU(), Seed: 33, GSOMaxSize: driver.GSOMaxSize(link)})
	loop := driver.NewLoop(link, st, driver.LoopOptions{})
	errc := make(chan error, 1)
	go func() { errc <- loop.Run(context.Background()) }()
	t.Cleanup(func() {
		loop.Close()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	body := gsoBody(size)
	ln, err := netconn.Listen(loop, 8080, 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(guard))
				// A minimal HTTP/1.0 answer to whatever request line comes.
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" || line == "\n" {
						break
					}
				}
				fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n", size)
				c.Write(body)
				c.(*netconn.Conn).CloseWrite()
			}()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	var segs0, csum0, segs1, csum1 uint64
	var got []byte
	if err := l.RunInClientNS(func() error {
		var err error
		if segs0, csum0, err = tcpSNMP(); err != nil {
			return err
		}
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", "198.18.0.2:8080")
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(guard))
		if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
			return err
		}
		resp, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		_, got, _ = bytes.Cut(resp, []byte("\r\n\r\n"))
		segs1, csum1, err = tcpSNMP()
		return err
	}); err != nil {
		t.Fatalf("download from the client namespace: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("received %d bytes, want %d intact", len(got), size)
	}
	var frames, merged uint64
	loop.Do(func(_ time.Time, s *stack.Stack) { frames, merged = s.Counters().GSOFrames, s.Counters().GSOSegments })
	if frames == 0 || merged < 2*frames {
		t.Fatalf("stack built %d super-frames of %d segments", frames, merged)
	}
	// The kernel counts an skb once: a super-frame passed whole over veth (TSO
	// to GRO) is one InSegs, so the bound is the super-frame count, not MSS.
	if csum1 != csum0 || segs1-segs0 < frames/2 {
		t.Fatalf("client TCP: %d segments in, %d checksum errors", segs1-segs0, csum1-csum0)
	}
	if e := linkErrs(); e != 0 {
		t.Fatalf("link refused %d frames", e)
	}
	t.Logf("%s: %d super-frames carried %d segments; client TCP counted %d segments", drv, frames, merged, segs1-segs0)

	out, err := l.ClientCmd(ctx, "curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", "http://198.18.0.2:8080/").Output()
	if err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(size) {
		t.Fatalf("curl downloaded %q bytes (%v), want %d", out, err, size)
	}
}
