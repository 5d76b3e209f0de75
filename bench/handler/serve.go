package handler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

// Serve runs New() on ln until SIGINT or SIGTERM, then shuts the server down
// (at most 5 s) and returns. It prints "ready" on stdout once it serves, so a
// runner knows when to start measuring. cpuprofile, if not empty, is where
// the CPU profile of the whole run is written.
func Serve(ln net.Listener, cpuprofile string) error { return ServeHandler(ln, New(), cpuprofile) }

// ServeHandler is Serve with another handler than New().
func ServeHandler(ln net.Listener, h http.Handler, cpuprofile string) error {
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 10 * time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(shut) != nil {
			srv.Close()
		}
	}()
	fmt.Println("ready")
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-ctx.Done()
	return nil
}

// Backlog is the accept queue every server of the benchmark asks for.
const Backlog = 1024
