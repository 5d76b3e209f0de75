// Command kernelsrv is the Linux kernel's server in the benchmark: the
// benchmark's handler (bench/handler) on a kernel TCP socket. With --root it
// serves http.FileServer over DIR instead, the handler `netspec serve
// --root DIR` runs (bench/robust.sh compares those). With --cc NAME the
// listener (and so every accepted connection) uses that congestion control
// (TCP_CONGESTION) instead of the namespace's default, which is the host's
// net.ipv4.tcp_congestion_control (BBR on the benchmark machine) and which a
// namespace cannot change to an algorithm outside
// net.ipv4.tcp_allowed_congestion_control.
//
//	kernelsrv [--addr 198.18.0.2:80] [--root DIR] [--cc cubic] [--cpuprofile FILE]
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
	cc := flag.String("cc", "", "congestion control `NAME` of the connections (TCP_CONGESTION; default: the namespace's)")
	flag.Parse()
	h := handler.New()
	if *root != "" {
		if st, err := os.Stat(*root); err != nil || !st.IsDir() {
			handler.Exit("kernelsrv", fmt.Errorf("--root %s: not a directory", *root))
		}
		h = http.FileServer(http.Dir(*root))
	}
	ln, err := listen(*addr, *cc)
	if err == nil {
		err = handler.ServeHandler(ln, h, *prof)
	}
	handler.Exit("kernelsrv", err)
}

// listen opens a TCP listener with the benchmark's backlog (net.Listen would
// take net.core.somaxconn) and, unless cc is empty, that congestion control.
func listen(addr, cc string) (net.Listener, error) {
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
	if cc != "" {
		if err := syscall.SetsockoptString(fd, syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, cc); err != nil {
			return nil, fmt.Errorf("TCP_CONGESTION %s: %w", cc, err)
		}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return nil, err
	}
	if err := syscall.Listen(fd, handler.Backlog); err != nil {
		return nil, err
	}
	return net.FileListener(f)
}
