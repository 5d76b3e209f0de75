package netconn_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
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

var (
	srvIP = wire.Addr{198, 18, 0, 2}
	cliIP = wire.Addr{198, 18, 0, 1}
)

// guard bounds how long a broken stack can hang a test; it is a failure
// guard, never a timing assertion.
const guard = 20 * time.Second

// twoLoops runs a client and a server stack, each under its own Loop, joined
// by an in-memory pipe.
func twoLoops(t *testing.T, cfg pipe.Config) (cli, srv *driver.Loop) {
	t.Helper()
	cli, srv, _, _ = twoLoopsEnds(t, cfg)
	return cli, srv
}

// settleLimit bounds the virtual time the end-of-run check runs the timers.
const settleLimit = 24 * time.Hour

// runLoops runs each loop until the test ends, then closes it, reports an
// error Run returned, and runs the end-of-run check (Loop.Settle).
func runLoops(t *testing.T, loops ...*driver.Loop) {
	for _, l := range loops {
		errc := make(chan error, 1)
		go func() { errc <- l.Run(context.Background()) }()
		t.Cleanup(func() {
			l.Close()
			if err := <-errc; err != nil {
				t.Errorf("Run: %v", err)
			}
			// The shared end-of-run check: every connection ends and gives
			// back what it took once its timers run out.
			if !t.Failed() {
				if err := l.Settle(settleLimit); err != nil {
					t.Errorf("end of run: %v", err)
				}
			}
		})
	}
}

func twoLoopsEnds(t *testing.T, cfg pipe.Config) (cli, srv *driver.Loop, a, b *pipe.End) {
	t.Helper()
	a, b = pipe.New(cfg)
	cli = driver.NewLoop(a, stack.New(stack.Config{MAC: a.MAC(), Addr: cliIP, PrefixLen: 24, MTU: a.MTU(), Seed: 1, GSOMaxSize: driver.GSOMaxSize(a)}), driver.LoopOptions{})
	srv = driver.NewLoop(b, stack.New(stack.Config{MAC: b.MAC(), Addr: srvIP, PrefixLen: 24, MTU: b.MTU(), Seed: 2, GSOMaxSize: driver.GSOMaxSize(b)}), driver.LoopOptions{})
	runLoops(t, cli, srv)
	return cli, srv, a, b
}

func dialSrv(t *testing.T, cli *driver.Loop, port uint16) *netconn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := netconn.Dial(ctx, cli, netip.AddrPortFrom(srvIP.Netip(), port))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func echoServer(t *testing.T, srv *driver.Loop, port uint16) {
	t.Helper()
	ln, err := netconn.Listen(srv, port, 8)
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
				io.Copy(c, c)
				c.(*netconn.Conn).CloseWrite()
			}()
		}
	}()
}

// echoRoundTrip sends size seeded bytes through the echo service, half-closes,
// and checks that exactly the same bytes come back followed by EOF.
func echoRoundTrip(t *testing.T, cli, srv *driver.Loop, size int) {
	echoServer(t, srv, 7)
	c := dialSrv(t, cli, 7)
	c.SetDeadline(time.Now().Add(guard))
	msg := make([]byte, size)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("ReadAll after %d bytes: %v", len(got), err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		i := 0
		for i < min(len(got), len(msg)) && got[i] == msg[i] {
			i++
		}
		j := i
		for j < min(len(got), len(msg)) && got[j] != msg[j] {
			j++
		}
		t.Fatalf("echo returned %d bytes, sent %d; first difference at offset %d, differing run up to %d", len(got), len(msg), i, j)
	}
}

func TestIntegrationEcho(t *testing.T) {
	cli, srv := twoLoops(t, pipe.Config{})
	echoRoundTrip(t, cli, srv, 1<<20)
	if s := cli.Stats(); s.TxErrors != 0 || s.RxFrames == 0 {
		t.Fatalf("client loop stats %+v", s)
	}
}

func TestIntegrationEchoLossy(t *testing.T) {
	f := pipe.Faults{Seed: 42, Loss: 0.02, Reorder: 0.02, Duplicate: 0.01}
	g := f
	g.Seed = 43
	cli, srv, a, b := twoLoopsEnds(t, pipe.Config{AtoB: f, BtoA: g})
	echoRoundTrip(t, cli, srv, 256<<10)
	fa, fb := a.Stats().Faults, b.Stats().Faults
	if fa.Lost == 0 || fb.Lost == 0 || fa.Reordered+fb.Reordered == 0 {
		t.Fatalf("the faults did not happen (client end %+v, server end %+v): the test proved nothing", fa, fb)
	}
}

