// Command netspec runs the netspec user-space TCP/IP stack on a network
// interface and serves HTTP, echo and discard over it; it also manages the
// test lab.
//
//	netspec serve --iface IF --addr 198.18.0.2/24 [--mac MAC] [--driver afpacket|tap]
//	              [--gateway ADDR] [--http PORT] [--root DIR] [--echo PORT] [--discard PORT]
//	netspec serve --lab [--addr ...] [service flags]
//	netspec lab up | down | status [--prefix P] [--driver afpacket|tap]
//	netspec stat [--iface IF] [--json]
//	netspec ss [--iface IF] [--json]
//	netspec diagram tcp|ipv4|frag|arp [--format dot|svg|mermaid]
//	netspec check
//	netspec hist check FILE... [--html OUT] [--timeout D]
//
// On SIGINT or SIGTERM serve stops listening at once, lets open connections
// finish for up to --drain (default 10s), resets the rest and exits 0.
//
// Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 for bad arguments,
// 1 for a runtime failure; each failure prints one line starting "netspec: ".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/netspec/netspec/driver/lab"
)

// Exit codes of the command-line contract (see /work/shared/design.md).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const usage = `usage:
  netspec serve --iface IF --addr 198.18.0.2/24 [--mac MAC] [--driver afpacket|tap]
                [--gateway ADDR] [--http PORT] [--root DIR] [--echo PORT] [--discard PORT]
                [--udp-echo PORT] [--pcap FILE] [--trace [FILTER]] [--trace-json FILE] [--history FILE] [--profile linux|rfc9293]
                [--ecn accept|on|off] [--ttl N] [--metrics PORT] [--metrics-listen ADDR:PORT]
                [--drain D] [--release-idle D] [--loops N] [--syn-budget N]
  netspec serve --lab [--lab-prefix P] [--driver afpacket|tap] [--addr A/N] [service flags]
  netspec lab up|down|status [--prefix P] [--driver afpacket|tap]
  netspec stat [--iface IF] [--json]   counters of a running server, like netstat -s
  netspec ss [--iface IF] [--json]     its TCP sockets, like ss -tani
  netspec diagram tcp|ipv4|frag|arp [--format dot|svg|mermaid]
  netspec check
  netspec hist check FILE... [--html OUT] [--timeout D]
`

// env is what run needs from the system; tests replace it.
type env struct {
	geteuid   func() int
	ifaceOK   func(name string) error
	isDir     func(path string) error
	signalCtx func() (context.Context, context.CancelFunc)
	serve     func(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer) int
	lab       func(cmd string, cfg lab.Config, stdout io.Writer) error
}

func defaultEnv() env {
	return env{
		geteuid: os.Geteuid,
		ifaceOK: func(name string) error {
			_, err := net.InterfaceByName(name)
			return err
		},
		isDir: func(path string) error {
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			if !fi.IsDir() {
				return errors.New("not a directory")
			}
			return nil
		},
		signalCtx: func() (context.Context, context.CancelFunc) {
			return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		},
		serve: serve,
		lab:   labCmd,
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return runEnv(defaultEnv(), args, stdout, stderr)
}

// usageError is a bad-argument failure (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// fail prints the one-line reason and returns the exit code for err.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "netspec: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

func runEnv(e env, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		cfg, err := parseServe(rest, stdout)
		if errors.Is(err, errHelp) {
			return exitOK
		}
		if err == nil {
			err = checkServeSystem(e, cfg)
		}
		if err != nil {
			return fail(stderr, err)
		}
		ctx, cancel := e.signalCtx()
		defer cancel()
		return e.serve(ctx, cfg, stdout, stderr)
	case "lab":
		return runLab(e, rest, stdout, stderr)
	case "stat", "ss":
		return runObserve(cmd, rest, stdout, stderr)
	case "diagram":
		return runDiagram(rest, stdout, stderr)
	case "check":
		return runCheck(rest, stdout, stderr)
	case "hist":
		return runHist(rest, stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		return fail(stderr, usagef("unknown command %q (want serve, lab, stat, ss, diagram, check or hist)", cmd))
	}
}
