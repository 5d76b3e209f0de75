package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/afpacket"
	"github.com/netspec/netspec/driver/history"
	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/netconn"
	"github.com/netspec/netspec/driver/pcap"
	"github.com/netspec/netspec/driver/tap"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// serve runs the stack until ctx ends (exit 0) or something fails (exit 1).
func serve(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if cfg.cpuprof != "" {
		stop, err := startCPUProfile(cfg.cpuprof)
		if err != nil {
			return fail(stderr, err)
		}
		defer stop(log)
	}
	var link driver.Link
	iface := cfg.iface
	if cfg.lab {
		lb, err := lab.Up(lab.Config{Prefix: cfg.labPrefix, Driver: cfg.driver})
		if err != nil {
			return fail(stderr, fmt.Errorf("lab up: %w", err))
		}
		defer func() {
			if err := lb.Down(); err != nil {
				log.Error("lab down failed", "err", err)
			}
		}()
		iface = lb.ServerIface()
		err = lb.RunInServerNS(func() error {
			var err error
			link, err = openLink(cfg, iface)
			return err
		})
		if err != nil {
			return fail(stderr, fmt.Errorf("open %s in %s: %w", iface, lb.ServerNS(), err))
		}
		// A TAP device gets its carrier only now; frames sent before the
		// kernel activates it would be lost.
		if err := lb.WaitServerIface(); err != nil {
			log.Warn("server interface not ready", "err", err)
		}
		log.Info("lab up", "server_ns", lb.ServerNS(), "client_ns", lb.ClientNS(), "client_addr", lb.ClientAddr(), "driver", lb.Driver())
	} else {
		l, err := openLink(cfg, iface)
		if err != nil {
			if errors.Is(err, afpacket.ErrNoInterface) {
				return fail(stderr, usagef("--iface: no such interface %q", iface))
			}
			if errors.Is(err, tap.ErrNotTAP) {
				return fail(stderr, usagef("--iface: %q is not a TAP device (--driver tap)", iface))
			}
			return fail(stderr, fmt.Errorf("open %s: %w", iface, err))
		}
		link = l
	}
	return runStack(ctx, cfg, iface, link, log, stderr, nil)
}

