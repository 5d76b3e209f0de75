package netconn_test

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// TestConnRetryingAtR1: the peer answers the handshake and then falls
// silent; after the third retransmission of the data (R1, RFC 9293 §3.8.3)
// Conn.Retrying reports it (SHLD-9), not before, and the connection is
// still open.
func TestConnRetryingAtR1(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := pipe.New(pipe.Config{})
		loop := driver.NewLoop(a, stack.New(stack.Config{MAC: a.MAC(), Addr: cliIP, PrefixLen: 24, MTU: a.MTU(), Seed: 1}), driver.LoopOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go loop.Run(ctx)
		defer loop.Close()
		p := &rawPeer{t: t, e: b, frames: [][]byte{make([]byte, b.MaxFrame())}, n: make([]int, 1), meta: make([]driver.RxMeta, 1)}
		dialed := make(chan *netconn.Conn, 1)
		go func() {
			c, err := netconn.Dial(ctx, loop, netip.AddrPortFrom(srvIP.Netip(), 80))
			if err != nil {
				t.Error(err)
			}
			dialed <- c
		}()
		_, syn := p.next()
		h := wire.TCPHeader{SrcPort: 80, DstPort: syn.SrcPort(), Seq: 5000, Ack: syn.Seq() + 1, Flags: wire.FlagSYN | wire.FlagACK, Window: 65535}
		h.Opts.MSS, h.Opts.HasMSS = 1460, true
		sa := make([]byte, h.Len())
		h.Put(sa)
		wire.SetTCPChecksum(sa, srvIP, cliIP)
		p.ip(srvIP, wire.ProtoTCP, sa)
		c := <-dialed
		if c == nil {
			return
		}
		defer c.Close()
		p.next() // the handshake's ACK
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= 3; i++ { // the original, then three retransmissions
			if r, err := c.Retrying(); err != nil || r {
				t.Fatalf("before transmission %d: Retrying %v, %v", i, r, err)
			}
			if _, seg := p.next(); len(seg.Payload()) != 5 {
				t.Fatalf("transmission %d carries %d octets", i, len(seg.Payload()))
			}
		}
		synctest.Wait()
		if r, err := c.Retrying(); err != nil || !r {
			t.Fatalf("after R1 retransmissions: Retrying %v, %v", r, err)
		}
	})
}
