// Command benchcli is the benchmark's Go client, run in the client
// namespace on the kernel's TCP:
//
//	benchcli get  URL                  download the body, print "octets seconds"
//	benchcli post URL N                upload N octets (POST), print "octets seconds"
//	benchcli hold HOSTPORT N SECONDS   open N keep-alive connections, one GET /hello
//	                                   on each, print "held N", keep them until
//	                                   stdin closes or SECONDS pass, then close them
//
// Every command is bounded: get and post by --timeout, hold by SECONDS.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	timeout := flag.Duration("timeout", 2*time.Minute, "bound of get and post")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: benchcli [--timeout D] get URL | post URL N | hold HOSTPORT N SECONDS")
	}
	flag.Parse()
	args := flag.Args()
	var err error
	switch {
	case len(args) == 2 && args[0] == "get":
		err = transfer(*timeout, http.MethodGet, args[1], 0)
	case len(args) == 3 && args[0] == "post":
		var n int64
		if n, err = strconv.ParseInt(args[2], 10, 64); err == nil && n >= 0 {
			err = transfer(*timeout, http.MethodPost, args[1], n)
		} else {
			err = fmt.Errorf("post: bad size %q", args[2])
		}
	case len(args) == 4 && args[0] == "hold":
		n, err1 := strconv.Atoi(args[2])
		secs, err2 := strconv.Atoi(args[3])
		if err1 != nil || err2 != nil || n < 0 || secs <= 0 {
			err = errors.New("hold: want HOSTPORT N SECONDS")
		} else {
			err = hold(args[1], n, time.Duration(secs)*time.Second)
		}
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcli:", err)
		os.Exit(1)
	}
}

// zeros is an endless source of zero octets that costs no copy per read.
type zeros struct{ left int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.left {
		p = p[:z.left]
	}
	clear(p)
	z.left -= int64(len(p))
	return len(p), nil
}

// transfer runs one GET (download) or POST of n octets (upload) on a fresh
// connection and prints the octets moved and the seconds it took, from
// before the connection opened to the last octet of the response.
func transfer(timeout time.Duration, method, url string, n int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var body io.Reader
	if method == http.MethodPost {
		body = &zeros{left: n}
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.ContentLength = n
	if method == http.MethodGet {
		req.ContentLength = 0
	}
	tr := &http.Transport{DisableKeepAlives: true, DisableCompression: true, WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10}
	defer tr.CloseIdleConnections()
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	if method == http.MethodPost {
		// /discard answers with the count it read.
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
		secs := time.Since(start).Seconds()
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(b)); got != strconv.FormatInt(n, 10) {
			return fmt.Errorf("server read %q octets of %d", got, n)
		}
		fmt.Printf("%d %.6f\n", n, secs)
		return nil
	}
	got, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 256<<10))
	secs := time.Since(start).Seconds()
	if err != nil {
		return err
	}
	if resp.ContentLength >= 0 && got != resp.ContentLength {
		return fmt.Errorf("short body: %d of %d", got, resp.ContentLength)
	}
	fmt.Printf("%d %.6f\n", got, secs)
	return nil
}

// hold opens n connections to hostport (at most 100 opening at once), sends
// GET /hello on each and reads the answer, so each is an idle keep-alive
// connection the server's net/http holds; it prints "held N" and keeps them
// until stdin closes or d passes.
func hold(hostport string, n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 100)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := openOne(hostport, deadline)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("hold: %d of %d failed, first: %w", len(errs)+1, n, err)
	}
	fmt.Printf("held %d\n", n)
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
	}
	return nil
}

// openOne opens one keep-alive connection and does one GET /hello on it.
func openOne(hostport string, deadline time.Time) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", hostport, time.Until(deadline))
	if err != nil {
		return nil, err
	}
	c.SetDeadline(deadline)
	if _, err := io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("GET /hello: %v %s", err, resp.Status)
	}
	return c, nil
}
