// Command gvisorsrv is gVisor's netstack as a peer in the benchmark: the
// netstack (gvisor.dev/gvisor/pkg/tcpip) on an AF_PACKET socket bound to the
// interface (link/fdbased, recvmmsg dispatch, Ethernet frames, host GSO), with SACK
// and receive-buffer moderation on as in runsc, and the benchmark's handler
// (bench/handler) on a gonet listener. Received checksums are not verified
// (see RXChecksumOffload below).
//
//	gvisorsrv --iface ns-srv0 --addr 198.18.0.2/24 [--port 80] [--cpuprofile FILE]
package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/netspec/netspec/bench/handler"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

func main() {
	f := handler.ParseFlags("gvisorsrv")
	ln, err := start(f.Iface, f.Addr, uint16(f.Port))
	if err == nil {
		err = handler.Serve(ln, f.CPUProfile)
	}
	handler.Exit("gvisorsrv", err)
}

// start builds the stack on iface and returns its listener.
func start(iface string, p netip.Prefix, port uint16) (net.Listener, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	fd, err := packetSocket(ifc.Index)
	if err != nil {
		return nil, err
	}
	ep, err := fdbased.New(&fdbased.Options{
		FDs:                []int{fd},
		MTU:                uint32(ifc.MTU),
		EthernetHeader:     true,
		Address:            tcpip.LinkAddress(ifc.HardwareAddr),
		PacketDispatchMode: fdbased.RecvMMsg,
		InterfaceIndex:     ifc.Index,
		// The veth peer leaves checksums to offload (CHECKSUM_PARTIAL):
		// an AF_PACKET reader without PACKET_VNET_HDR sees them unfilled,
		// so the stack must not verify them (netspec learns the same from
		// the vnet header). It computes its own on sending.
		RXChecksumOffload: true,
		// Host GSO: the stack hands the kernel 64 KiB TCP super-frames
		// behind a virtio_net_hdr (PACKET_VNET_HDR, set on the socket), as
		// netspec's AF_PACKET driver does.
		GSOMaxSize: 65536,
	})
	if err != nil {
		return nil, fmt.Errorf("fdbased: %w", err)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	sack := tcpip.TCPSACKEnabled(true)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	for _, opt := range []tcpip.SettableTransportProtocolOption{&sack, &moderate} {
		if e := s.SetTransportProtocolOption(tcp.ProtocolNumber, opt); e != nil {
			return nil, errors.New(e.String())
		}
	}
	if e := s.CreateNIC(1, ep); e != nil {
		return nil, fmt.Errorf("create NIC: %s", e)
	}
	a := tcpip.AddrFrom4(p.Addr().As4())
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: a, PrefixLen: p.Bits()}}
	if e := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); e != nil {
		return nil, fmt.Errorf("add address: %s", e)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: 1}})
	var wq waiter.Queue
	tep, e := s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if e != nil {
		return nil, errors.New(e.String())
	}
	if e := tep.Bind(tcpip.FullAddress{NIC: 1, Addr: a, Port: port}); e != nil {
		return nil, fmt.Errorf("bind: %s", e)
	}
	if e := tep.Listen(handler.Backlog); e != nil {
		return nil, fmt.Errorf("listen: %s", e)
	}
	return gonet.NewTCPListener(s, &wq, tep), nil
}

// packetSocket opens an AF_PACKET socket for every protocol, bound to the
// interface with index ifindex, with a virtio_net_hdr before each frame.
func packetSocket(ifindex int) (int, error) {
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("PACKET_VNET_HDR: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind AF_PACKET: %w", err)
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
