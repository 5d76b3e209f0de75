package netspec

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/netspec/netspec/driver/history"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// Link drivers Open can use (Options.Driver).
const (
	// DriverAFPacket runs on an existing interface through an AF_PACKET raw
	// socket (root or CAP_NET_RAW); the default.
	DriverAFPacket = "afpacket"
	// DriverTAP opens a TAP device through /dev/net/tun, creating it when it
	// does not exist (root or CAP_NET_ADMIN).
	DriverTAP = "tap"
)

// DefaultCC is the congestion control of the stacks the package makes:
// BBR, paced (fsm/tcp bbr.go, pacing.go), as the Linux kernel's default on
// the benchmark's hosts. It keeps its window under random loss, where
// CUBIC's falls to about 1.7/sqrt(p) segments (16 MiB downloads from the lab
// veth at 1 % / 5 % loss: BENCHMARKS.md), and paced it keeps a bottleneck's
// queue short. fsm/tcp's own zero Config stays CUBIC; Options.Tune sets
// another (c.TCP.CC = tcp.CUBIC).
const DefaultCC = tcp.BBR

// DefaultBacklog is the accept queue of each listener when Options.Backlog
// is zero.
const DefaultBacklog = 128

// Options configure a Stack. The zero value (or a nil *Options) is a stack
// with the interface's MAC, no gateway, the linux TCP profile, ECN accepted
// when the peer asks, BBR congestion control (DefaultCC), TTL 64, a secret
// random seed and nothing recorded.
type Options struct {
	// Driver picks the link Open uses: DriverAFPacket (the default, "") or
	// DriverTAP. New and Pipe ignore it: they are given their link.
	Driver string
	// MAC is the stack's hardware address. Nil means the link's own (with
	// DriverTAP a random locally administered one, since the device's
	// address is the kernel side's). With DriverAFPacket a MAC of our own
	// puts the interface in promiscuous mode, to see frames sent to it.
	MAC net.HardwareAddr
	// Gateway is the next hop for destinations outside the stack's prefix
	// (RFC 1122 §3.3.1.1). The zero value means on-link only: off-link
	// destinations are unreachable. It must lie inside the prefix.
	Gateway netip.Addr
	// Profile is the behavioural profile of spec/tcp.fsm the TCP machine
	// runs (zero: tcp.ProfileLinux; tcp.ProfileRfc9293 is the strict reading).
	Profile tcp.Profile
	// ECN is the RFC 3168 explicit congestion notification mode (zero:
	// tcp.ECNAccept, used when the peer's SYN asks for it, as Linux does).
	ECN tcp.ECNMode
	// TTL is the time to live of the datagrams the stack sends (0: 64;
	// RFC 1122 §3.2.1.7).
	TTL uint8
	// Backlog is the accept queue of each listener (0: DefaultBacklog);
	// with several loops, of each loop's part of it.
	Backlog int
	// Loops is how many event loops Open (OpenLinks) runs, each on an
	// AF_PACKET socket of one fanout group and with a protocol stack of
	// its own, so the stack's work spreads over that many cores (0 or 1:
	// one loop; at most MaxLoops). More than one needs DriverAFPacket and
	// no Pcap. New and NewLinks run one loop per link they are given.
	Loops int
	// Seed seeds the stack's random source: initial sequence numbers,
	// ephemeral ports, IP IDs. Zero draws a secret seed from crypto/rand, as
	// RFC 9293 §3.4.1 (MUST-9) wants for a stack on a real network; a fixed
	// seed makes a simulation replay.
	Seed uint64
	// Pcap, if not nil, receives every frame the stack receives and sends,
	// in the pcapng format that tcpdump, tshark and Wireshark read, each
	// frame marked inbound or outbound (driver/pcap); each received frame
	// is captured once the stack processed it, with its journey line
	// (Options.Trace) as the packet comment. It is buffered
	// and flushed by Close; the caller closes it afterwards. Stats reports
	// how many frames it holds.
	Pcap io.Writer
	// History, if not nil, records every Dial, Accept, Read, Write,
	// CloseWrite, Close and Abort on the stack's TCP connections as a
	// linearizability history (driver/history; check it with package
	// fuzz/linz or "netspec hist check"). Two stacks may share one Writer.
	// The caller closes it after Close.
	History *history.Writer
	// Logger receives the stack's rare events (link errors, shutdown) and,
	// with Trace, every received frame's journey. Nil discards them.
	Logger *slog.Logger
	// Trace logs every received frame's journey line (stack.Trace's
	// AppendLine: the layers, the spec rows that decided it, the drop
	// reason, what was sent in answer) at level Info through Logger.
	Trace bool
	// Tracer, if not nil, is called inside the event loop with every
	// received frame's journey once the stack processed it (fsm/stack
	// SetTracer). The record and its Frame are valid only during the call
	// (NewTraceRecord and AppendTraceJSON copy it); it must not block or
	// call the Stack. Without Trace, Tracer and Pcap no tracer runs. With
	// several loops it is called from each of them, one call at a time.
	Tracer func(t *stack.Trace)
	// Metrics, if not zero, serves the stack's counters, spec-row hits and
	// TCP socket states in the Prometheus text format at
	// http://ADDR:Metrics/metrics on the stack's own address, through the
	// stack itself (driver/observe). Each scrape reads the counters inside
	// the event loop; nothing is copied per packet.
	Metrics uint16
	// MetricsListen, if not empty, serves the same metrics on a kernel
	// TCP socket at this address ("127.0.0.1:9100"), for a host that runs
	// netspec beside its normal network.
	MetricsListen string
	// Control, if not empty, is the path of a Unix socket serving
	// snapshots (counters and the TCP socket table) to `netspec stat` and
	// `netspec ss`; by convention observe.SocketPath(iface),
	// /run/netspec/netns-INODE/IFACE.sock. Its directory is created; a socket file
	// left by a dead server is replaced, one a live server answers on is
	// refused. Close removes it.
	Control string
	// ReleaseMemory, if not zero, gives the Go heap's free memory back to
	// the operating system (runtime/debug.FreeOSMemory) once the link has
	// been quiet for this long after traffic: when a burst of connections
	// ends, the process's RSS falls back toward what the connections still
	// open hold, instead of keeping the peak until the runtime's scavenger
	// gets to it. It is process-wide (a garbage collection, then every free
	// page returned) and runs at most once per quiet spell. `netspec serve`
	// sets it (--release-idle); a library user whose program has its own
	// memory policy (GOMEMLIMIT, debug.SetMemoryLimit) leaves it zero.
	ReleaseMemory time.Duration
	// Tune, if not nil, is called with the stack's configuration just
	// before the stack is built, after the fields above were applied: the
	// place to set what Options does not name (buffer sizes, descriptor and
	// queue limits; see fsm/stack.Config). Most programs leave it nil.
	Tune func(*stack.Config)
}

