package netspec_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/tcp"
)

// guard bounds every wait of these tests; none expects to reach it.
const guard = 20 * time.Second

func pair(t *testing.T, cfg *netspec.PipeConfig) (a, b *netspec.Stack) {
	t.Helper()
	a, b, err := netspec.Pipe(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

func dial(t *testing.T, s *netspec.Stack, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := s.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("Dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoOnce accepts one connection on ln and echoes it until EOF.
func echoOnce(ln net.Listener) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
		c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	return done
}

// echoRound has a dial ln (on 198.18.0.2:7, echoOnce) and checks that msg
// comes back, then waits until the echo ended.
func echoRound(t *testing.T, a *netspec.Stack, ln net.Listener, msg string) {
	t.Helper()
	served := echoOnce(ln)
	if got := roundTrip(t, dial(t, a, "198.18.0.2:7"), []byte(msg)); string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
	<-served
}

// roundTrip sends msg on c, half-closes, and returns what comes back.
func roundTrip(t *testing.T, c net.Conn, msg []byte) []byte {
	t.Helper()
	c.SetDeadline(time.Now().Add(guard))
	go func() {
		c.Write(msg)
		c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return got
}

// waitGoroutines waits until at most n goroutines run, and fails with a
// dump of them if that does not happen within guard.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCloseReleasesGoroutines: after a connection, Close on both stacks
// ends every goroutine they started (the loops; blocked Accept and Read
// calls return).
func TestCloseReleasesGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	a, b, err := netspec.Pipe(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	served := echoOnce(ln)
	c := dial(t, a, "198.18.0.2:7")
	if got := roundTrip(t, c, []byte("hello")); string(got) != "hello" {
		t.Fatalf("echo = %q", got)
	}
	<-served
	// A second Accept blocks until the stack closes.
	accepted := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		accepted <- err
	}()
	if runtime.NumGoroutine() <= before {
		t.Fatalf("%d goroutines with two stacks running, %d before: the count cannot see them", runtime.NumGoroutine(), before)
	}
	if err := a.Close(); err != nil {
		t.Errorf("a.Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("b.Close: %v", err)
	}
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(guard):
		t.Fatal("Accept still blocked after Close")
	}
	for _, s := range []*netspec.Stack{a, b} {
		select {
		case <-s.Done():
		default:
			t.Error("Done not closed after Close")
		}
		if err := s.Err(); err != nil {
			t.Errorf("Err after Close = %v, want nil", err)
		}
	}
	waitGoroutines(t, before)
}

// TestDoubleClose: Close is idempotent, and every call after it fails with
// net.ErrClosed, while the counters keep their final values.
func TestDoubleClose(t *testing.T) {
	a, b := pair(t, nil)
	ln, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(ln)
	c := dial(t, a, "198.18.0.2:7")
	roundTrip(t, c, []byte("x"))
	for i := range 3 {
		if err := a.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if _, err := a.Listen("tcp", ":8"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Listen after Close: %v", err)
	}
	if _, err := a.ListenPacket("udp", ":8"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ListenPacket after Close: %v", err)
	}
	if _, err := a.Dial(context.Background(), "tcp", "198.18.0.2:7"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Dial after Close: %v", err)
	}
	if _, err := c.Write([]byte("y")); err == nil {
		t.Error("Write on a connection of a closed stack succeeded")
	}
	if n := a.Counters()["tcp.ActiveOpens"]; n != 1 {
		t.Errorf("tcp.ActiveOpens after Close = %d, want 1", n)
	}
	if st := a.Stats(); st.Loop.RxFrames == 0 || st.Loop.TxFrames == 0 {
		t.Errorf("loop stats after Close = %+v", st.Loop)
	}
}

// TestListenPortInUse: a second listener on a port fails until the first
// is closed; so does a second UDP socket.
func TestListenPortInUse(t *testing.T) {
	_, b := pair(t, nil)
	ln, err := b.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	if ln2, err := b.Listen("tcp4", "198.18.0.2:80"); err == nil {
		ln2.Close()
		t.Fatal("second Listen on :80 succeeded")
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err = b.Listen("tcp", "0.0.0.0:80")
	if err != nil {
		t.Fatalf("Listen after the first listener closed: %v", err)
	}
	ln.Close()
	if got := ln.Addr().String(); got != "198.18.0.2:80" {
		t.Errorf("Addr = %s", got)
	}

	pc, err := b.ListenPacket("udp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if pc2, err := b.ListenPacket("udp", ":7"); err == nil {
		pc2.Close()
		t.Fatal("second ListenPacket on :7 succeeded")
	}
	// TCP and UDP ports are separate.
	ln, err = b.Listen("tcp", ":7")
	if err != nil {
		t.Fatalf("TCP :7 beside UDP :7: %v", err)
	}
	ln.Close()
}

// TestBadArguments: wrong networks and addresses fail at once with
// *net.OpError, as net's functions do, and nothing is opened.
func TestBadArguments(t *testing.T) {
	a, _ := pair(t, nil)
	ctx := context.Background()
	unknownNet := func(err error) bool {
		var u net.UnknownNetworkError
		return errors.As(err, &u)
	}
	badAddr := func(err error) bool {
		var ae *net.AddrError
		return errors.As(err, &ae)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want func(error) bool
	}{
		{"listen udp", func() error { _, err := a.Listen("udp", ":80"); return err }, unknownNet},
		{"listen tcp6", func() error { _, err := a.Listen("tcp6", ":80"); return err }, unknownNet},
		{"listen unix", func() error { _, err := a.Listen("unix", "/tmp/x"); return err }, unknownNet},
		{"listen empty network", func() error { _, err := a.Listen("", ":80"); return err }, unknownNet},
		{"listenpacket tcp", func() error { _, err := a.ListenPacket("tcp", ":80"); return err }, unknownNet},
		{"dial udp", func() error { _, err := a.Dial(ctx, "udp", "198.18.0.2:7"); return err }, unknownNet},
		{"listen no port", func() error { _, err := a.Listen("tcp", "80"); return err }, badAddr},
		{"listen port 0", func() error { _, err := a.Listen("tcp", ":0"); return err }, badAddr},
		{"listen service name", func() error { _, err := a.Listen("tcp", ":http"); return err }, badAddr},
		{"listen port too big", func() error { _, err := a.Listen("tcp", ":65536"); return err }, badAddr},
		{"listen other host", func() error { _, err := a.Listen("tcp", "198.18.0.9:80"); return err }, badAddr},
		{"listen ipv6 host", func() error { _, err := a.Listen("tcp", "[::1]:80"); return err }, badAddr},
		{"listen name", func() error { _, err := a.Listen("tcp", "localhost:80"); return err }, badAddr},
		{"dial name", func() error { _, err := a.Dial(ctx, "tcp", "example.com:80"); return err }, badAddr},
		{"dial ipv6", func() error { _, err := a.Dial(ctx, "tcp", "[2001:db8::1]:80"); return err }, badAddr},
		{"dial no port", func() error { _, err := a.Dial(ctx, "tcp", "198.18.0.2"); return err }, badAddr},
	} {
		err := tc.call()
		var oe *net.OpError
		if !errors.As(err, &oe) || !tc.want(err) {
			t.Errorf("%s: %v (%T)", tc.name, err, err)
		}
	}
	// Dial to port 0 is refused by netconn before anything is sent.
	if _, err := a.Dial(ctx, "tcp", "198.18.0.2:0"); err == nil {
		t.Error("dial port 0 succeeded")
	}
	if n := a.Counters()["tcp.ActiveOpens"]; n != 0 {
		t.Errorf("bad arguments sent %d SYNs", n)
	}
}

// TestDialContext: a dial nobody answers ends with the context (deadline or
// cancel) and aborts the connection; a refused one ends at once.
func TestDialContext(t *testing.T) {
	a, b := pair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// 198.18.0.99 is on-link but absent: ARP never resolves it.
	if _, err := a.Dial(ctx, "tcp", "198.18.0.99:80"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("dial absent host: %v, want context.DeadlineExceeded", err)
	}
	// B drops every frame from A: the SYN is retransmitted until cancel.
	ctx2, cancel2 := context.WithCancel(context.Background())
	ln, err := b.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b.Link().(*pipe.End).Close() // B hears nothing more; A's SYNs go nowhere
	errc := make(chan error, 1)
	go func() {
		_, err := a.Dial(ctx2, "tcp", "198.18.0.2:80")
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel2()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled dial: %v, want context.Canceled", err)
		}
	case <-time.After(guard):
		t.Fatal("dial ignored its cancelled context")
	}
}

// TestDialRefused: a SYN to a port nobody listens on is answered with RST,
// and Dial reports it as refused.
func TestDialRefused(t *testing.T) {
	a, b := pair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	_, err := a.Dial(ctx, "tcp", "198.18.0.2:81")
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial closed port: %v", err)
	}
	if n := b.Counters()["tcp.drop.NoConn"]; n != 1 {
		t.Errorf("B tcp.drop.NoConn = %d, want 1", n)
	}
}

// TestCheck: every option is validated before anything is opened, with a
// ConfigError naming the argument.
func TestCheck(t *testing.T) {
	addr := netip.MustParsePrefix("198.18.0.2/24")
	for _, tc := range []struct {
		addr  string
		opts  netspec.Options
		field string // "" if valid
		msg   string
	}{
		{"198.18.0.2/24", netspec.Options{}, "", ""},
		{"198.18.0.2/32", netspec.Options{}, "", ""},
		{"198.18.0.2/24", netspec.Options{Gateway: netip.MustParseAddr("198.18.0.1"), Driver: "tap", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 9}}, "", ""},
		{"", netspec.Options{}, "addr", "missing"},
		{"2001:db8::1/64", netspec.Options{}, "addr", "2001:db8::1 is not IPv4"},
		{"198.18.0.2/0", netspec.Options{}, "addr", "bad prefix length /0: want 1..32"},
		{"224.0.0.1/4", netspec.Options{}, "addr", "224.0.0.1 is not a unicast host address"},
		{"198.18.0.0/24", netspec.Options{}, "addr", "198.18.0.0 is the network or broadcast address of 198.18.0.0/24"},
		{"198.18.0.255/24", netspec.Options{}, "addr", "198.18.0.255 is the network or broadcast address of 198.18.0.0/24"},
		{"198.18.0.2/24", netspec.Options{Gateway: netip.MustParseAddr("198.18.1.1")}, "gateway", "198.18.1.1 is outside 198.18.0.0/24 (a gateway must be on-link)"},
		{"198.18.0.2/24", netspec.Options{Gateway: netip.MustParseAddr("198.18.0.2")}, "gateway", "198.18.0.2 is our own address"},
		{"198.18.0.2/24", netspec.Options{Gateway: netip.MustParseAddr("198.18.0.255")}, "gateway", "198.18.0.255 is the network or broadcast address of 198.18.0.0/24"},
		{"198.18.0.2/24", netspec.Options{Gateway: netip.MustParseAddr("2001:db8::1")}, "gateway", "2001:db8::1 is not IPv4"},
		{"198.18.0.2/32", netspec.Options{Gateway: netip.MustParseAddr("198.18.0.1")}, "gateway", "198.18.0.1 is outside 198.18.0.2/32 (a gateway must be on-link)"},
		{"198.18.0.2/24", netspec.Options{MAC: net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}}, "mac", "01:00:5e:00:00:01 is not a unicast address"},
		{"198.18.0.2/24", netspec.Options{MAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}}, "mac", "00:00:00:00:00:00 is not a unicast address"},
		{"198.18.0.2/24", netspec.Options{MAC: net.HardwareAddr{2, 0, 0, 0}}, "mac", "02:00:00:00 is not a 48-bit MAC address"},
		{"198.18.0.2/24", netspec.Options{Driver: "dpdk"}, "driver", `unknown driver "dpdk" (want afpacket or tap)`},
		{"198.18.0.2/24", netspec.Options{Profile: tcp.NumProfiles}, "profile", "unknown profile"},
		{"198.18.0.2/24", netspec.Options{ECN: tcp.ECNOff + 1}, "ecn", "unknown mode"},
		{"198.18.0.2/24", netspec.Options{Backlog: -1}, "backlog", "-1 is negative"},
		{"198.18.0.2/24", netspec.Options{Loops: 4}, "", ""},
		{"198.18.0.2/24", netspec.Options{Loops: -1}, "loops", "-1: want 0..256"},
		{"198.18.0.2/24", netspec.Options{Loops: netspec.MaxLoops + 1}, "loops", "257: want 0..256"},
		{"198.18.0.2/24", netspec.Options{Loops: 2, Driver: "tap"}, "loops", "2 loops need the afpacket driver"},
		{"198.18.0.2/24", netspec.Options{Loops: 2, Pcap: io.Discard}, "loops", "2 loops with a capture"},
	} {
		var p netip.Prefix
		if tc.addr != "" {
			p = netip.MustParsePrefix(tc.addr)
		}
		err := netspec.Check(p, &tc.opts)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s %+v: %v", tc.addr, tc.opts, err)
			}
			continue
		}
		var ce *netspec.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field || !strings.HasPrefix(ce.Err.Error(), tc.msg) {
			t.Errorf("%s %+v: %v, want %s: %s", tc.addr, tc.opts, err, tc.field, tc.msg)
		}
	}
	if err := netspec.Check(addr, nil); err != nil {
		t.Errorf("nil options: %v", err)
	}
	// Pipe and New check too, and a failed New closes the link it was given.
	if _, _, err := netspec.Pipe(&netspec.PipeConfig{BOptions: &netspec.Options{Gateway: netip.MustParseAddr("10.0.0.1")}}); err == nil {
		t.Error("Pipe accepted a gateway outside B's prefix")
	}
	if _, _, err := netspec.Pipe(&netspec.PipeConfig{A: addr}); err == nil {
		t.Error("Pipe accepted the same address at both ends")
	}
	ea, _ := pipe.New(pipe.Config{})
	if _, err := netspec.New(ea, netip.MustParsePrefix("198.18.0.0/24"), nil); err == nil {
		t.Fatal("New accepted a network address")
	}
	if _, err := ea.ReadBatch(make([][]byte, 1), make([]int, 1), make([]driver.RxMeta, 1), time.Now()); !errors.Is(err, driver.ErrClosed) {
		t.Error("a failed New left its link open")
	}
	// Several links need the flow map of their fanout group.
	ea, eb := pipe.New(pipe.Config{})
	var ce *netspec.ConfigError
	if _, err := netspec.NewLinks(&netspec.Links{Each: []driver.Link{ea, eb}}, addr, nil); !errors.As(err, &ce) || ce.Field != "loops" {
		t.Fatalf("NewLinks of two links without Shard: %v", err)
	}
	if _, err := eb.ReadBatch(make([][]byte, 1), make([]int, 1), make([]driver.RxMeta, 1), time.Now()); !errors.Is(err, driver.ErrClosed) {
		t.Error("a failed NewLinks left its links open")
	}
}