// openLink opens iface with cfg's driver in the calling thread's namespace.
func openLink(cfg serveConfig, iface string) (driver.Link, error) {
	if cfg.driver == "tap" {
		// The TAP device's own MAC is the kernel's side; netspec takes
		// --mac or a random locally administered address.
		l, err := tap.Open(iface, tap.Options{MAC: cfg.mac})
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	// The MAC override must see frames sent to it, not only to the interface.
	l, err := afpacket.Open(iface, afpacket.Options{Promisc: cfg.mac != (wire.MAC{})})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// runStack serves cfg's services over link until ctx ends. It owns link.
// serving, if not nil, is called once every listener is open.
func runStack(ctx context.Context, cfg serveConfig, iface string, link driver.Link, log *slog.Logger, stderr io.Writer, serving func()) int {
	mac := cfg.mac
	if mac == (wire.MAC{}) {
		mac = link.MAC()
	}
	if cfg.pcap != "" {
		capture, closeCapture, err := capturePcap(link, cfg.pcap)
		if err != nil {
			link.Close()
			return fail(stderr, err)
		}
		defer closeCapture(log)
		link = capture
	}
	if cfg.history != "" {
		hw, err := history.CreateFile(cfg.history)
		if err != nil {
			link.Close()
			return fail(stderr, err)
		}
		defer closeHistory(hw, cfg.history, log)
		cfg.rec = netconn.NewHistory(hw)
	}
	addr, _ := wire.AddrFrom(cfg.addr.Addr())
	st := stack.New(stack.Config{
		MAC:       mac,
		Addr:      addr,
		PrefixLen: cfg.addr.Bits(),
		MTU:       link.MTU(),
		Seed:      seed(),
		// Super-frames whenever the driver can hand them to the kernel.
		GSOMaxSize: driver.GSOMaxSize(link),
		TTL:        cfg.ttl,
		TCP:        tcp.Config{Profile: cfg.profile, ECN: cfg.ecn},
	})
	if cfg.trace {
		// Called from the event loop, inside the stack: one line per change.
		st.TCP().Trace = func(c *tcp.Conn, from, to tcp.State) {
			la, lp, ra, rp := c.Endpoints()
			log.Info("tcp state", "local", fmt.Sprintf("%v:%d", la, lp), "remote", fmt.Sprintf("%v:%d", ra, rp), "from", from.String(), "to", to.String())
		}
	}
	loop := driver.NewLoop(link, st, driver.LoopOptions{Logger: log})
	runErr := make(chan error, 1)
	go func() { runErr <- loop.Run(ctx) }()
	defer loop.Close()

	srv := newServer(loop, cfg, log)
	if err := srv.start(); err != nil {
		srv.stop()
		return fail(stderr, err)
	}
	defer srv.stop()

	names := make([]string, len(cfg.services))
	for i, s := range cfg.services {
		names[i] = fmt.Sprintf("%s/%d", s.kind, s.port)
	}
	content := "demo site"
	if cfg.root != "" {
		content = cfg.root
	}
	log.Info("netspec serving", "iface", iface, "addr", cfg.addr, "mac", mac,
		"services", strings.Join(names, ","), "http_content", content, "mtu", link.MTU())
	if serving != nil {
		serving()
	}

	select {
	case <-ctx.Done():
		srv.stop()
		loop.Close()
		<-runErr
		logStats(log, loop)
		return exitOK
	case err := <-runErr:
		if err == nil {
			err = errors.New("event loop stopped")
		}
		return fail(stderr, err)
	}
}

func logStats(log *slog.Logger, loop *driver.Loop) {
	s := loop.Stats()
	log.Info("netspec stopped", "rx_frames", s.RxFrames, "tx_frames", s.TxFrames,
		"tx_errors", s.TxErrors, "timer_fires", s.TimerFires)
}

// seed returns a secret random seed for the stack (ISNs must not be
// predictable from outside: RFC 9293 §3.4.1, MUST-9).
func seed() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return uint64(time.Now().UnixNano())
	}
	return binary.LittleEndian.Uint64(b[:])
}

// newListener opens a listener with the CLI's backlog.
func newListener(loop *driver.Loop, port uint16, rec netconn.Recorder) (*netconn.Listener, error) {
	ln, err := netconn.ListenOptions(loop, port, listenBacklog, netconn.Options{Recorder: rec})
	if err != nil {
		return nil, fmt.Errorf("listen on port %d: %w", port, err)
	}
	return ln, nil
}

// capturePcap wraps link so that every frame it receives and sends is written
// to the pcap file path. The returned func reports the capture once the link
// (owned by the event loop) is closed, and closes the file.
func capturePcap(link driver.Link, path string) (*pcap.Link, func(*slog.Logger), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--pcap: %w", err)
	}
	c, err := pcap.Wrap(link, f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("--pcap %s: %w", path, err)
	}
	return c, func(log *slog.Logger) {
		c.Close() // idempotent after the loop's Close: flushes the capture
		if err := f.Close(); err != nil {
			log.Error("pcap", "file", path, "err", err)
			return
		}
		if err := c.Err(); err != nil {
			log.Error("pcap", "file", path, "frames", c.Frames(), "err", err)
			return
		}
		log.Info("pcap written", "file", path, "frames", c.Frames())
	}, nil
}

// startCPUProfile starts a CPU profile written to path; the returned func
// stops it and closes the file.
func startCPUProfile(path string) (func(*slog.Logger), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func(log *slog.Logger) {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			log.Error("cpu profile not written", "file", path, "err", err)
			return
		}
		log.Info("cpu profile written", "file", path)
	}, nil
}