// ConfigError reports a bad argument to Open, New, Pipe or Check: the
// argument (Field: "addr", "gateway", "mac", "driver", "profile", "ecn",
// "backlog", "loops", "metrics-listen") and what is wrong with it.
type ConfigError struct {
	Field string
	Err   error
}

// Error returns "netspec: FIELD: reason".
func (e *ConfigError) Error() string { return "netspec: " + e.Field + ": " + e.Err.Error() }

// Unwrap returns the reason.
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(field, format string, a ...any) error {
	return &ConfigError{Field: field, Err: fmt.Errorf(format, a...)}
}

// Check reports, without touching the system, whether Open would accept
// addr and opts: addr must be an IPv4 unicast host address with its prefix
// (such as 198.18.0.2/24), the gateway a host inside that prefix, the MAC a
// 48-bit unicast address. Failures are *ConfigError.
func Check(addr netip.Prefix, opts *Options) error {
	if err := checkAddr(addr); err != nil {
		return err
	}
	o := opts.orZero()
	switch o.Driver {
	case "", DriverAFPacket, DriverTAP:
	default:
		return configErr("driver", "unknown driver %q (want %s or %s)", o.Driver, DriverAFPacket, DriverTAP)
	}
	if o.MAC != nil {
		if len(o.MAC) != 6 {
			return configErr("mac", "%s is not a 48-bit MAC address", o.MAC)
		}
		if m := wire.MAC(o.MAC); m.IsMulticast() || m == (wire.MAC{}) {
			return configErr("mac", "%s is not a unicast address", o.MAC)
		}
	}
	if g := o.Gateway; g.IsValid() {
		switch {
		case !g.Is4():
			return configErr("gateway", "%s is not IPv4", g)
		case !addr.Masked().Contains(g):
			return configErr("gateway", "%s is outside %s (a gateway must be on-link)", g, addr.Masked())
		case g == addr.Addr():
			return configErr("gateway", "%s is our own address", g)
		}
		if err := checkHost("gateway", g, addr.Bits()); err != nil {
			return err
		}
	}
	if o.Profile >= tcp.NumProfiles {
		return configErr("profile", "unknown profile %d", o.Profile)
	}
	if o.ECN > tcp.ECNOff {
		return configErr("ecn", "unknown mode %d", o.ECN)
	}
	if err := checkLoops(&o); err != nil {
		return err
	}
	if o.Backlog < 0 {
		return configErr("backlog", "%d is negative", o.Backlog)
	}
	if o.MetricsListen != "" {
		if _, err := netip.ParseAddrPort(o.MetricsListen); err != nil {
			return configErr("metrics-listen", "%q is not ADDR:PORT", o.MetricsListen)
		}
	}
	return nil
}

