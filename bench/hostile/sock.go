//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"net"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/fsm/wire"
)

// rawIP is an IPPROTO_RAW socket: each datagram written carries its own
// IPv4 header (IP_HDRINCL implied), spoofed or odd fields included; the
// kernel of the namespace routes and frames it.
type rawIP struct {
	fd int
	to unix.SockaddrInet4
}

func openRawIP(dst wire.Addr) (*rawIP, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("raw socket: %w", err)
	}
	return &rawIP{fd: fd, to: unix.SockaddrInet4{Addr: dst}}, nil
}

func (r *rawIP) send(pkt []byte) error { return unix.Sendto(r.fd, pkt, 0, &r.to) }

func (r *rawIP) close() { unix.Close(r.fd) }

// packetSock is an AF_PACKET socket on one interface: SOCK_RAW sends and
// receives whole Ethernet frames, SOCK_DGRAM receives the network-layer
// packets (both directions: what the host sends is looped back to it).
type packetSock struct {
	fd      int
	ifindex int
}

func openPacket(iface string, typ int) (*packetSock, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	// ETH_P_ALL: a protocol-specific socket is not shown the host's own
	// outgoing frames.
	proto := htons(unix.ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, typ, int(proto))
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("packet socket: bind %s: %w", iface, err)
	}
	return &packetSock{fd: fd, ifindex: ifi.Index}, nil
}

func (p *packetSock) send(frame []byte) error {
	return unix.Sendto(p.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: p.ifindex, Halen: 6})
}

func (p *packetSock) close() { unix.Close(p.fd) }

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
