package stack

import (
	"errors"
	"flag"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// traceLines makes both stacks of n trace into one list of lines, each
// prefixed with the receiving host ("a" or "b").
func traceLines(n *simNet) *[]string {
	var lines []string
	var buf []byte
	for _, p := range []struct {
		name string
		s    *Stack
	}{{"a", n.a}, {"b", n.b}} {
		name := p.name
		p.s.SetTracer(func(t *Trace) {
			buf = t.AppendLine(buf[:0])
			lines = append(lines, name+" "+string(buf))
		})
	}
	return &lines
}

// TestTraceGolden traces a whole exchange over two stacks in simulated
// time, SYN to the last ACK of the FINs (A sends "hello", B answers
// "world", A closes first), and compares it with testdata/trace_synfin.golden
// (go test -run TraceGolden -update rewrites it).
func TestTraceGolden(t *testing.T) {
	n := newSim(t, 11)
	lines := traceLines(n)
	cfd, sfd := n.connect(80)
	if _, err := n.a.Send(n.now, cfd, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	readAll := func(s *Stack, fd FD, want string) {
		var got []byte
		n.run(func() bool {
			k, err := s.Recv(n.now, fd, buf)
			got = append(got, buf[:k]...)
			if err != nil && !errors.Is(err, sock.ErrWouldBlock) {
				t.Fatal(err)
			}
			return string(got) == want
		})
	}
	readAll(n.b, sfd, "hello")
	if _, err := n.b.Send(n.now, sfd, []byte("world")); err != nil {
		t.Fatal(err)
	}
	readAll(n.a, cfd, "world")
	if err := n.a.Close(n.now, cfd); err != nil {
		t.Fatal(err)
	}
	n.run(func() bool { _, err := n.b.Recv(n.now, sfd, buf); return errors.Is(err, io.EOF) })
	if err := n.b.Close(n.now, sfd); err != nil {
		t.Fatal(err)
	}
	n.run(func() bool { return n.b.TCP().Counters().Conns == 0 })
	got := strings.Join(*lines, "\n") + "\n"
	golden := "testdata/trace_synfin.golden"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("trace differs from %s (-update rewrites it):\n got:\n%s\nwant:\n%s", golden, got, want)
	}
	for _, must := range []string{"SYN LISTEN tcp.fsm:", "> new conn SYN-RECEIVED, sent SYN,ACK", "> ESTABLISHED", "TIME-WAIT"} {
		if !strings.Contains(got, must) {
			t.Errorf("trace lacks %q", must)
		}
	}
}

// TestTraceDrops checks the lines of dropped frames: a SYN to a port nobody
// listens on (answered by RST), a datagram with a bad header checksum, and
// a segment with a bad TCP checksum.
func TestTraceDrops(t *testing.T) {
	n := newSim(t, 12)
	lines := traceLines(n)
	n.refused(81)
	refused := find(*lines, "b ", ":81 SYN")
	for _, must := range []string{"> tcp :", " SYN CLOSED tcp.fsm:", "RFC9293 3.10.7.1 > drop NoConn, sent RST,ACK"} {
		if !strings.Contains(refused, must) {
			t.Errorf("refused SYN: %q lacks %q", refused, must)
		}
	}
	// Corrupt the IP header checksum, then the TCP checksum, of A's next SYNs.
	for _, c := range []struct {
		off  int // octet of the frame flipped
		want string
	}{
		{wire.EthernetHeaderLen + 10, "ok > ip 198.18.0.1>198.18.0.2 drop BadChecksum ipv4.fsm:"},
		{wire.EthernetHeaderLen + 20 + 16, "> tcp :"},
	} {
		*lines = nil
		n.mark = func(f []byte) { f[c.off] ^= 0xff }
		if _, err := n.a.Dial(n.now, addrB, 82); err != nil {
			t.Fatal(err)
		}
		n.deliver()
		n.mark = nil
		got := find(*lines, "b ", "")
		if !strings.Contains(got, c.want) {
			t.Errorf("corrupt octet %d: %q lacks %q", c.off, got, c.want)
		}
		if !strings.Contains(got, " drop ") {
			t.Errorf("corrupt octet %d: %q is not a drop", c.off, got)
		}
	}
	if got := find(*lines, "b ", ""); !strings.HasSuffix(got, "drop Checksum") {
		t.Errorf("bad TCP checksum: %q, want a line ending in drop Checksum", got)
	}
}

// refused dials B's port from A, where nobody listens, and runs until
// A's connection ends.
func (n *simNet) refused(port uint16) {
	n.t.Helper()
	fd, err := n.a.Dial(n.now, addrB, port)
	if err != nil {
		n.t.Fatal(err)
	}
	n.run(func() bool {
		_, err := n.a.Recv(n.now, fd, make([]byte, 1))
		return !errors.Is(err, sock.ErrWouldBlock)
	})
}

// find returns the first line with prefix that contains sub.
func find(lines []string, prefix, sub string) string {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// TestTraceFilter checks the filters against the traces of a connection
// and a refused SYN.
func TestTraceFilter(t *testing.T) {
	n := newSim(t, 13)
	var traces []Trace
	n.b.SetTracer(func(t *Trace) { c := *t; c.Frame, c.Rows = nil, nil; traces = append(traces, c) })
	n.connect(80)
	n.refused(81)
	count := func(expr string) int {
		f, err := ParseTraceFilter(expr)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for i := range traces {
			if f.Match(&traces[i]) {
				k++
			}
		}
		return k
	}
	all, p80, p81, drops, arp := count(""), count("port 80"), count("port 81"), count("drops"), count("arp")
	if all == 0 || p80 == 0 || p81 != 1 || drops != 1 || arp == 0 || p80+p81+arp != all {
		t.Errorf("all %d, port 80 %d, port 81 %d, drops %d, arp %d", all, p80, p81, drops, arp)
	}
	if k := count("drops and port 80"); k != 0 {
		t.Errorf("drops and port 80: %d, want 0", k)
	}
	var tuple string
	for _, tr := range traces {
		if tr.HasPorts && tr.DstPort == 80 {
			tuple = tr.Src.String() + ":" + strconv.Itoa(int(tr.SrcPort)) + ">" + tr.Dst.String() + ":80"
			break
		}
	}
	if k := count(tuple); k != p80 {
		t.Errorf("%s: %d, want %d", tuple, k, p80)
	}
	if k := count("host 198.18.0.9"); k != 0 {
		t.Errorf("host 198.18.0.9: %d", k)
	}
	for _, bad := range []string{"port", "port x", "drop", "host nothing", "1.2.3.4:5>", "port 80 and"} {
		if _, err := ParseTraceFilter(bad); err == nil {
			t.Errorf("ParseTraceFilter(%q) accepted", bad)
		}
	}
}

// ackFrame returns a pure ACK A sent B on an established connection, and
// the simulation, for replaying it into B.
func ackFrame(t testing.TB) (*simNet, []byte) {
	n := newSim(t, 14)
	var ack []byte
	n.trace = func(from string, f []byte) {
		if from != addrA.String() {
			return
		}
		eth, _ := wire.ParseEthernet(f)
		p, err := wire.ParseIPv4(eth.Payload())
		if err != nil || p.Protocol() != wire.ProtoTCP {
			return
		}
		if seg := p.Payload(); len(seg) == 32 && wire.TCPFlags(seg[13]) == wire.FlagACK {
			ack = append(ack[:0], f...)
		}
	}
	n.connect(80)
	n.trace = nil
	if ack == nil {
		t.Fatal("no pure ACK seen")
	}
	return n, ack
}

// TestTraceOffAllocatesNothing checks that Input of a steady-state segment
// allocates nothing with tracing off, with a tracer that only reads the
// record, nor with one that formats each line into a reused buffer.
func TestTraceOffAllocatesNothing(t *testing.T) {
	n, ack := ackFrame(t)
	in := func() {
		n.b.Input(n.now, ack, RxMeta{Time: n.now})
		n.b.Output(func([]byte, TxMeta) {})
	}
	in()
	if a := testing.AllocsPerRun(200, in); a != 0 {
		t.Errorf("tracing off: %v allocations per segment, want 0", a)
	}
	rows := 0
	n.b.SetTracer(func(tr *Trace) { rows += len(tr.Rows) })
	if a := testing.AllocsPerRun(200, in); a != 0 {
		t.Errorf("tracing on, recording only: %v allocations per segment, want 0", a)
	}
	if rows == 0 {
		t.Error("the tracer recorded no rows")
	}
	buf := make([]byte, 0, 512)
	lines := 0
	n.b.SetTracer(func(tr *Trace) { buf = tr.AppendLine(buf[:0]); lines++ })
	if a := testing.AllocsPerRun(200, in); a != 0 {
		t.Errorf("tracing on, formatting the line: %v allocations per segment, want 0", a)
	}
	if lines == 0 || !strings.Contains(string(buf), "ACK ESTABLISHED tcp.fsm:") {
		t.Errorf("%d lines, last %q", lines, buf)
	}
	n.b.SetTracer(nil)
	lines = 0
	in()
	if lines != 0 {
		t.Error("SetTracer(nil) left the tracer on")
	}
}

// BenchmarkInputTrace is the cost of tracing: one received segment (a pure
// ACK on an established connection, 8 tcp.fsm rows and 5 ipv4.fsm rows)
// with no tracer, with a tracer that records only, and with one that also
// formats the line.
func BenchmarkInputTrace(b *testing.B) {
	for _, c := range []struct {
		name string
		fn   func(*Trace)
	}{
		{"off", nil},
		{"record", func(*Trace) {}},
		{"line", func() func(*Trace) {
			buf := make([]byte, 0, 512)
			return func(t *Trace) { buf = t.AppendLine(buf[:0]) }
		}()},
	} {
		b.Run(c.name, func(b *testing.B) {
			n, ack := ackFrame(b)
			n.b.SetTracer(c.fn)
			b.ReportAllocs()
			for b.Loop() {
				n.b.Input(n.now, ack, RxMeta{Time: n.now})
				n.b.Output(func([]byte, TxMeta) {})
			}
		})
	}
}
