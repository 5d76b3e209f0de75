package netconn_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// udpGuard bounds how long a broken stack can hang a test; never a timing assertion.
const udpGuard = 20 * time.Second

var (
	udpSrvIP = wire.Addr{198, 18, 0, 2}
	udpCliIP = wire.Addr{198, 18, 0, 1}
)

func udpLoops(t *testing.T) (cli, srv *driver.Loop) {
	t.Helper()
	a, b := pipe.New(pipe.Config{})
	cli = driver.NewLoop(a, stack.New(stack.Config{MAC: a.MAC(), Addr: udpCliIP, PrefixLen: 24, MTU: a.MTU(), Seed: 1}), driver.LoopOptions{})
	srv = driver.NewLoop(b, stack.New(stack.Config{MAC: b.MAC(), Addr: udpSrvIP, PrefixLen: 24, MTU: b.MTU(), Seed: 2}), driver.LoopOptions{})
	runLoops(t, cli, srv)
	return cli, srv
}

func TestPacketConnEcho(t *testing.T) {
	cli, srv := udpLoops(t)
	s, err := netconn.ListenPacket(srv, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := s.ReadFrom(buf)
			if err != nil {
				return
			}
			s.WriteTo(buf[:n], from)
		}
	}()
	c, err := netconn.ListenPacket(cli, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.LocalAddr().(*net.UDPAddr).Port; p < 49152 {
		t.Fatalf("ephemeral port %d", p)
	}
	c.SetReadDeadline(time.Now().Add(udpGuard))
	buf := make([]byte, 65536)
	for _, size := range []int{1, 1472, 1473, 30000, 65507} {
		msg := bytes.Repeat([]byte{byte(size)}, size)
		if _, err := c.WriteTo(msg, &net.UDPAddr{IP: net.IP{198, 18, 0, 2}, Port: 7}); err != nil {
			t.Fatal(err)
		}
		n, from, err := c.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) || from.String() != "198.18.0.2:7" {
			t.Fatalf("size %d: got %d bytes from %v, err %v", size, n, from, err)
		}
	}
}

func TestPacketConnReadDeadlineAndClose(t *testing.T) {
	_, srv := udpLoops(t)
	s, err := netconn.ListenPacket(srv, 9)
	if err != nil {
		t.Fatal(err)
	}
	s.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, _, err := s.ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	s.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, _, err := s.ReadFrom(make([]byte, 10)); done <- err }()
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after close: %v", err)
		}
	case <-time.After(udpGuard):
		t.Fatal("Close did not unblock ReadFrom")
	}
	if _, err := netconn.ListenPacket(srv, 9); err != nil {
		t.Fatalf("port not released by Close: %v", err)
	}
	if _, err := netconn.ListenPacket(srv, 9); !errors.Is(err, sock.ErrExists) {
		t.Fatalf("double bind: %v", err)
	}
}

// TestPacketConnPortUnreachableIsSoftError: the server answers a datagram to
// a closed port with ICMP port unreachable before it echoes the next one, so
// once the echo is back the soft error must be there (the pipe keeps order).
func TestPacketConnPortUnreachableIsSoftError(t *testing.T) {
	cli, srv := udpLoops(t)
	s, err := netconn.ListenPacket(srv, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go func() {
		buf := make([]byte, 100)
		n, from, err := s.ReadFrom(buf)
		if err == nil {
			s.WriteTo(buf[:n], from)
		}
	}()
	c, err := netconn.ListenPacket(cli, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(udpGuard))
	c.WriteTo([]byte("hello?"), &net.UDPAddr{IP: net.IP{198, 18, 0, 2}, Port: 4444})
	c.WriteTo([]byte("echo"), &net.UDPAddr{IP: net.IP{198, 18, 0, 2}, Port: 7})
	if _, _, err := c.ReadFrom(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := c.SoftError(); !errors.Is(err, sock.ErrRefused) {
		t.Fatalf("soft error %v, want refused", err)
	}
	if err := c.SoftError(); err != nil {
		t.Fatalf("soft error not cleared: %v", err)
	}
}
