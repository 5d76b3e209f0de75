package netconn_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// rawPeer plays the server by hand on a pipe end: it reads the client's
// frames and writes crafted ones.
type rawPeer struct {
	t      *testing.T
	e      *pipe.End
	peer   wire.MAC
	frames [][]byte
	n      []int
	meta   []driver.RxMeta
}

// next returns the next IPv4 TCP segment the client sent, answering ARP on
// the way.
func (p *rawPeer) next() (wire.IPv4, wire.TCP) {
	p.t.Helper()
	for {
		k, err := p.e.ReadBatch(p.frames[:1], p.n, p.meta, time.Now().Add(time.Minute))
		if err != nil || k == 0 {
			p.t.Fatalf("read: %d frames, %v", k, err)
		}
		f := p.frames[0][:p.n[0]]
		eth, _ := wire.ParseEthernet(f)
		p.peer = eth.Src()
		switch eth.Type() {
		case wire.EtherTypeARP:
			a, _ := wire.ParseARP(eth.Payload())
			if a.Op() == wire.ARPRequest {
				r := make([]byte, wire.EthernetHeaderLen+wire.ARPLen)
				wire.PutEthernet(r, a.SenderMAC(), p.e.MAC(), wire.EtherTypeARP)
				wire.PutARP(r[wire.EthernetHeaderLen:], wire.ARPReply, p.e.MAC(), srvIP, a.SenderMAC(), a.SenderIP())
				p.write(r)
			}
		case wire.EtherTypeIPv4:
			ip, _ := wire.ParseIPv4(eth.Payload())
			if ip.Protocol() == wire.ProtoTCP {
				seg, _ := wire.ParseTCP(ip.Payload())
				return append(wire.IPv4(nil), ip...), seg
			}
		}
	}
}

func (p *rawPeer) write(f []byte) {
	p.t.Helper()
	if err := p.e.WriteBatch([][]byte{f}, nil); err != nil {
		p.t.Fatal(err)
	}
}

// dialRawPeer dials 198.18.0.2:80 from a netspec client on a pipe whose
// other end a rawPeer plays, answers the SYN with a SYN,ACK (ISS 5000, MSS
// 1460, window 65535) and reads the handshake's ACK. It returns the
// connection (nil after a failed dial, reported) and the peer; the loop and
// the connection are closed when t ends. Call it inside a synctest bubble.
func dialRawPeer(t *testing.T) (*netconn.Conn, *rawPeer) {
	t.Helper()
	a, b := pipe.New(pipe.Config{})
	loop := driver.NewLoop(a, stack.New(stack.Config{MAC: a.MAC(), Addr: cliIP, PrefixLen: 24, MTU: a.MTU(), Seed: 1}), driver.LoopOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go loop.Run(ctx)
	t.Cleanup(func() { loop.Close() })
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
		return nil, p
	}
	t.Cleanup(func() { c.Close() })
	p.next() // the handshake's ACK
	return c, p
}

// ip sends an IPv4 datagram from src to the client.
func (p *rawPeer) ip(src wire.Addr, proto uint8, payload []byte) {
	f := make([]byte, wire.EthernetHeaderLen+wire.IPv4MinHeaderLen+len(payload))
	wire.PutEthernet(f, p.peer, p.e.MAC(), wire.EtherTypeIPv4)
	(&wire.IPv4Header{TotalLen: wire.IPv4MinHeaderLen + len(payload), TTL: 64, Protocol: proto, Src: src, Dst: cliIP}).Put(f[wire.EthernetHeaderLen:])
	copy(f[wire.EthernetHeaderLen+wire.IPv4MinHeaderLen:], payload)
	p.write(f)
}

// TestConnSoftErrorFromICMP: an ICMP host unreachable quoting a segment in
// flight reaches the application through Conn.SoftError (RFC 9293
// §3.9.1.8 MUST-47, §3.9.2.2 SHLD-25) and the connection goes on (MUST-56);
// with reporting turned off (SHLD-20) the next one is not kept.
func TestConnSoftErrorFromICMP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialRawPeer(t)
		if c == nil {
			return
		}

		unreachable := func() {
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			ip, _ := p.next()
			quote := ip[:wire.IPv4MinHeaderLen+8]
			msg := make([]byte, wire.ICMPHeaderLen+len(quote))
			wire.PutICMPHeader(msg, wire.ICMPDestUnreachable, 1, 0) // host unreachable
			copy(msg[wire.ICMPHeaderLen:], quote)
			wire.SetICMPChecksum(msg)
			p.ip(wire.Addr{198, 18, 0, 254}, wire.ProtoICMP, msg) // from a router
			synctest.Wait()
		}
		unreachable()
		if err := c.SoftError(); !errors.Is(err, sock.ErrHostUnreachable) {
			t.Fatalf("SoftError %v, want host unreachable", err)
		}
		if _, err := c.Write([]byte("still")); err != nil {
			t.Fatalf("write after a soft error: %v", err)
		}
		p.next()
		if err := c.SetSoftErrors(false); err != nil {
			t.Fatal(err)
		}
		if err := c.SoftError(); err != nil {
			t.Fatalf("SoftError %v after turning reporting off", err)
		}
		unreachable()
		if err := c.SoftError(); err != nil {
			t.Fatalf("SoftError %v with reporting off", err)
		}
	})
}