// TestIntegrationEchoGSO runs the echo over pipe ends that take super-frames:
// both stacks merge segments, the pipe cuts them back (stack.Segment), and the
// byte stream must come back intact, lossy or not.
func TestIntegrationEchoGSO(t *testing.T) {
	for _, loss := range []float64{0, 0.02} {
		f := pipe.Faults{Seed: 44, Loss: loss}
		cli, srv, a, b := twoLoopsEnds(t, pipe.Config{GSO: true, AtoB: f, BtoA: f})
		echoRoundTrip(t, cli, srv, 1<<20)
		sa, sb := a.Stats(), b.Stats()
		if sa.GSOFrames == 0 || sb.GSOFrames == 0 || sa.DropBadGSO+sb.DropBadGSO != 0 {
			t.Fatalf("loss %v: GSO frames cut %d/%d, refused %d/%d", loss, sa.GSOFrames, sb.GSOFrames, sa.DropBadGSO, sb.DropBadGSO)
		}
		// How many segments each super-frame carries depends on how much was
		// queued when the loop drained it (scheduling, the race detector):
		// GSOFrames above proves merging happened; sizes are for benchmarks.
		if s := cli.Stats(); s.TxErrors != 0 {
			t.Fatalf("loss %v: client loop stats %+v: write errors", loss, s)
		}
	}
}

func TestIntegrationHTTP(t *testing.T) {
	cli, srv := twoLoops(t, pipe.Config{})
	ln, err := netconn.Listen(srv, 80, 16)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.URL.Path)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	client := &http.Client{
		Timeout: guard,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				return nil, err
			}
			return netconn.Dial(ctx, cli, ap)
		}},
	}
	for _, path := range []string{"/a", "/b"} { // the second reuses the connection
		resp, err := client.Get("http://198.18.0.2:80" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "hello from "+path {
			t.Fatalf("GET %s = %q, %v", path, body, err)
		}
	}
}

func TestIntegrationRefusedDeadlineReset(t *testing.T) {
	cli, srv := twoLoops(t, pipe.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if _, err := netconn.Dial(ctx, cli, netip.AddrPortFrom(srvIP.Netip(), 9)); !errors.Is(err, sock.ErrRefused) {
		t.Fatalf("Dial to a closed port = %v, want ErrRefused", err)
	}

	ln, err := netconn.Listen(srv, 9, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	c := dialSrv(t, cli, 9)
	sc := <-acc
	defer sc.Close()

	sc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := sc.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with nothing sent = %v, want a deadline error", err)
	}
	sc.SetReadDeadline(time.Now().Add(guard))
	if err := c.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Read(make([]byte, 1)); !errors.Is(err, sock.ErrReset) {
		t.Fatalf("Read after the peer's RST = %v, want ErrReset", err)
	}
}

// TestSetReadWriteBufferFixSizes: netconn's SetReadBuffer and SetWriteBuffer
// reach the stack and fix the connection's buffers (SO_RCVBUF/SO_SNDBUF: no
// auto-tuning), and data still flows.
func TestSetReadWriteBufferFixSizes(t *testing.T) {
	cli, srv := twoLoops(t, pipe.Config{})
	echoServer(t, srv, 7)
	c := dialSrv(t, cli, 7)
	if err := c.SetReadBuffer(100 << 10); err != nil {
		t.Fatal(err)
	}
	if err := c.SetWriteBuffer(20 << 10); err != nil {
		t.Fatal(err)
	}
	var st stack.Status
	cli.Do(func(_ time.Time, s *stack.Stack) { st, _ = s.Status(c.FD()) })
	if st.RecvBuf != 100<<10 || !st.RecvBufFixed || st.SendBuf != 20<<10 || !st.SendBufFixed {
		t.Fatalf("status: receive %d fixed %v, send %d fixed %v", st.RecvBuf, st.RecvBufFixed, st.SendBuf, st.SendBufFixed)
	}
	msg := bytes.Repeat([]byte("0123456789"), 10000)
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through fixed buffers: %v", err)
	}
	c.Close()
	if err := c.SetReadBuffer(1); err == nil {
		t.Error("SetReadBuffer on a closed connection succeeded")
	}
}
