package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// service is one TCP service netspec serves.
type service struct {
	kind string // "http", "echo", "discard"
	port uint16
	flag string // the flag that chose the port ("--http", or "--http (default)")
}

// serveConfig is a validated "serve" command line.
type serveConfig struct {
	iface     string
	control   string // control socket path (set by serve: observe.SocketPath in the link's namespace)
	addr      netip.Prefix
	mac       wire.MAC   // zero: use the interface's
	gateway   netip.Addr // --gateway: next hop off-link (zero: on-link only)
	driver    string
	root      string // "" serves the built-in demo site
	services  []service
	lab       bool
	labPrefix string
	history   string        // --history FILE: record a linearizability history
	pcap      string        // --pcap FILE: capture every frame
	trace     traceFlag     // --trace [FILTER]: a line per received frame (trace.go)
	traceJSON string        // --trace-json FILE: the same as JSON lines
	traceOut  io.Writer     // where --trace lines go (serve: stdout)
	profile   tcp.Profile   // --profile: the spec/tcp.fsm profile the stack runs
	ecn       tcp.ECNMode   // --ecn: RFC 3168 ECN (accept, on, off)
	ttl       uint8         // --ttl: time to live of our datagrams (0: the stack's default, 64)
	cpuprof   string        // --cpuprofile FILE: write a Go CPU profile while serving
	metrics   uint16        // --metrics PORT: Prometheus text on our own address (0: off)
	metricsAt string        // --metrics-listen ADDR:PORT: the same on a kernel socket
	drain     time.Duration // --drain: how long SIGINT/SIGTERM lets connections finish
	release   time.Duration // --release-idle: give free memory back after this long quiet (0: off)
	faults    *pipe.Faults  // --faults: impair the link (testing; nil: none)
	loops     int           // --loops: event loops (0: one per core where allowed, see autoLoops)
	synBudget int           // --syn-budget: unproven SYNs/s a loop admits under a SYN flood (0: no filter)
}

// defaultDrain bounds a graceful shutdown (--drain): long enough for a
// response of tens of MiB on a LAN, well inside the 30 s a service manager
// (systemd's TimeoutStopSec 90 s, Kubernetes' grace period 30 s) waits
// before SIGKILL.
const defaultDrain = 10 * time.Second

// defaultSynBudget is --syn-budget: stack.SynGuardConfig's default Budget.
const defaultSynBudget = 20000

// defaultRelease is --release-idle: after a burst of connections ends, a
// quiet second gives the Go heap's free memory back to the system
// (netspec.Options.ReleaseMemory), so RSS follows the connections still
// open (docs/robustness.md: RSS after the churn of 50,000 connections
// beside 10,000 held ones).
const defaultRelease = time.Second

// autoLoops is --loops 0: one event loop per core (runtime.NumCPU), or
// one where several cannot run (a TAP device, a capture, --faults).
func (cfg serveConfig) autoLoops() int {
	switch {
	case cfg.loops != 0: // a negative number goes to netspec.Check
		return cfg.loops
	case cfg.driver == netspec.DriverTAP || cfg.pcap != "" || cfg.faults != nil:
		return 1
	}
	return min(runtime.NumCPU(), netspec.MaxLoops)
}

// errHelp means -h was given; usage went to stdout.
var errHelp = errors.New("help requested")

// portFlag is a flag holding a TCP/UDP port; it remembers whether it was set.
type portFlag struct {
	set  bool
	port uint16
	name string
	err  error // deferred so errors come out in our one-line format
}

func (p *portFlag) String() string {
	if p == nil || !p.set {
		return ""
	}
	return strconv.Itoa(int(p.port))
}

func (p *portFlag) Set(s string) error {
	p.set = true
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		p.err = usagef("--%s: bad port %q: not a number", p.name, s)
	case n < 1 || n > 65535:
		p.err = usagef("--%s: bad port %d: want 1..65535", p.name, n)
	default:
		p.port = uint16(n)
	}
	return nil
}

