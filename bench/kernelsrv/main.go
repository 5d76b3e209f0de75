// Command kernelsrv is the Linux kernel's server in the benchmark: the
// benchmark's handler (bench/handler) on a kernel TCP socket. With --root it
// serves http.FileServer over DIR instead, the handler `netspec serve
// --root DIR` runs (bench/robust.sh compares those).
//
//	kernelsrv [--addr 198.18.0.2:80] [--root DIR] [--cpuprofile FILE]
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/netspec/netspec/bench/handler"
)

func main() {
	addr := flag.String("addr", "198.18.0.2:80", "listen address")
	root := flag.String("root", "", "serve http.FileServer over `DIR` instead of the benchmark's handler")
	prof := flag.String("cpuprofile", "", "write a CPU profile to `FILE`")
	flag.Parse()
	h := handler.New()
	if *root != "" {
		if st, err := os.Stat(*root); err != nil || !st.IsDir() {
			handler.Exit("kernelsrv", fmt.Errorf("--root %s: not a directory", *root))
		}
		h = http.FileServer(http.Dir(*root))
	}
	ln, err := listen(*addr)
	if err == nil {
		err = handler.ServeHandler(ln, h, *prof)
	}
	handler.Exit("kernelsrv", err)
}

// listen opens a TCP listener with the benchmark's backlog (net.Listen would
// take net.core.somaxconn).
func listen(addr string) (net.Listener, error) {
	ap, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "listener")
	defer f.Close()
	sa := &syscall.SockaddrInet4{Port: ap.Port}
	copy(sa.Addr[:], ap.IP.To4())
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return nil, err
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return nil, err
	}
	if err := syscall.Listen(fd, handler.Backlog); err != nil {
		return nil, err
	}
	return net.FileListener(f)
}
