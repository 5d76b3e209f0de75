package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/netspec/netspec/driver/observe"
)

// runObserve is `netspec stat [--iface IF] [--json]` (the counters of a
// running server, grouped like netstat -s, and the spec rows that fired)
// and `netspec ss [--iface IF] [--json]` (its TCP sockets, like ss -tani).
// The server is reached through its control socket,
// /run/netspec/netns-INODE/IFACE.sock ($NETSPEC_RUN_DIR overrides the directory);
// without --iface the only server running is chosen.
func runObserve(cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	iface := fs.String("iface", "", "the interface of the server to read (default: the only one running)")
	asJSON := fs.Bool("json", false, "print JSON for tools instead of text")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return fail(stderr, usagef("%s: %v", cmd, err))
	}
	if fs.NArg() > 0 {
		return fail(stderr, usagef("%s: unexpected argument %q", cmd, fs.Arg(0)))
	}
	path, err := controlPath(*iface)
	if err != nil {
		return fail(stderr, err)
	}
	snap, err := observe.Fetch(path)
	if err != nil {
		return fail(stderr, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if cmd == "ss" {
			err = enc.Encode(struct {
				Addr    string           `json:"addr"`
				Sockets []observe.Socket `json:"sockets"`
			}{snap.Addr, snap.Sockets})
		} else {
			snap.Sockets = nil
			err = enc.Encode(snap)
		}
	} else if cmd == "ss" {
		err = observe.WriteSS(stdout, snap)
	} else {
		err = observe.WriteStat(stdout, snap)
	}
	if err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

// controlPath returns the control socket of the server on iface, or of the
// only server running when iface is empty. A server in this network
// namespace comes first; otherwise one in any other namespace (a lab's
// server, reached from the host) when only one matches.
func controlPath(iface string) (string, error) {
	if iface != "" {
		if p := observe.SocketPath(iface); fileExists(p) {
			return p, nil
		}
	}
	all, err := observe.Servers()
	if err != nil {
		return "", err
	}
	var match []observe.Server
	for _, s := range all {
		if iface == "" || s.Iface == iface || s.Name() == iface {
			match = append(match, s)
		}
	}
	switch len(match) {
	case 0:
		if iface != "" {
			return observe.SocketPath(iface), nil // Fetch says no server runs there
		}
		return "", fmt.Errorf("%w (no control socket in %s)", observe.ErrNoServer, observe.RunDir())
	case 1:
		return match[0].Path, nil
	}
	names := make([]string, len(match))
	for i, s := range match {
		names[i] = s.Name()
	}
	return "", usagef("several servers run (on %s): choose one with --iface", strings.Join(names, ", "))
}

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