// checkAddr checks the stack's own address and prefix.
func checkAddr(p netip.Prefix) error {
	a := p.Addr()
	switch {
	case !a.IsValid():
		return configErr("addr", "missing: want an IPv4 address and prefix, e.g. 198.18.0.2/24")
	case !a.Is4():
		return configErr("addr", "%s is not IPv4", a)
	case p.Bits() < 1:
		return configErr("addr", "bad prefix length /%d: want 1..32", p.Bits())
	}
	return checkHost("addr", a, p.Bits())
}

// checkHost checks that a is a unicast host address of its /bits subnet.
func checkHost(field string, a netip.Addr, bits int) error {
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return configErr(field, "%s is not a unicast host address", a)
	}
	if bits <= 30 {
		// RFC 1122 §3.2.1.3: the all-zeros and all-ones host parts are not hosts.
		b := a.As4()
		v := binary.BigEndian.Uint32(b[:])
		hostMask := uint32(1)<<(32-bits) - 1
		if host := v & hostMask; host == 0 || host == hostMask {
			return configErr(field, "%s is the network or broadcast address of %s", a, netip.PrefixFrom(a, bits).Masked())
		}
	}
	return nil
}

// orZero returns *o, or the zero Options for a nil o.
func (o *Options) orZero() Options {
	if o == nil {
		return Options{}
	}
	return *o
}

// logger returns o.Logger, or one that discards.
func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// stackConfig is the fsm/stack configuration of a stack with address p on a
// link with hardware address mac, MTU mtu and super-frame limit gso.
func (o *Options) stackConfig(p netip.Prefix, mac wire.MAC, mtu, gso int) stack.Config {
	if o.MAC != nil {
		mac = wire.MAC(o.MAC)
	}
	addr, _ := wire.AddrFrom(p.Addr())
	var gw wire.Addr
	if o.Gateway.IsValid() {
		gw, _ = wire.AddrFrom(o.Gateway)
	}
	seed := o.Seed
	if seed == 0 {
		seed = secretSeed()
	}
	cfg := stack.Config{
		MAC:       mac,
		Addr:      addr,
		PrefixLen: p.Bits(),
		Gateway:   gw,
		MTU:       mtu,
		TTL:       o.TTL,
		Seed:      seed,
		// Super-frames whenever the driver hands them to the kernel.
		GSOMaxSize: gso,
		TCP:        tcp.Config{Profile: o.Profile, ECN: o.ECN, CC: DefaultCC},
	}
	if o.Tune != nil {
		o.Tune(&cfg)
	}
	return cfg
}

// secretSeed returns a random seed the outside cannot predict (ISNs must not
// be guessable: RFC 9293 §3.4.1, MUST-9).
func secretSeed() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return uint64(time.Now().UnixNano())
	}
	if s := binary.LittleEndian.Uint64(b[:]); s != 0 {
		return s
	}
	return 1
}