// parseServe parses and checks the serve flags without touching the system.
func parseServe(args []string, stdout io.Writer) (serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		cfg                              serveConfig
		addr, mac, gateway, faults       string
		profile, ecn                     string
		ttl                              int
		httpP, echoP, discardP, udpEchoP = portFlag{name: "http"}, portFlag{name: "echo"}, portFlag{name: "discard"}, portFlag{name: "udp-echo"}
		metricsP                         = portFlag{name: "metrics"}
	)
	fs.StringVar(&cfg.iface, "iface", "", "network interface to run on (AF_PACKET), or TAP device to open or create (--driver tap)")
	fs.StringVar(&addr, "addr", "", "our IPv4 address and prefix, e.g. 198.18.0.2/24")
	fs.StringVar(&mac, "mac", "", "our MAC address (default: the interface's; with --driver tap a random local one)")
	fs.StringVar(&cfg.driver, "driver", "afpacket", "link driver: afpacket or tap")
	fs.StringVar(&gateway, "gateway", "", "next hop for destinations outside --addr's prefix (default none: on-link only)")
	fs.Var(&httpP, "http", "serve HTTP on `PORT`")
	fs.StringVar(&cfg.root, "root", "", "serve this directory over HTTP instead of the demo site")
	fs.Var(&echoP, "echo", "serve TCP echo on `PORT`")
	fs.Var(&discardP, "discard", "serve TCP discard on `PORT`")
	fs.Var(&udpEchoP, "udp-echo", "serve UDP echo on `PORT` (RFC 862)")
	fs.StringVar(&cfg.pcap, "pcap", "", "capture every frame received and sent to `FILE` (pcapng, each frame marked inbound or outbound)")
	fs.Var(&cfg.trace, "trace", "print one line per received frame: the layers, the spec row that decided it (spec line, RFC clause) or the drop reason, what was sent; an optional `FILTER` (drops, port N, host ADDR, tcp, udp, icmp, arp, ADDR:PORT>ADDR:PORT; joined by \"and\") selects frames")
	fs.StringVar(&cfg.traceJSON, "trace-json", "", "write every received frame's journey (the --trace filter applies) to `FILE` as JSON lines")
	fs.StringVar(&cfg.history, "history", "", "record a linearizability history of every TCP call to `FILE` (check it with hist check)")
	fs.StringVar(&profile, "profile", tcp.DefaultProfile.String(), "behavioural profile of spec/tcp.fsm: "+profileNames()+" (linux: as Linux; rfc9293: strict RFC 9293)")
	fs.StringVar(&ecn, "ecn", tcp.ECNAccept.String(), "explicit congestion notification (RFC 3168): accept (when the peer asks, as Linux), on (also ask), off")
	fs.IntVar(&ttl, "ttl", 64, "time to live of the datagrams we send (1..255)")
	fs.Var(&metricsP, "metrics", "serve Prometheus metrics at http://ADDR:`PORT`/metrics on netspec's own address")
	fs.StringVar(&cfg.metricsAt, "metrics-listen", "", "also serve the metrics on a kernel socket at `ADDR:PORT` (e.g. 127.0.0.1:9100)")
	fs.StringVar(&cfg.cpuprof, "cpuprofile", "", "write a Go CPU profile of the whole run to `FILE` (view with go tool pprof)")
	fs.DurationVar(&cfg.drain, "drain", defaultDrain, "on SIGINT/SIGTERM, let open connections finish for up to `D`, then reset the rest (0: at once)")
	fs.DurationVar(&cfg.release, "release-idle", defaultRelease, "after traffic, once the link was quiet for `D`, give the Go heap's free memory back to the system (0: never; leave it to GOMEMLIMIT and the runtime)")
	fs.StringVar(&faults, "faults", "", "testing only: impair the link with `SPEC`, e.g. loss=0.01,dup=0.01,reorder=0.01,corrupt=0.001,txloss=0.01,seed=1 (driver/pipe.Faults: per-frame probabilities on what we receive; txloss on what we send)")
	fs.IntVar(&cfg.loops, "loops", 0, "run `N` event loops, each with its own stack on an AF_PACKET socket of one fanout group, sharing the connections by flow (0: one per core, or one with --driver tap, --pcap or --faults)")
	fs.IntVar(&cfg.synBudget, "syn-budget", defaultSynBudget, "under a SYN flood, the SYNs/s from sources with no recent connection each loop lets in, per class of source (on-link, off-link); a filter in the kernel drops the rest (0: no filter; docs/robustness.md)")
	fs.BoolVar(&cfg.lab, "lab", false, "create the test lab, serve in its server namespace, remove it on exit")
	fs.StringVar(&cfg.labPrefix, "lab-prefix", "", "name prefix of the lab's namespaces (default netspec)")
	if err := fs.Parse(joinTraceArg(args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return cfg, errHelp
		}
		return cfg, usageError{"serve: " + err.Error()}
	}
	if fs.NArg() > 0 {
		return cfg, usagef("serve: unexpected argument %q", fs.Arg(0))
	}
	if _, err := stack.ParseTraceFilter(cfg.trace.filter); err != nil {
		return cfg, usagef("--trace: %v", err)
	}
	for _, p := range []*portFlag{&httpP, &echoP, &discardP, &udpEchoP, &metricsP} {
		if p.err != nil {
			return cfg, p.err
		}
	}

	// Interface and address.
	switch {
	case cfg.lab && cfg.iface != "":
		return cfg, usagef("--iface: not allowed with --lab (the lab chooses the interface)")
	case !cfg.lab && cfg.iface == "":
		return cfg, usagef("--iface: required (or --lab)")
	case !cfg.lab && cfg.labPrefix != "":
		return cfg, usagef("--lab-prefix: only with --lab")
	}
	if cfg.iface != "" && (len(cfg.iface) > 15 || strings.ContainsAny(cfg.iface, "/ \t\n")) {
		return cfg, usagef("--iface: bad interface name %q", cfg.iface)
	}
	if addr == "" && cfg.lab {
		addr = "198.18.0.2/24"
	}
	var err error
	if cfg.addr, err = parseAddr(addr); err != nil {
		return cfg, err
	}
	if mac != "" {
		if cfg.mac, err = parseMAC(mac); err != nil {
			return cfg, err
		}
	}
	if gateway != "" {
		if cfg.gateway, err = netip.ParseAddr(gateway); err != nil {
			return cfg, usagef("--gateway: bad address %q", gateway)
		}
	}
	// The library's own check of the address, MAC, gateway and driver: the
	// command accepts exactly what netspec.New accepts.
	if faults != "" && cfg.loops > 1 {
		return cfg, usagef("--loops: %d loops with --faults: the faults impair one link", cfg.loops)
	}
	opts := cfg.options(nil)
	if mac != "" {
		opts.MAC = net.HardwareAddr(cfg.mac[:]) // even all zeros, to be refused
	}
	if cfg.pcap != "" {
		opts.Pcap = io.Discard // for the check of --loops
	}
	if err := netspec.Check(cfg.addr, opts); err != nil {
		var ce *netspec.ConfigError
		if errors.As(err, &ce) {
			return cfg, usagef("--%s: %v", ce.Field, ce.Err)
		}
		return cfg, usageError{err.Error()}
	}
	p, ok := tcp.ParseProfile(profile)
	if !ok {
		return cfg, usagef("--profile: unknown profile %q (want %s)", profile, profileNames())
	}
	cfg.profile = p
	e, ok := tcp.ParseECNMode(ecn)
	if !ok {
		return cfg, usagef("--ecn: unknown mode %q (want accept, on or off)", ecn)
	}
	cfg.ecn = e
	if ttl < 1 || ttl > 255 {
		return cfg, usagef("--ttl: %d out of range 1..255", ttl)
	}
	cfg.ttl = uint8(ttl)
	if faults != "" {
		f, err := parseFaults(faults)
		if err != nil {
			return cfg, err
		}
		cfg.faults = &f
	}
	if cfg.release < 0 {
		return cfg, usagef("--release-idle: %v is negative", cfg.release)
	}
	if cfg.drain < 0 {
		return cfg, usagef("--drain: %v is negative", cfg.drain)
	}

	// Features that do not exist yet are refused, never silently ignored.

	// Services: with none named, HTTP on port 80 (--root alone implies HTTP too).
	if httpP.set {
		cfg.services = append(cfg.services, service{"http", httpP.port, "--http"})
	} else if cfg.root != "" || (!echoP.set && !discardP.set && !udpEchoP.set) {
		cfg.services = append(cfg.services, service{"http", 80, "--http (default)"})
	}
	if echoP.set {
		cfg.services = append(cfg.services, service{"echo", echoP.port, "--echo"})
	}
	if discardP.set {
		cfg.services = append(cfg.services, service{"discard", discardP.port, "--discard"})
	}
	if udpEchoP.set {
		cfg.services = append(cfg.services, service{"udp-echo", udpEchoP.port, "--udp-echo"})
	}
	for i, s := range cfg.services {
		for _, t := range cfg.services[:i] {
			if s.port == t.port && (s.kind == "udp-echo") == (t.kind == "udp-echo") {
				return cfg, usagef("%s: port %d already used by %s", s.flag, s.port, t.flag)
			}
		}
	}
	if metricsP.set {
		for _, s := range cfg.services {
			if s.port == metricsP.port && s.kind != "udp-echo" {
				return cfg, usagef("--metrics: port %d already used by %s", s.port, s.flag)
			}
		}
		cfg.metrics = metricsP.port
	}
	return cfg, nil
}

