// Package inmem runs the in-memory benchmarks of issue 11: two stacks in one
// process joined by an in-memory link, the same client and server code on
// top, once with netspec and once with gVisor's netstack, so that
// `go test -bench .` here puts the two side by side:
//
//   - netspec: netspec.Pipe, two stacks over driver/pipe with no faults
//     (no loss, delay, duplication, reordering or corruption): each frame is
//     copied into the peer's bounded queue (256 frames) and read from it by
//     the peer's event loop.
//   - gVisor: two gvisor.dev/gvisor/pkg/tcpip stacks, each on an Ethernet
//     endpoint (link/ethernet, so ARP and Ethernet headers are built and
//     parsed as netspec does) over a link/channel endpoint of 256 packets;
//     one goroutine per direction moves each packet from one channel to the
//     other's InjectInbound without copying its bytes. SACK and
//     receive-buffer moderation are on, as in bench/gvisorsrv and runsc.
//
// Both sides: MTU 1500, no GSO, no checksum offload (each stack computes and
// verifies its checksums), addresses 198.18.0.1/24 (client) and
// 198.18.0.2/24 (server). The benchmarks are in inmem_test.go; `make
// bench-inmem` runs them and writes their table to BENCHMARKS.md
// (./report).
package inmem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/driver/pipe"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// Addresses of the two stacks of a pair and the server's port.
var (
	ClientAddr = netip.MustParsePrefix("198.18.0.1/24")
	ServerAddr = netip.MustParsePrefix("198.18.0.2/24")
)

// Port is the port the server stack listens on.
const Port = 80

// QueueLen is the frames each direction of either link buffers (driver/pipe's
// default).
const QueueLen = 256

// MTU is the IP MTU of either link.
const MTU = 1500

// Pair is two stacks joined by an in-memory link: Dial opens a connection
// from the client stack to the listener Listen opens on the server stack.
type Pair struct {
	// Name is "netspec" or "gvisor".
	Name string
	// Listen opens the server stack's listener on Port.
	Listen func() (net.Listener, error)
	// Dial connects from the client stack to the server's Port.
	Dial func(ctx context.Context) (net.Conn, error)
	// Losses returns what both directions of the link dropped for a full
	// queue and the TCP segments both stacks retransmitted so far: a fair
	// link loses nothing, so the benchmarks report them.
	Losses func() (dropped, retransmitted uint64)
	// Close stops both stacks and the link.
	Close func()
}

// Stacks are the constructors of the pairs compared, in table order.
var Stacks = []struct {
	Name string
	New  func() (*Pair, error)
}{
	{"netspec", NewNetspec},
	{"gvisor", NewGVisor},
	{"netpipe", NewNetPipe},
}

// NewNetspec returns two netspec stacks on a fault-free netspec.Pipe.
func NewNetspec() (*Pair, error) {
	cli, srv, err := netspec.Pipe(&netspec.PipeConfig{A: ClientAddr, B: ServerAddr, MTU: MTU, QueueLen: QueueLen})
	if err != nil {
		return nil, err
	}
	dst := netip.AddrPortFrom(ServerAddr.Addr(), Port).String()
	return &Pair{
		Name:   "netspec",
		Listen: func() (net.Listener, error) { return srv.Listen("tcp", ":"+strconv.Itoa(Port)) },
		Dial:   func(ctx context.Context) (net.Conn, error) { return cli.Dial(ctx, "tcp", dst) },
		Losses: func() (dropped, retransmitted uint64) {
			for _, s := range []*netspec.Stack{cli, srv} {
				if e, ok := s.Link().(*pipe.End); ok {
					dropped += e.Stats().DropQueueFull
				}
				retransmitted += s.Counters()["tcp.Retransmits"]
			}
			return dropped, retransmitted
		},
		Close: func() {
			cli.Close()
			srv.Close()
		},
	}, nil
}