// TestGateway: with a gateway, a SYN to an off-link address is sent to the
// gateway's MAC (B counts it as not for us); without one it is not sent.
func TestGateway(t *testing.T) {
	for _, withGW := range []bool{false, true} {
		var opts netspec.Options
		if withGW {
			opts.Gateway = netip.MustParseAddr("198.18.0.2")
		}
		a, b := pair(t, &netspec.PipeConfig{AOptions: &opts})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		a.Dial(ctx, "tcp", "203.0.113.5:80")
		cancel()
		got := b.Counters()["ip.drop.NotForUs"]
		if withGW && got == 0 {
			t.Error("with a gateway: the SYN to 203.0.113.5 never reached the gateway")
		}
		if !withGW && got != 0 {
			t.Errorf("without a gateway: %d frames for 203.0.113.5 reached B", got)
		}
		if n := a.Counters()["stack.IPNoRoute"]; withGW != (n == 0) {
			t.Errorf("gateway %v: stack.IPNoRoute = %d", withGW, n)
		}
	}
}

// TestPcapAndTrace: Options.Pcap captures both directions in pcapng
// format, flushed by Close; Options.Trace logs every frame's journey.
func TestPcapAndTrace(t *testing.T) {
	var capture bytes.Buffer
	var logs bytes.Buffer // written inside B's loop; read once B is closed
	a, b := pair(t, &netspec.PipeConfig{BOptions: &netspec.Options{Pcap: &capture, Trace: true, Logger: newLogger(&logs)}})
	ln, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	served := echoOnce(ln)
	msg := bytes.Repeat([]byte("netspec "), 10000)
	if got := roundTrip(t, dial(t, a, "198.18.0.2:7"), msg); !bytes.Equal(got, msg) {
		t.Fatalf("echo: %d bytes back of %d", len(got), len(msg))
	}
	<-served
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	frames := b.Stats().PcapFrames
	p := capture.Bytes()
	// ARP both ways, the handshake, 2 x 80 kB of data and the closes.
	// pcapng: a section header block (type 0x0A0D0D0A, byte-order magic
	// 0x1A2B3C4D) first.
	if frames < 60 || len(p) < 12+2*len(msg) || binary.LittleEndian.Uint32(p) != 0x0a0d0d0a || binary.LittleEndian.Uint32(p[8:]) != 0x1a2b3c4d {
		t.Fatalf("capture: %d frames, %d bytes, header % x", frames, len(p), p[:min(12, len(p))])
	}
	for _, want := range []string{"msg=trace", "> ip 198.18.0.1>198.18.0.2 ok > tcp :", ">:7 SYN LISTEN tcp.fsm:", "> new conn SYN-RECEIVED, sent SYN,ACK", "SYN-RECEIVED tcp.fsm:", "> ESTABLISHED"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("trace lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestOpenChecksFirst: Open refuses bad arguments before it touches the
// system (the interface named here is never looked up).
func TestOpenChecksFirst(t *testing.T) {
	for _, opts := range []*netspec.Options{{Driver: "dpdk"}, {Gateway: netip.MustParseAddr("10.0.0.1")}} {
		var ce *netspec.ConfigError
		if _, err := netspec.Open("eth0", netip.MustParsePrefix("198.18.0.2/24"), opts); !errors.As(err, &ce) {
			t.Errorf("%+v: %v, want a ConfigError", opts, err)
		}
	}
	var ce *netspec.ConfigError
	if _, err := netspec.OpenLink("eth0", &netspec.Options{Driver: "dpdk"}); !errors.As(err, &ce) || ce.Field != "driver" {
		t.Errorf("OpenLink with a bad driver: %v", err)
	}
}

func newLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestReadmeShowsExampleOpen: the embedding example in README.md is the
// body of ExampleOpen, so the code the README shows compiles.
func TestReadmeShowsExampleOpen(t *testing.T) {
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(src), "\nfunc ExampleOpen() {\n")
	if body, _, ok = strings.Cut(body, "\n}\n"); !ok {
		t.Fatal("example_test.go has no ExampleOpen")
	}
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "\t")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := "```go\n" + strings.Join(lines, "\n") + "\n```\n"; !strings.Contains(string(readme), want) {
		t.Errorf("README.md does not show ExampleOpen's body as it is:\n%s", want)
	}
}
