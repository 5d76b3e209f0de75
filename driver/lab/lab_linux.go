//go:build linux

package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// NetnsDir is where iproute2 keeps the bind mounts of named namespaces (one
// file per namespace name).
const NetnsDir = "/run/netns"

// Up creates the lab described by cfg: first it removes leftovers with the same
// names, then it creates both namespaces, disables IPv6 on the server side (and
// on the client side unless cfg.ClientIPv6), creates the veth pair directly
// inside the namespaces (nothing is created in the caller's namespace),
// addresses the client end and sets every link up. On failure it removes what
// it created.
func Up(cfg Config) (*Lab, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &Lab{cfg: cfg}
	if err := l.Down(); err != nil {
		return nil, fmt.Errorf("lab: up: remove stale lab: %w", err)
	}
	if err := l.up(); err != nil {
		_ = l.Down()
		return nil, err
	}
	return l, nil
}

func (l *Lab) up() error {
	cli, srv := l.ClientNS(), l.ServerNS()
	steps := [][]string{
		{"netns", "add", cli},
		{"netns", "add", srv},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	// Disable IPv6 before the veth exists, so it is born without IPv6 ("default").
	if err := runInNS(srv, disableIPv6); err != nil {
		return fmt.Errorf("lab: up: %s: %w", srv, err)
	}
	if !l.cfg.ClientIPv6 {
		if err := runInNS(cli, disableIPv6); err != nil {
			return fmt.Errorf("lab: up: %s: %w", cli, err)
		}
	}
	steps = [][]string{
		{"-n", cli, "link", "add", ClientIface, "type", "veth", "peer", "name", ServerIface, "netns", srv},
		{"-n", cli, "addr", "add", clientAddr.String(), "dev", ClientIface},
		{"-n", cli, "link", "set", "lo", "up"},
		{"-n", srv, "link", "set", "lo", "up"},
		{"-n", cli, "link", "set", ClientIface, "up"},
		{"-n", srv, "link", "set", ServerIface, "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	if l.cfg.ClientTxOffloadOff {
		if err := run("ip", "netns", "exec", cli, "ethtool", "-K", ClientIface, "tx", "off"); err != nil {
			return err
		}
	}
	if err := waitOperational(cli, ClientIface); err != nil {
		return err
	}
	if err := waitOperational(srv, ServerIface); err != nil {
		return err
	}
	if l.cfg.Driver == DriverTAP {
		return l.upTAP()
	}
	return nil
}

// waitOperational waits until the link is operationally up and has its real
// qdisc. The kernel activates a link asynchronously (linkwatch, up to a second
// after carrier-on); until then the "noop" qdisc silently discards every
// frame sent, which would make the first frames of a test vanish.
func waitOperational(ns, iface string) error {
	const limit = 5 * time.Second
	var last string
	for start := time.Now(); time.Since(start) < limit; time.Sleep(5 * time.Millisecond) {
		out, err := output("ip", "-n", ns, "-o", "link", "show", "dev", iface)
		if err != nil {
			return err
		}
		last = strings.TrimSpace(out)
		if strings.Contains(last, "state UP") && !strings.Contains(last, "qdisc noop") {
			return nil
		}
	}
	return fmt.Errorf("lab: %s in %s not operational after %v: %s", iface, ns, limit, last)
}

// disableIPv6 turns IPv6 off in the calling thread's network namespace
// (net.ipv6.conf.{all,default}.disable_ipv6 = 1).
func disableIPv6() error {
	for _, p := range []string{"all", "default"} {
		name := "/proc/sys/net/ipv6/conf/" + p + "/disable_ipv6"
		if err := os.WriteFile(name, []byte("1\n"), 0o644); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // kernel without IPv6
			}
			return fmt.Errorf("disable ipv6: %w", err)
		}
	}
	return nil
}

// Down removes the lab's namespaces (and with them the veth pair). It is
// idempotent: missing namespaces are not an error.
func (l *Lab) Down() error {
	var errs []error
	for _, ns := range []string{l.ClientNS(), l.ServerNS()} {
		if !nsExists(ns) {
			continue
		}
		if err := ip("netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Down removes the lab named by cfg, if present.
func Down(cfg Config) error { return (&Lab{cfg: cfg}).Down() }

// Status describes the lab named by cfg: for each namespace whether it exists
// and, if so, its links and addresses.
func Status(cfg Config) (string, error) {
	var b strings.Builder
	for _, ns := range []string{cfg.ClientNSName(), cfg.ServerNSName()} {
		if !nsExists(ns) {
			fmt.Fprintf(&b, "%s: absent\n", ns)
			continue
		}
		out, err := output("ip", "-n", ns, "-br", "addr")
		if err != nil {
			return b.String(), err
		}
		fmt.Fprintf(&b, "%s: present\n", ns)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	return b.String(), nil
}

// RunInServerNS runs fn on a locked OS thread switched into the server
// namespace, then switches back. Sockets fn opens (an AF_PACKET link) stay in
// the server namespace for their whole life. Goroutines fn starts do not
// inherit the namespace.
func (l *Lab) RunInServerNS(fn func() error) error { return runInNS(l.ServerNS(), fn) }

// RunInClientNS is RunInServerNS for the client namespace.
func (l *Lab) RunInClientNS(fn func() error) error { return runInNS(l.ClientNS(), fn) }

// ClientCmd returns a command that runs name in the client namespace
// (through "ip netns exec").
func (l *Lab) ClientCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ClientNS(), name}, args...)...)
}

// runInNS runs fn with the calling goroutine locked to a thread that has
// joined the named network namespace.
func runInNS(ns string, fn func() error) (err error) {
	target, err := os.Open(filepath.Join(NetnsDir, ns))
	if err != nil {
		return fmt.Errorf("lab: enter %s: %w", ns, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("lab: enter %s: %w", ns, err)
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("lab: setns %s: %w", ns, err)
	}
	defer func() {
		if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr != nil {
			// Leave the thread locked: the runtime discards it when the
			// goroutine exits instead of reusing a thread in the wrong namespace.
			err = errors.Join(err, fmt.Errorf("lab: restore namespace after %s: %w", ns, rerr))
			return
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

func nsExists(ns string) bool {
	_, err := os.Stat(filepath.Join(NetnsDir, ns))
	return err == nil
}

func ip(args ...string) error { return run("ip", args...) }

func run(name string, args ...string) error {
	_, err := output(name, args...)
	return err
}

// output runs a command and returns its stdout; the error carries the command
// line and its stderr.
func output(name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("lab: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
