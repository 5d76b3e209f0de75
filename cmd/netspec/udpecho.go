package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/netspec/netspec"
)

// newPacketConn binds the UDP socket of a UDP service.
func newPacketConn(st *netspec.Stack, port uint16) (net.PacketConn, error) {
	pc, err := st.ListenPacket("udp", ":"+strconv.Itoa(int(port)))
	if err != nil {
		return nil, fmt.Errorf("bind UDP port %d: %w", port, err)
	}
	return pc, nil
}

// closeAll closes the non-nil listeners and packet conns.
func closeAll(lns []net.Listener, pcs []net.PacketConn) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
	for _, pc := range pcs {
		if pc != nil {
			pc.Close()
		}
	}
}

// udpEcho sends every datagram back to its sender (RFC 862, UDP based echo
// service) until pc is closed.
func (s *server) udpEcho(pc net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("udp echo read failed", "addr", pc.LocalAddr(), "err", err)
			}
			return
		}
		if _, err := pc.WriteTo(buf[:n], from); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("udp echo write failed", "to", from, "err", err)
		}
	}
}
