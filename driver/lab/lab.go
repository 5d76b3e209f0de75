// Package lab creates and removes the test lab: two network namespaces (client
// and server) joined by a veth pair. The client side has the kernel address
// 198.18.0.1/24; the server side has no kernel IPv4 address and IPv6 disabled,
// so only netspec answers there: on AF_PACKET on the veth end, or, in the TAP
// variant (Config.Driver = DriverTAP), on a TAP device bridged to the veth
// end. See docs/architecture.md.
package lab

import (
	"errors"
	"fmt"
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
	// TAPIface is the TAP device netspec opens in the TAP variant (server
	// namespace).
	TAPIface = "ns-tap0"
	// BridgeIface is the bridge joining TAPIface and ServerIface in the TAP
	// variant (server namespace; no address).
	BridgeIface = "ns-br0"
)

// Drivers a lab can be built for (Config.Driver).
const (
	// DriverAFPacket: netspec opens the server's veth end with AF_PACKET.
	DriverAFPacket = "afpacket"
	// DriverTAP: netspec opens a persistent TAP device bridged to the
	// server's veth end.
	DriverTAP = "tap"
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
	// DefaultPrefix. Tests use unique prefixes (labtest.ForTest does).
	Prefix string
	// ClientTxOffloadOff turns transmit checksum offload (and with it TSO/GSO)
	// off on the client veth; by default offloads keep their kernel defaults.
	ClientTxOffloadOff bool
	// ClientIPv6 keeps IPv6 enabled in the client namespace. By default it is
	// disabled so the client sends no router solicitations or MLD reports to
	// the server link. (IPv6 is always disabled on the server side.)
	ClientIPv6 bool
	// Driver is the link driver netspec will use: DriverAFPacket (or empty)
	// or DriverTAP, which adds the TAP device and the bridge.
	Driver string
}

// validate checks the knobs Up cannot build.
func (c Config) validate() error {
	switch c.Driver {
	case "", DriverAFPacket, DriverTAP:
		return nil
	}
	return fmt.Errorf("lab: unknown driver %q (want %s or %s)", c.Driver, DriverAFPacket, DriverTAP)
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

// Config returns the configuration the lab was built from.
func (l *Lab) Config() Config { return l.cfg }

// ServerIface returns the name of the interface netspec opens (inside
// ServerNS): the veth end, or the TAP device in the TAP variant.
func (l *Lab) ServerIface() string {
	if l.cfg.Driver == DriverTAP {
		return TAPIface
	}
	return ServerIface
}

// Driver returns the link driver the lab was built for (DriverAFPacket or
// DriverTAP).
func (l *Lab) Driver() string {
	if l.cfg.Driver == "" {
		return DriverAFPacket
	}
	return l.cfg.Driver
}

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
