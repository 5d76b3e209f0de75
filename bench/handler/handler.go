// Package handler is the one net/http handler every server of the benchmark
// runs (bench/netspecsrv, bench/kernelsrv, bench/gvisorsrv), so that the
// stacks differ and nothing else does:
//
//	GET  /hello       13 octets, "Hello, world\n"
//	GET  /bytes?n=N   N octets (0 <= N <= 1 TiB), written from one 64 KiB buffer
//	POST /echo        the request body back (at most 1 MiB; streamed)
//	POST /discard     reads the body to its end and drops it; answers with the count
//
// The server side of each figure is this handler and Go's net/http; only the
// net.Listener under it changes.
package handler

import (
	"io"
	"net/http"
	"strconv"
)

// Hello is the body of GET /hello (13 octets).
const Hello = "Hello, world\n"

// Limits of the handler's inputs: larger requests get 400.
const (
	MaxBytes = 1 << 40 // largest n of /bytes
	MaxEcho  = 1 << 20 // largest body /echo sends back
)

// chunk is what /bytes writes from: the same 64 KiB over and over, so the
// handler allocates nothing per octet.
var chunk = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}()

// New returns the benchmark's handler.
func New() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", hello)
	mux.HandleFunc("GET /bytes", bytes)
	mux.HandleFunc("POST /echo", echo)
	mux.HandleFunc("POST /discard", discard)
	return mux
}

func hello(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", "13")
	io.WriteString(w, Hello)
}

func bytes(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
	if err != nil || n < 0 || n > MaxBytes {
		http.Error(w, "n: want 0..2^40", http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	for n > 0 {
		b := chunk
		if n < int64(len(b)) {
			b = b[:n]
		}
		m, err := w.Write(b)
		if err != nil {
			return
		}
		n -= int64(m)
	}
}

func echo(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxEcho {
		http.Error(w, "body too large", http.StatusBadRequest)
		return
	}
	if r.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	io.Copy(w, io.LimitReader(r.Body, MaxEcho))
}

func discard(w http.ResponseWriter, r *http.Request) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		m, err := r.Body.Read(buf)
		n += int64(m)
		if err != nil {
			if err != io.EOF {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			break
		}
	}
	io.WriteString(w, strconv.FormatInt(n, 10)+"\n")
}
