// Command kernelsrv is the Linux-kernel baseline for bench/compare.sh: the
// same net/http handler that `netspec serve --root DIR` runs (http.FileServer
// over DIR), listening on a kernel TCP socket instead of netspec.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "198.18.0.2:80", "listen address")
	root := flag.String("root", "", "directory to serve")
	flag.Parse()
	if *root == "" {
		fmt.Fprintln(os.Stderr, "kernelsrv: --root is required")
		os.Exit(2)
	}
	if st, err := os.Stat(*root); err != nil || !st.IsDir() {
		fmt.Fprintf(os.Stderr, "kernelsrv: --root %s: not a directory\n", *root)
		os.Exit(2)
	}
	srv := &http.Server{Addr: *addr, Handler: http.FileServer(http.Dir(*root)), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "kernelsrv:", err)
		os.Exit(1)
	}
}