// parseAddr parses an --addr value: an address with its prefix length
// (netspec.Check then checks it is an IPv4 unicast host address).
func parseAddr(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, usagef("--addr: required, e.g. 198.18.0.2/24")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if _, aerr := netip.ParseAddr(s); aerr == nil {
			return p, usagef("--addr: %q has no prefix length, e.g. %s/24", s, s)
		}
		return p, usagef("--addr: bad address/prefix %q", s)
	}
	return p, nil
}

// parseFaults parses a --faults value: comma-separated KEY=VALUE with the
// keys loss, dup, reorder, corrupt, txloss (probabilities in [0,1]) and
// seed (an integer).
func parseFaults(s string) (pipe.Faults, error) {
	var f pipe.Faults
	probs := map[string]*float64{"loss": &f.Loss, "dup": &f.Duplicate, "reorder": &f.Reorder, "corrupt": &f.Corrupt, "txloss": &f.TxLoss}
	for kv := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return f, usagef("--faults: %q is not KEY=VALUE", kv)
		}
		if k == "seed" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return f, usagef("--faults: seed %q is not a number", v)
			}
			f.Seed = n
			continue
		}
		p, known := probs[k]
		if !known {
			return f, usagef("--faults: unknown key %q (want loss, dup, reorder, corrupt, txloss or seed)", k)
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < 0 || x > 1 {
			return f, usagef("--faults: %s=%s: want a probability in [0,1]", k, v)
		}
		*p = x
	}
	return f, nil
}

