package netconn_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/pipe"
)

// TestIntegrationHTTPBigAndConcurrent is issue 2's in-memory acceptance
// test: Go's net/http client on one stack fetches from Go's net/http server on
// another, over the in-memory pipe: a 10 MiB body byte-exact, then 32
// concurrent requests that must spread over several connections.
func TestIntegrationHTTPBigAndConcurrent(t *testing.T) {
	cli, srv := twoLoops(t, pipe.Config{})
	ln, err := netconn.Listen(srv, 80, 64)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 10<<20)
	rand.NewChaCha8([32]byte{'b', 'i', 'g'}).Read(big)
	var accepted atomic.Int64
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/big" {
				w.Write(big)
				return
			}
			fmt.Fprintf(w, "page %s", r.URL.Path)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				accepted.Add(1)
			}
		},
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	client := &http.Client{
		Timeout: guard,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: 64,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				ap, err := netip.ParseAddrPort(addr)
				if err != nil {
					return nil, err
				}
				return netconn.Dial(ctx, cli, ap)
			},
		},
	}
	get := func(path string) ([]byte, error) {
		resp, err := client.Get("http://198.18.0.2:80" + path)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return io.ReadAll(resp.Body)
	}

	body, err := get("/big")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, big) {
		t.Fatalf("10 MiB body: got %d bytes, equal=%v", len(body), bytes.Equal(body, big))
	}

	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			path := fmt.Sprintf("/p%d", i)
			b, err := get(path)
			if err == nil && string(b) != "page "+path {
				err = fmt.Errorf("GET %s = %q", path, b)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if a := accepted.Load(); a < 2 {
		t.Errorf("%d connections accepted: the concurrent requests did not use several connections", a)
	}
}
