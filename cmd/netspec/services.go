package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/docs"
	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/observe"
)

// site is the built-in demo web root, served when --root is not given.
//
//go:embed site
var site embed.FS

const (
	listenBacklog = 128  // accept queue of each listener
	maxHandlers   = 1024 // concurrent echo/discard connections per service
	defaultBig    = 100 << 20
	maxBig        = 4 << 30 // largest /big download
)

// server runs the TCP services of one serve command.
type server struct {
	st   *netspec.Stack
	cfg  serveConfig
	log  *slog.Logger
	live *observe.Live // the status page's event streams, shared by every HTTP service

	mu          sync.Mutex
	listeners   []net.Listener
	packetConns []net.PacketConn // UDP services (nil entries for TCP ones)
	https       []*http.Server
	wg          sync.WaitGroup
	stopOnce    sync.Once
	refused     atomic.Uint64 // connections closed at once: handler limit reached
}

func newServer(st *netspec.Stack, cfg serveConfig, log *slog.Logger) *server {
	return &server{st: st, cfg: cfg, log: log, live: observe.NewLive(st.Snapshot, st.WatchTrace, observe.LiveOptions{})}
}

// start opens every listener first (so a bad port fails before anything is
// served), then starts the accept loops.
func (s *server) start() error {
	lns := make([]net.Listener, len(s.cfg.services))
	pcs := make([]net.PacketConn, len(s.cfg.services))
	for i, svc := range s.cfg.services {
		var err error
		if svc.kind == "udp-echo" {
			pcs[i], err = newPacketConn(s.st, svc.port)
		} else {
			lns[i], err = newListener(s.st, svc.port)
		}
		if err != nil {
			closeAll(lns, pcs)
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners, s.packetConns = lns, pcs
	for i, svc := range s.cfg.services {
		ln := lns[i]
		switch svc.kind {
		case "udp-echo":
			pc := pcs[i]
			s.goServe(func() { s.udpEcho(pc) })
		case "http":
			hs := &http.Server{
				Handler:           s.httpHandler(),
				ReadHeaderTimeout: 10 * time.Second,
				IdleTimeout:       60 * time.Second,
				ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
			}
			s.https = append(s.https, hs)
			s.goServe(func() { hs.Serve(ln) })
		case "echo":
			s.goServe(func() { s.acceptLoop(ln, echo) })
		case "discard":
			s.goServe(func() { s.acceptLoop(ln, discard) })
		}
	}
	return nil
}

func (s *server) goServe(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// stop closes the listeners and HTTP servers and waits for the accept loops.
func (s *server) stop() {
	s.stopOnce.Do(func() {
		s.live.Close()
		s.mu.Lock()
		for _, hs := range s.https {
			hs.Close()
		}
		closeAll(s.listeners, s.packetConns)
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// shutdown starts the HTTP servers' graceful shutdown (http.Server.Shutdown:
// idle connections closed, requests in progress finished) in the background,
// bounded by ctx; the returned group ends when they have.
func (s *server) shutdown(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	// The status page's streams never go idle: they end first, so that
	// Shutdown sees their connections idle.
	wg.Go(s.live.Close)
	s.mu.Lock()
	for _, hs := range s.https {
		wg.Go(func() { hs.Shutdown(ctx) })
	}
	s.mu.Unlock()
	return &wg
}

// acceptLoop runs handle on each accepted connection, at most maxHandlers at once.
func (s *server) acceptLoop(ln net.Listener, handle func(net.Conn)) {
	sem := make(chan struct{}, maxHandlers)
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("accept failed", "addr", ln.Addr(), "err", err)
			}
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			s.refused.Add(1)
			c.Close()
			continue
		}
		go func() {
			defer func() { <-sem }()
			handle(c)
		}()
	}
}

// halfCloser is a connection whose sending side can be shut down alone.
type halfCloser interface{ CloseWrite() error }

// echo sends back everything it reads (RFC 862); the client's FIN ends the
// copy, and our FIN follows the last byte echoed.
func echo(c net.Conn) {
	defer c.Close()
	io.Copy(c, c)
	if hc, ok := c.(halfCloser); ok {
		hc.CloseWrite()
	}
}

// discard reads and drops everything (RFC 863).
func discard(c net.Conn) {
	defer c.Close()
	io.Copy(io.Discard, c)
}

var _ halfCloser = (*netconn.Conn)(nil)

// httpHandler serves the demo site (or --root) plus /big, /stats and the
// live status page /netspec/ (with --root too).
func (s *server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(site, "site")
	if s.cfg.root != "" {
		mux.Handle("/", http.FileServer(http.Dir(s.cfg.root)))
	} else {
		mux.Handle("/", http.FileServerFS(sub))
		mux.HandleFunc("/big", serveBig)
	}
	mux.Handle("/netspec/", http.FileServerFS(sub))
	mux.Handle("/netspec/events", s.live)
	mux.HandleFunc("/netspec/tcp.svg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Write(docs.TCPDiagram)
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		st := struct {
			Loop    driver.LoopStats
			Refused uint64
		}{s.st.Stats().Loop, s.refused.Load()}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(st)
	})
	return mux
}

// bigChunk is the repeating content of /big: printable, so a truncated or
// reordered download is visible to a human comparing it.
var bigChunk = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = "0123456789abcdefghijklmnopqrstuvwxyz\n"[i%37]
	}
	return b
}()

// serveBig writes ?size= bytes (default 100 MiB) of a fixed pattern.
func serveBig(w http.ResponseWriter, r *http.Request) {
	size := int64(defaultBig)
	if v := r.URL.Query().Get("size"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > maxBig {
			http.Error(w, "size: want 0.."+strconv.Itoa(maxBig)+" bytes", http.StatusBadRequest)
			return
		}
		size = n
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	if r.Method == http.MethodHead {
		return
	}
	for size > 0 {
		n := min(size, int64(len(bigChunk)))
		if _, err := w.Write(bigChunk[:n]); err != nil {
			return
		}
		size -= n
	}
}
