package handler

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
)

// Flags is the command line of the user-space stacks' servers
// (bench/netspecsrv, bench/gvisorsrv).
type Flags struct {
	Iface      string       // --iface: the interface to open
	Addr       netip.Prefix // --addr: the stack's IPv4 address and prefix
	Port       int          // --port: the HTTP port
	CPUProfile string       // --cpuprofile: where Serve writes the profile
}

// ParseFlags parses os.Args for the server called name; it exits 2 with a
// message on a bad command line.
func ParseFlags(name string) Flags {
	iface := flag.String("iface", "", "interface to open (AF_PACKET)")
	addr := flag.String("addr", "198.18.0.2/24", "the stack's address and prefix")
	port := flag.Int("port", 80, "HTTP port")
	prof := flag.String("cpuprofile", "", "write a CPU profile to `FILE`")
	flag.Parse()
	p, err := netip.ParsePrefix(*addr)
	if err != nil || *iface == "" || !p.Addr().Is4() || *port < 1 || *port > 65535 {
		fmt.Fprintf(os.Stderr, "%s: want --iface NAME --addr A.B.C.D/N [--port P] [--cpuprofile FILE]\n", name)
		os.Exit(2)
	}
	return Flags{Iface: *iface, Addr: p, Port: *port, CPUProfile: *prof}
}

// Exit reports err for the server called name and exits 1 (0 if err is nil).
func Exit(name string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}
