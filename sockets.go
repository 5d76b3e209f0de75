package netspec

import (
	"context"
	"net"
	"net/netip"
	"strconv"

	"github.com/netspec/netspec/driver/netconn"
)

// Listen opens a TCP listener on the stack's address (RFC 9293 §3.10.1
// passive OPEN), like net.Listen. network is "tcp" or "tcp4"; address is
// ":PORT", or "HOST:PORT" with HOST the stack's own address or 0.0.0.0.
// Ports are numbers (no service names) from 1 to 65535: the stack has no
// ephemeral listening ports. The listener is a *netconn.Listener (with
// several loops a *MultiListener, one netconn.Listener per loop) and its
// connections are *netconn.Conn, which half-close with CloseWrite as a
// *net.TCPConn does. Shutdown closes it; Listen fails once Shutdown began.
func (s *Stack) Listen(network, address string) (net.Listener, error) {
	port, err := s.localPort("listen", network, address, "tcp", "tcp4")
	if err != nil {
		return nil, err
	}
	if port == 0 {
		return nil, opErr("listen", network, address, "port 0: listeners need a fixed port")
	}
	parts := make([]*netconn.Listener, 0, len(s.shards))
	for _, sh := range s.shards {
		p, err := netconn.ListenOptions(sh.loop, port, s.backlog, netconn.Options{Recorder: s.rec})
		if err != nil {
			for _, p := range parts {
				p.Close()
			}
			return nil, err
		}
		parts = append(parts, p)
	}
	var ln interface {
		net.Listener
		listener
	} = parts[0]
	if len(parts) > 1 {
		ln = newMultiListener(parts)
	}
	if err := s.track(ln); err != nil {
		ln.Close()
		return nil, &net.OpError{Op: "listen", Net: network, Addr: ln.Addr(), Err: err}
	}
	return ln, nil
}

// Dial opens a TCP connection from the stack's address and an ephemeral
// port to address (RFC 9293 §3.10.1 active OPEN), like net.Dialer's
// DialContext: it waits until the connection is established, refused or
// reset, or ctx ends (which aborts it). network is "tcp" or "tcp4"; address
// is "IPv4:PORT" (netspec resolves no names). The connection is a
// *netconn.Conn.
func (s *Stack) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, opErr("dial", network, address, "want IPv4:PORT (netspec resolves no names)")
	}
	if ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()); !ap.Addr().Is4() {
		return nil, opErr("dial", network, address, noIPv4)
	}
	// The loop's stack takes a local port whose flow comes back to it.
	c, err := s.pick().dialer.Dial(ctx, ap)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ListenPacket binds a UDP socket on the stack's address, like
// net.ListenPacket. network is "udp" or "udp4"; address is as for Listen,
// and port 0 picks an ephemeral port. The socket is a *netconn.PacketConn.
func (s *Stack) ListenPacket(network, address string) (net.PacketConn, error) {
	port, err := s.localPort("listen", network, address, "udp", "udp4")
	if err != nil {
		return nil, err
	}
	pc, err := netconn.ListenPacket(s.loop, port)
	if err != nil {
		return nil, err
	}
	return pc, nil
}

// localPort checks a local network and address (":PORT" or "HOST:PORT"
// with HOST ours or unspecified) and returns the port.
func (s *Stack) localPort(op, network, address string, networks ...string) (uint16, error) {
	known := false
	for _, n := range networks {
		known = known || network == n
	}
	if !known {
		return 0, &net.OpError{Op: op, Net: network, Err: net.UnknownNetworkError(network)}
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return 0, opErr(op, network, address, "want :PORT or HOST:PORT")
	}
	if host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return 0, opErr(op, network, address, "host is not an IP address (netspec resolves no names)")
		}
		if a = a.Unmap(); !a.Is4() {
			return 0, opErr(op, network, address, noIPv4)
		}
		if a != s.prefix.Addr() && !a.IsUnspecified() {
			return 0, opErr(op, network, address, "not the stack's address "+s.prefix.Addr().String())
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0, opErr(op, network, address, "bad port: want 0..65535")
	}
	return uint16(p), nil
}

// noIPv4 is why an address that is not IPv4 is refused.
const noIPv4 = "netspec speaks IPv4 only"

// opErr is a bad-address error in the form net's functions return.
func opErr(op, network, address, why string) error {
	return &net.OpError{Op: op, Net: network, Err: &net.AddrError{Err: why, Addr: address}}
}
