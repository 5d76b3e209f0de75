package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/netspec/netspec/driver/lab"
)

// runLab handles "netspec lab up|down|status [--prefix P] [--driver D]".
func runLab(e env, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return fail(stderr, usagef("lab: want up, down or status"))
	}
	cmd := args[0]
	switch cmd {
	case "up", "down", "status":
	default:
		return fail(stderr, usagef("lab: unknown command %q (want up, down or status)", cmd))
	}
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	prefix := fs.String("prefix", "", "name prefix of the namespaces (default netspec)")
	drv := fs.String("driver", "afpacket", "build the lab for this link driver: afpacket (veth) or tap (TAP device bridged to the veth)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		return fail(stderr, usagef("lab: %v", err))
	}
	if fs.NArg() > 0 {
		return fail(stderr, usagef("lab %s: unexpected argument %q", cmd, fs.Arg(0)))
	}
	if *drv != lab.DriverAFPacket && *drv != lab.DriverTAP {
		return fail(stderr, usagef("lab: --driver: unknown driver %q (want afpacket or tap)", *drv))
	}
	if e.geteuid() != 0 {
		return fail(stderr, usagef("lab: must run as root (it creates network namespaces)"))
	}
	if err := e.lab(cmd, lab.Config{Prefix: *prefix, Driver: *drv}, stdout); err != nil {
		return fail(stderr, fmt.Errorf("lab %s: %w", cmd, err))
	}
	return exitOK
}

// labCmd runs a lab command against the system.
func labCmd(cmd string, cfg lab.Config, stdout io.Writer) error {
	switch cmd {
	case "up":
		l, err := lab.Up(cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "lab up: client %s (%s, %s), server %s (%s, netspec %s)\n",
			l.ClientNS(), l.ClientIface(), l.ClientAddr(), l.ServerNS(), l.ServerIface(), l.ServerAddr())
		return nil
	case "down":
		if err := lab.Down(cfg); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "lab down")
		return nil
	default:
		s, err := lab.Status(cfg)
		fmt.Fprint(stdout, s)
		return err
	}
}
