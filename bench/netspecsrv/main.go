// Command netspecsrv is netspec's server in the benchmark: the stack opened
// with package netspec on an interface (AF_PACKET by default) and the
// benchmark's handler (bench/handler) on it.
//
//	netspecsrv --iface ns-srv0 --addr 198.18.0.2/24 [--port 80] [--cpuprofile FILE] [--loops N]
package main

import (
	"flag"
	"strconv"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/bench/handler"
)

func main() {
	loops := flag.Int("loops", 1, "event loops (netspec.Options.Loops)")
	f := handler.ParseFlags("netspecsrv")
	st, err := netspec.Open(f.Iface, f.Addr, &netspec.Options{Backlog: handler.Backlog, Loops: *loops})
	if err != nil {
		handler.Exit("netspecsrv", err)
	}
	ln, err := st.Listen("tcp", ":"+strconv.Itoa(f.Port))
	if err == nil {
		err = handler.Serve(ln, f.CPUProfile)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	handler.Exit("netspecsrv", err)
}
