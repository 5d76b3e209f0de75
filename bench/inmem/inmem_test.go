package inmem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/netspec/netspec/bench/handler"
)

// bulkChunk is what one Write of BenchmarkBulk sends and one Read asks for.
const bulkChunk = 64 << 10

// guard bounds every wait of a benchmark that is not its measured work, so a
// stuck stack fails the run instead of hanging it.
const guard = 30 * time.Second

// BenchmarkBulk sends b.N chunks of 64 KiB over one connection from the
// client stack to the server stack, which reads them (64 KiB per Read) and
// drops them; the op ends when the server has read every octet.
func BenchmarkBulk(b *testing.B) {
	each(b, func(b *testing.B, p *Pair) {
		ln := listen(b, p)
		got := make(chan error, 1)
		want := int64(b.N) * bulkChunk
		go func() { got <- drain(ln, want) }()
		c := dial(b, p)
		buf := make([]byte, bulkChunk)
		b.SetBytes(bulkChunk)
		m := startMeasure(b, p)
		for range b.N {
			if _, err := c.Write(buf); err != nil {
				b.Fatalf("write: %v", err)
			}
		}
		if err := wait(got); err != nil {
			b.Fatal(err)
		}
		m.stop()
		c.Close()
	})
}

// drain accepts one connection and reads want octets from it.
func drain(ln net.Listener, want int64) error {
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, bulkChunk)
	var n int64
	for n < want {
		k, err := c.Read(buf)
		n += int64(k)
		if err != nil {
			return fmt.Errorf("read after %d of %d octets: %w", n, want, err)
		}
	}
	return nil
}

// BenchmarkConnect opens and closes one connection per op: the client
// dials, the server accepts and closes (the server holds TIME-WAIT, as an
// HTTP server closing does), the client reads the end of the stream and
// closes.
func BenchmarkConnect(b *testing.B) {
	each(b, func(b *testing.B, p *Pair) {
		ln := listen(b, p)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		var one [1]byte
		m := startMeasure(b, p)
		for i := range b.N {
			c, err := p.Dial(ctx)
			if err != nil {
				b.Fatalf("dial %d: %v", i, err)
			}
			if n, err := c.Read(one[:]); n != 0 || !errors.Is(err, io.EOF) {
				b.Fatalf("connection %d: read %d, %v; want the end of the stream", i, n, err)
			}
			c.Close()
		}
		m.stop()
	})
}

// BenchmarkHTTPKeepAlive makes one GET /hello per op with net/http's client
// over one kept-alive connection to net/http's server running the
// benchmark's handler (bench/handler), and reads the 13-octet body.
func BenchmarkHTTPKeepAlive(b *testing.B) {
	each(b, func(b *testing.B, p *Pair) {
		ln := listen(b, p)
		srv := &http.Server{Handler: handler.New(), ReadHeaderTimeout: guard}
		go srv.Serve(ln)
		defer srv.Close()
		dials := 0
		tr := &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				dials++
				return p.Dial(ctx)
			},
			MaxIdleConnsPerHost: 1,
			DisableCompression:  true,
		}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr, Timeout: guard}
		url := fmt.Sprintf("http://%s:%d/hello", ServerAddr.Addr(), Port)
		body := make([]byte, 64)
		m := startMeasure(b, p)
		for i := range b.N {
			resp, err := cl.Get(url)
			if err != nil {
				b.Fatalf("request %d: %v", i, err)
			}
			n, err := io.ReadFull(resp.Body, body[:len(handler.Hello)])
			resp.Body.Close()
			if err != nil || string(body[:n]) != handler.Hello {
				b.Fatalf("request %d: body %q, %v", i, body[:n], err)
			}
		}
		m.stop()
		if dials != 1 {
			b.Fatalf("%d connections dialled for %d requests; want 1 (keep-alive)", dials, b.N)
		}
	})
}

// each runs fn as a sub-benchmark on a fresh pair of every kind.
func each(b *testing.B, fn func(b *testing.B, p *Pair)) {
	for _, s := range Stacks {
		b.Run(s.Name, func(b *testing.B) {
			p, err := s.New()
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			b.ReportAllocs()
			fn(b, p)
		})
	}
}

func listen(b *testing.B, p *Pair) net.Listener {
	ln, err := p.Listen()
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
	b.Cleanup(func() { ln.Close() })
	return ln
}

func dial(b *testing.B, p *Pair) net.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := p.Dial(ctx)
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	return c
}

// wait returns what ch delivers, or an error after guard.
func wait(ch <-chan error) error {
	select {
	case err := <-ch:
		return err
	case <-time.After(guard):
		return errors.New("no answer within the guard")
	}
}

// measure is a benchmark's timed section: it also reports the process's CPU
// time (user and system, every goroutine of both stacks) per op, cpu-ns/op,
// since wall time alone hides how many cores a stack kept busy.
type measure struct {
	b       *testing.B
	p       *Pair
	cpu     time.Duration
	dropped uint64
	retrans uint64
}

func startMeasure(b *testing.B, p *Pair) measure {
	m := measure{b: b, p: p}
	m.dropped, m.retrans = p.Losses()
	b.ResetTimer()
	m.cpu = cpuTime()
	return m
}

// stop ends the timed section and reports CPU per op and the frames the
// link dropped and the segments retransmitted during it (totals).
func (m measure) stop() {
	cpu := cpuTime() - m.cpu
	m.b.StopTimer()
	m.b.ReportMetric(float64(cpu)/float64(m.b.N), "cpu-ns/op")
	d, r := m.p.Losses()
	m.b.ReportMetric(float64(d-m.dropped), "drops")
	m.b.ReportMetric(float64(r-m.retrans), "retrans")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
