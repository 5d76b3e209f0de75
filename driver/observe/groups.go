package observe

import (
	"strconv"
	"strings"
)

// Groups are the netstat -s groups in the order `netspec stat` prints them.
var Groups = []string{"Link", "Arp", "Ip", "Reasm", "Icmp", "Tcp", "TcpExt", "Udp", "Loop", "Runtime"}

// groupRules map counter-name prefixes to groups; the first match wins.
var groupRules = []struct{ prefix, group string }{
	{"link.drop.arp_", "Arp"},
	{"arp.", "Arp"},
	{"stack.ARP", "Arp"},
	{"link.", "Link"},
	{"stack.FramesIn", "Link"},
	{"stack.PacketsOut", "Link"},
	{"stack.OutputDrops", "Link"},
	{"stack.GSO", "Link"},
	{"stack.VLAN", "Link"},
	{"ip.frag.", "Reasm"},
	{"ip.Fragments", "Reasm"},
	{"ip.Reassembled", "Reasm"},
	{"ip.", "Ip"},
	{"stack.IP", "Ip"},
	{"stack.ICMP", "Icmp"},
	{"stack.PMTU", "Icmp"},
	{"stack.UDP", "Udp"},
	{"udp.", "Udp"},
	{"stack.TCP", "TcpExt"},
	{"loop.", "Loop"},
	{"afpacket.", "Link"},
	{"tap.", "Link"},
	{"go.", "Runtime"},
}

// tcpMIB are the TCP counters of the Tcp group: those of RFC 4022's MIB
// (netstat -s's "Tcp:"); every other tcp.* counter is TcpExt.
var tcpMIB = map[string]bool{
	"tcp.ActiveOpens": true, "tcp.PassiveOpens": true, "tcp.EstabResets": true, "tcp.Conns": true,
	"tcp.SegsIn": true, "tcp.SegsOut": true, "tcp.Retransmits": true, "tcp.RstsSent": true,
	"tcp.drop.Checksum": true, "tcp.drop.Malformed": true,
}

// gauges are the counters that are levels, not counts.
var gauges = map[string]bool{
	"tcp.Conns": true, "tcp.TimeWaitRecords": true, "tcp.OOOBytes": true, "tcp.BufGrown": true, "udp.Sockets": true,
	"tcp.RingsLent": true, "tcp.PoolBytes": true, "tcp.Timers": true,
	"ip.frag.HeldBytes": true, "ip.frag.Reassemblies": true,
	"go.Goroutines": true, "go.HeapBytes": true, "go.HeapObjects": true, "go.MappedBytes": true, "go.ReleasedBytes": true,
}

// Group returns the netstat -s group of a counter name, "Other" for a name
// no rule knows (a test keeps every counter of the stack out of it).
func Group(name string) string {
	if strings.HasPrefix(name, "tcp.") {
		if tcpMIB[name] {
			return "Tcp"
		}
		return "TcpExt"
	}
	for _, r := range groupRules {
		if strings.HasPrefix(name, r.prefix) {
			return r.group
		}
	}
	return "Other"
}

// IsGauge reports whether the counter name is a level (connections,
// sockets or octets held now) rather than a count of events.
func IsGauge(name string) bool { return gauges[name] }

func hostPort(host string, port uint16) string { return host + ":" + strconv.Itoa(int(port)) }
