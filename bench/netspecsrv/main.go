// Command netspecsrv is netspec's server in the benchmark: the stack opened
// with package netspec on an interface (AF_PACKET by default) and the
// benchmark's handler (bench/handler) on it.
//
// --cc cubic, newreno or bbr sets the TCP connections' congestion control
// (fsm/tcp Config.CC); without it they run the library's default
// (netspec.DefaultCC). --tcp NAME sets the boolean field NAME of fsm/tcp
// Config (NoRecvCoalescing, NoACKCoalescing, ...), for an A/B of one
// build with a feature off.
//
//	netspecsrv --iface ns-srv0 --addr 198.18.0.2/24 [--port 80] [--cpuprofile FILE] [--loops N] [--cc bbr] [--tcp NoRecvCoalescing]
package main

import (
	"flag"
	"fmt"
	"reflect"
	"strconv"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/bench/handler"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
)

func main() {
	loops := flag.Int("loops", 1, "event loops (netspec.Options.Loops)")
	ccName := flag.String("cc", "", "congestion control: cubic, newreno or bbr (fsm/tcp Config.CC; default: the library's)")
	set := flag.String("tcp", "", "set the boolean field `NAME` of fsm/tcp Config (e.g. NoRecvCoalescing)")
	f := handler.ParseFlags("netspecsrv")
	cc, ok := ccByName(*ccName)
	if !ok && *ccName != "" {
		handler.Exit("netspecsrv", fmt.Errorf("--cc %q: want cubic, newreno or bbr", *ccName))
	}
	var field reflect.Value
	if *set != "" {
		// By name, so this program builds against revisions without it.
		field = reflect.ValueOf(&tcp.Config{}).Elem().FieldByName(*set)
		if !field.IsValid() || field.Kind() != reflect.Bool {
			handler.Exit("netspecsrv", fmt.Errorf("--tcp %q: no such boolean field of tcp.Config", *set))
		}
	}
	st, err := netspec.Open(f.Iface, f.Addr, &netspec.Options{Backlog: handler.Backlog, Loops: *loops,
		Tune: func(c *stack.Config) {
			if *ccName != "" {
				c.TCP.CC = cc
			}
			if *set != "" {
				reflect.ValueOf(&c.TCP).Elem().FieldByName(*set).SetBool(true)
			}
		}})
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

// ccByName returns the algorithm whose String is name. It names no
// algorithm itself, so this program (which bench/benchlib.sh builds also
// against older revisions of the stack, REVS) builds with those that lack
// one.
func ccByName(name string) (tcp.CongestionControl, bool) {
	for c := tcp.CongestionControl(0); c < 16; c++ {
		if c.String() == name {
			return c, true
		}
	}
	return 0, false
}