// parseMAC parses a --mac value (netspec.Check then checks it is unicast).
func parseMAC(s string) (wire.MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return wire.MAC{}, usagef("--mac: bad MAC address %q (want xx:xx:xx:xx:xx:xx)", s)
	}
	return wire.MAC(hw), nil
}

// checkServeSystem runs the checks that look at the system, in order: the root
// directory, privileges, then the interface (before any socket is opened).
func checkServeSystem(e env, cfg serveConfig) error {
	if cfg.root != "" {
		if err := e.isDir(cfg.root); err != nil {
			return usagef("--root: %s: %v", cfg.root, unwrapPathErr(err))
		}
	}
	if e.geteuid() != 0 {
		if cfg.driver == "tap" {
			return usagef("serve: must run as root (TAP devices need CAP_NET_ADMIN)")
		}
		return usagef("serve: must run as root (AF_PACKET sockets need CAP_NET_RAW)")
	}
	// A missing TAP device is created, so only AF_PACKET needs it to exist.
	if !cfg.lab && cfg.driver != "tap" {
		if err := e.ifaceOK(cfg.iface); err != nil {
			return usagef("--iface: no such interface %q", cfg.iface)
		}
	}
	return nil
}

// unwrapPathErr drops the *fs.PathError prefix (the path is already printed).
func unwrapPathErr(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// profileNames lists the profiles of spec/tcp.fsm: "linux or rfc9293".
func profileNames() string {
	names := make([]string, 0, tcp.NumProfiles)
	for p := tcp.Profile(0); p < tcp.NumProfiles; p++ {
		names = append(names, p.String())
	}
	return strings.Join(names, " or ")
}
