// Package lab creates and removes the test lab: two network namespaces (client
// and server) joined by a veth pair. The client side has the kernel address
// 198.18.0.1/24; the server side has no kernel IPv4 address and IPv6 disabled,
// so only netspec (on AF_PACKET) answers there. See docs/architecture.md.
package lab

import (
	"errors"
	"net/netip"
)

// Default names and addresses of the lab (RFC 2544 benchmarking range 198.18.0.0/15).
const (
	// DefaultPrefix names the namespaces netspec-cli and netspec-srv.
	DefaultPrefix = "netspec"
	// ClientIface and ServerIface are the veth ends' names inside their namespaces.
	ClientIface = "ns-cli0"
	// ServerIface is the server-side veth name, inside the server namespace.
	ServerIface = "ns-srv0"
)

var (
	clientAddr = netip.MustParsePrefix("198.18.0.1/24")
	serverAddr = netip.MustParsePrefix("198.18.0.2/24")
)

// ErrNotSupported is returned on systems without network namespaces.
var ErrNotSupported = errors.New("lab: network namespaces are only supported on Linux")

// Config names the lab and sets its knobs. The zero value is the default lab.
type Config struct {
	// Prefix names the namespaces <Prefix>-cli and <Prefix>-srv; empty means
	// DefaultPrefix. Tests use unique prefixes (ForTest does).
	Prefix string
	// ClientTxOffloadOff turns transmit checksum offload (and with it TSO/GSO)
	// off on the client veth; by default offloads keep their kernel defaults.
	ClientTxOffloadOff bool
	// ClientIPv6 keeps IPv6 enabled in the client namespace. By default it is
	// disabled so the client sends no router solicitations or MLD reports to
	// the server link. (IPv6 is always disabled on the server side.)
	ClientIPv6 bool
}

func (c Config) prefix() string {
	if c.Prefix == "" {
		return DefaultPrefix
	}
	return c.Prefix
}

// ClientNSName returns the client namespace's name for cfg.
func (c Config) ClientNSName() string { return c.prefix() + "-cli" }

// ServerNSName returns the server namespace's name for cfg.
func (c Config) ServerNSName() string { return c.prefix() + "-srv" }

// Lab is a running lab, returned by Up.
type Lab struct {
	cfg Config
}

// ServerIface returns the name of the server's veth (inside ServerNS).
func (l *Lab) ServerIface() string { return ServerIface }

// ClientIface returns the name of the client's veth (inside ClientNS).
func (l *Lab) ClientIface() string { return ClientIface }

// ServerNS returns the server namespace's name.
func (l *Lab) ServerNS() string { return l.cfg.ServerNSName() }

// ClientNS returns the client namespace's name.
func (l *Lab) ClientNS() string { return l.cfg.ClientNSName() }

// ClientAddr returns the client's kernel address, 198.18.0.1/24.
func (l *Lab) ClientAddr() netip.Prefix { return clientAddr }

// ServerAddr returns the address netspec serves on, 198.18.0.2/24 (not
// configured in the kernel).
func (l *Lab) ServerAddr() netip.Prefix { return serverAddr }
