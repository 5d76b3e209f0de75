package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Names of the middle namespace's devices (-loss-at bridge).
const (
	midClient = "mid-cli0" // the veth end facing the client
	midServer = "mid-srv0" // the veth end facing the server
	midBridge = "mid-br0"
)

// midNS names the middle namespace of e's lab.
func (e *env) midNS() string { return e.lab.Config().Prefix + "-mid" }

// bridgeLab puts a third namespace between client and server: the lab's
// veth pair is replaced by two pairs joined by a bridge in the middle
// namespace, where the loss rules drop frames on their way through. A drop
// there is a loss on the wire for both TCPs, whichever way the frame goes;
// the addresses, the interface names inside the lab's namespaces and the
// one-segment frames (offloads off on every veth) stay as in the lab.
func (e *env) bridgeLab(ctx context.Context) error {
	cli, srv, mid := e.lab.ClientNS(), e.lab.ServerNS(), e.midNS()
	cif, sif := e.lab.ClientIface(), e.lab.ServerIface()
	steps := [][]string{
		{"ip", "netns", "add", mid},
		{"ip", "netns", "exec", mid, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"},
		{"ip", "-n", cli, "link", "del", cif}, // takes its peer in srv along
		{"ip", "-n", mid, "link", "add", midClient, "type", "veth", "peer", "name", cif, "netns", cli},
		{"ip", "-n", mid, "link", "add", midServer, "type", "veth", "peer", "name", sif, "netns", srv},
		{"ip", "-n", mid, "link", "add", midBridge, "type", "bridge"},
		{"ip", "-n", mid, "link", "set", midClient, "master", midBridge},
		{"ip", "-n", mid, "link", "set", midServer, "master", midBridge},
		{"ip", "-n", cli, "addr", "add", "198.18.0.1/24", "dev", cif},
	}
	for _, dev := range []string{midClient, midServer, midBridge} {
		steps = append(steps, []string{"ip", "-n", mid, "link", "set", dev, "up"})
	}
	steps = append(steps, []string{"ip", "-n", cli, "link", "set", cif, "up"}, []string{"ip", "-n", srv, "link", "set", sif, "up"})
	for _, dev := range []string{midClient, midServer} {
		steps = append(steps, []string{"ip", "netns", "exec", mid, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"})
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

// dropBridge removes the middle namespace (with its veth ends, which takes
// the lab's ends along).
func (e *env) dropBridge() error {
	if out, err := exec.Command("ip", "netns", "del", e.midNS()).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such file") {
		return fmt.Errorf("ip netns del %s: %v: %s", e.midNS(), err, out)
	}
	return nil
}
