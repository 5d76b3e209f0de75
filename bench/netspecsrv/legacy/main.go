//go:build netspec_legacy

// Command legacy is bench/netspecsrv for a netspec revision older than the
// root package (before netspec.Open existed, e.g. 6226d79): the same
// handler on a stack put together from the driver and fsm packages as
// cmd/netspec serve did then. bench_build in bench/benchlib.sh builds it,
// with -tags netspec_legacy, only for such a revision of REVS, so that
// "REVS=6226d79 ." compares the stack before and after its reshaping.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"

	"github.com/netspec/netspec/bench/handler"
	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/afpacket"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

func main() {
	f := handler.ParseFlags("netspecsrv")
	link, err := afpacket.Open(f.Iface, afpacket.Options{})
	if err != nil {
		handler.Exit("netspecsrv", err)
	}
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		handler.Exit("netspecsrv", err)
	}
	addr, _ := wire.AddrFrom(f.Addr.Addr())
	st := stack.New(stack.Config{
		MAC:        link.MAC(),
		Addr:       addr,
		PrefixLen:  f.Addr.Bits(),
		MTU:        link.MTU(),
		Seed:       binary.LittleEndian.Uint64(seed[:]),
		GSOMaxSize: driver.GSOMaxSize(link),
	})
	loop := driver.NewLoop(link, st, driver.LoopOptions{})
	runErr := make(chan error, 1)
	go func() { runErr <- loop.Run(context.Background()) }()
	ln, err := netconn.Listen(loop, uint16(f.Port), handler.Backlog)
	if err == nil {
		err = handler.Serve(ln, f.CPUProfile)
	}
	// Serve returns after SIGTERM or SIGINT has shut the server down.
	loop.Close()
	<-runErr
	handler.Exit("netspecsrv", err)
}