// NewGVisor returns two gVisor stacks joined by link/channel endpoints and
// one goroutine per direction.
func NewGVisor() (*Pair, error) {
	chc := &countingChannel{Endpoint: channel.New(QueueLen, MTU, "\x02\x00\x00\x00\x00\x0a")}
	chs := &countingChannel{Endpoint: channel.New(QueueLen, MTU, "\x02\x00\x00\x00\x00\x0b")}
	cli, err := gvisorStack(ethernet.New(chc), ClientAddr)
	if err != nil {
		return nil, err
	}
	srv, err := gvisorStack(ethernet.New(chs), ServerAddr)
	if err != nil {
		cli.Destroy()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); forward(ctx, chc.Endpoint, chs.Endpoint) }()
	go func() { defer wg.Done(); forward(ctx, chs.Endpoint, chc.Endpoint) }()
	dst := tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(ServerAddr.Addr().As4()), Port: Port}
	return &Pair{
		Name: "gvisor",
		Listen: func() (net.Listener, error) {
			return gonet.ListenTCP(srv, tcpip.FullAddress{NIC: 1, Port: Port}, ipv4.ProtocolNumber)
		},
		Dial: func(ctx context.Context) (net.Conn, error) {
			return gonet.DialContextTCP(ctx, cli, dst, ipv4.ProtocolNumber)
		},
		Losses: func() (dropped, retransmitted uint64) {
			for _, s := range []*stack.Stack{cli, srv} {
				retransmitted += s.Stats().TCP.Retransmits.Value()
			}
			return chc.dropped.Load() + chs.dropped.Load(), retransmitted
		},
		Close: func() {
			cancel()
			wg.Wait()
			cli.Close()
			srv.Close()
			cli.Wait()
			srv.Wait()
		},
	}, nil
}

// countingChannel is a channel endpoint that counts the packets its full
// queue refused: channel.Endpoint's WritePackets drops them without an error
// the stack would count.
type countingChannel struct {
	*channel.Endpoint
	dropped atomic.Uint64
}

// WritePackets queues pkts and counts those the full queue refused.
func (c *countingChannel) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n, err := c.Endpoint.WritePackets(pkts)
	if err == nil && n < pkts.Len() {
		c.dropped.Add(uint64(pkts.Len() - n))
	}
	return n, err
}

// forward moves every packet the stack of from sends into the stack of to,
// as received frames: the bytes are shared, not copied (a packet's buffer is
// reference-counted).
func forward(ctx context.Context, from, to *channel.Endpoint) {
	for {
		pkt := from.ReadContext(ctx)
		if pkt == nil {
			return
		}
		in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: pkt.ToBuffer()})
		pkt.DecRef()
		to.InjectInbound(0, in) // the Ethernet endpoint reads the type from the header
		in.DecRef()
	}
}

// gvisorStack builds one gVisor stack on ep with address p, configured as
// bench/gvisorsrv configures its own (SACK, receive-buffer moderation).
func gvisorStack(ep stack.LinkEndpoint, p netip.Prefix) (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	fail := func(what string, e tcpip.Error) (*stack.Stack, error) {
		s.Destroy()
		return nil, fmt.Errorf("gvisor: %s: %s", what, e)
	}
	sack := tcpip.TCPSACKEnabled(true)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	for _, opt := range []tcpip.SettableTransportProtocolOption{&sack, &moderate} {
		if e := s.SetTransportProtocolOption(tcp.ProtocolNumber, opt); e != nil {
			return fail("option", e)
		}
	}
	if e := s.CreateNIC(1, ep); e != nil {
		return fail("create NIC", e)
	}
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{
		Address: tcpip.AddrFrom4(p.Addr().As4()), PrefixLen: p.Bits()}}
	if e := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); e != nil {
		return fail("add address", e)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: 1}})
	return s, nil
}

// ErrShort reports a transfer that ended before all its octets arrived.
var ErrShort = errors.New("inmem: transfer ended short")
