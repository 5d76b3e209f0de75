//go:build linux

package lab

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// upTAP builds the server side of the TAP variant: a persistent TAP device
// (nobody attached yet, so no carrier) and a bridge joining it to the veth
// end. Neither has an IPv4 address, and IPv6 is off in the namespace, so the
// kernel stays silent on the link and only netspec answers 198.18.0.2.
// Spanning tree is off: a port forwards as soon as it has carrier, which the
// TAP device gets when netspec attaches.
func (l *Lab) upTAP() error {
	srv := l.ServerNS()
	steps := [][]string{
		{"-n", srv, "link", "add", BridgeIface, "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		{"-n", srv, "tuntap", "add", "dev", TAPIface, "mode", "tap"},
		{"-n", srv, "link", "set", TAPIface, "master", BridgeIface},
		{"-n", srv, "link", "set", ServerIface, "master", BridgeIface},
		{"-n", srv, "link", "set", TAPIface, "up"},
		{"-n", srv, "link", "set", BridgeIface, "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	return waitOperational(srv, BridgeIface)
}

// WaitServerIface waits until the interface netspec opened (ServerIface) is
// operational. In the TAP variant the device gets its carrier when netspec
// attaches and the kernel activates it asynchronously; until then frames
// sent to it are lost. Call it after opening the link; for the veth lab it
// returns at once.
func (l *Lab) WaitServerIface() error {
	if l.cfg.Driver == DriverTAP {
		return waitCarrier(l.ServerNS(), l.ServerIface())
	}
	return waitOperational(l.ServerNS(), l.ServerIface())
}

// waitCarrier waits until the link is up with carrier (LOWER_UP) and has its
// real qdisc. A TAP device reports no operational state ("state UNKNOWN"),
// so waitOperational's test does not apply; carrier comes when a reader
// attaches.
func waitCarrier(ns, iface string) error {
	const limit = 5 * time.Second
	var last string
	for start := time.Now(); time.Since(start) < limit; time.Sleep(5 * time.Millisecond) {
		out, err := output("ip", "-n", ns, "-o", "link", "show", "dev", iface)
		if err != nil {
			return err
		}
		last = strings.TrimSpace(out)
		flags, _, _ := strings.Cut(last, ">")
		if strings.Contains(flags, ",UP") && strings.Contains(flags, "LOWER_UP") && !strings.Contains(last, "qdisc noop") {
			return nil
		}
	}
	return fmt.Errorf("lab: %s in %s has no carrier after %v: %s", iface, ns, limit, last)
}

// Namespace is a bare network namespace (see NewNamespace): loopback up,
// IPv6 disabled, nothing else. Tests make one each with
// labtest.NamespaceForTest.
type Namespace struct {
	name string
}

// NewNamespace creates a network namespace called name (replacing a stale
// one of that name) with loopback up and IPv6 disabled. On failure it removes
// what it created. Remove deletes it.
func NewNamespace(name string) (*Namespace, error) {
	n := &Namespace{name: name}
	if nsExists(name) {
		_ = ip("netns", "del", name)
	}
	if err := ip("netns", "add", name); err != nil {
		return nil, err
	}
	if err := runInNS(name, disableIPv6); err != nil {
		_ = n.Remove()
		return nil, fmt.Errorf("lab: %s: %w", name, err)
	}
	if err := ip("-n", name, "link", "set", "lo", "up"); err != nil {
		_ = n.Remove()
		return nil, err
	}
	return n, nil
}

// Remove deletes the namespace and every device in it.
func (n *Namespace) Remove() error { return ip("netns", "del", n.name) }

// Name returns the namespace's name.
func (n *Namespace) Name() string { return n.name }

// Run runs fn on a locked OS thread switched into the namespace (as
// Lab.RunInServerNS does).
func (n *Namespace) Run(fn func() error) error { return runInNS(n.name, fn) }

// Cmd returns a command that runs name in the namespace (through "ip netns
// exec").
func (n *Namespace) Cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

// WaitCarrier waits until iface in the namespace is up with carrier and its
// real qdisc (see Lab.WaitServerIface).
func (n *Namespace) WaitCarrier(iface string) error { return waitCarrier(n.name, iface) }
