package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/afpacket"
	"github.com/netspec/netspec/driver/history"
	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/observe"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/stack"
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
	var links *netspec.Links
	iface := cfg.iface
	// The control socket is keyed by the interface's network namespace
	// (observe.SocketPath), so it is named where the link is opened.
	control := ""
	opts := cfg.options(log)
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
			links, err = netspec.OpenLinks(iface, opts)
			control = observe.SocketPath(iface)
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
		l, err := netspec.OpenLinks(iface, opts)
		if err != nil {
			if errors.Is(err, netspec.ErrNoInterface) {
				return fail(stderr, usagef("--iface: no such interface %q", iface))
			}
			if errors.Is(err, netspec.ErrNotTAP) {
				return fail(stderr, usagef("--iface: %q is not a TAP device (--driver tap)", iface))
			}
			return fail(stderr, fmt.Errorf("open %s: %w", iface, err))
		}
		links = l
		control = observe.SocketPath(iface)
	}
	cfg.control = control
	cfg.traceOut = stdout
	return runStack(ctx, cfg, iface, links, log, stderr, nil)
}

// options are the library options of cfg, logging to log.
func (cfg serveConfig) options(log *slog.Logger) *netspec.Options {
	o := &netspec.Options{
		Driver:  cfg.driver,
		Gateway: cfg.gateway,
		Profile: cfg.profile,
		ECN:     cfg.ecn,
		TTL:     cfg.ttl,
		Backlog: listenBacklog,
		Logger:  log,
		Metrics: cfg.metrics,
		Loops:   cfg.autoLoops(),

		ReleaseMemory: cfg.release,
	}
	o.MetricsListen = cfg.metricsAt
	if cfg.synBudget != defaultSynBudget {
		o.Tune = func(c *stack.Config) {
			c.SynGuard.Budget = cfg.synBudget
			c.SynGuard.Off = cfg.synBudget <= 0
		}
	}
	if cfg.mac != (wire.MAC{}) {
		o.MAC = net.HardwareAddr(cfg.mac[:])
	}
	return o
}

// runStack serves cfg's services over links (one per event loop) until
// ctx ends. It owns links. serving, if not nil, is called once every
// listener is open.
func runStack(ctx context.Context, cfg serveConfig, iface string, links *netspec.Links, log *slog.Logger, stderr io.Writer, serving func()) int {
	opts := cfg.options(log)
	opts.Control = cfg.control
	if opts.Control == "" {
		opts.Control = observe.SocketPath(iface)
	}
	var capture *os.File
	if cfg.pcap != "" {
		f, err := os.Create(cfg.pcap)
		if err != nil {
			links.Close()
			return fail(stderr, fmt.Errorf("--pcap: %w", err))
		}
		capture, opts.Pcap = f, f
	}
	if cfg.history != "" {
		hw, err := history.CreateFile(cfg.history)
		if err != nil {
			links.Close()
			closeQuietly(capture)
			return fail(stderr, err)
		}
		defer closeHistory(hw, cfg.history, log)
		opts.History = hw
	}
	closeTrace, err := cfg.setTrace(opts)
	if err != nil {
		links.Close()
		closeQuietly(capture)
		return fail(stderr, err)
	}
	defer closeTrace()
	var faulty *pipe.FaultLink
	if cfg.faults != nil && len(links.Each) == 1 { // parseServe allows --faults with one loop only
		faulty = pipe.NewFaulty(links.Each[0], *cfg.faults)
		links = &netspec.Links{Each: []driver.Link{faulty}}
		log.Warn("link impaired for testing (--faults)", "faults", fmt.Sprintf("%+v", *cfg.faults))
		defer func() { log.Info("faults applied", "stats", fmt.Sprintf("%+v", faulty.Stats())) }()
	}
	st, err := netspec.NewLinks(links, cfg.addr, opts)
	if err != nil {
		closeQuietly(capture)
		return fail(stderr, err)
	}
	defer func() {
		err := st.Close() // idempotent: returns the first Close's result
		if capture != nil {
			reportPcap(capture, st, err, log)
		} else if err != nil {
			log.Error("close", "err", err)
		}
	}()

	srv := newServer(st, cfg, log)
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
	log.Info("netspec serving", "iface", iface, "addr", cfg.addr, "mac", st.MAC().String(),
		"services", strings.Join(names, ","), "http_content", content, "mtu", st.MTU(), "control", opts.Control)
	if serving != nil {
		serving()
	}

	select {
	case <-ctx.Done():
		drainAndStop(cfg.drain, srv, st, log)
		logStats(log, st, links)
		return exitOK
	case <-st.Done():
		err := st.Err()
		if err == nil {
			err = errors.New("event loop stopped")
		}
		return fail(stderr, err)
	}
}

// drainAndStop is the graceful shutdown after SIGINT/SIGTERM: the
// listeners close at once (a new SYN is answered with RST while the stack
// drains), the HTTP servers close their idle connections and let requests
// in progress finish, and st.Shutdown waits until every response has been
// delivered and its FIN acknowledged, for at most drain; then what is left
// is reset and the stack is closed. A second signal cuts the drain short.
func drainAndStop(drain time.Duration, srv *server, st *netspec.Stack, log *slog.Logger) {
	log.Info("shutting down", "drain", drain)
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	again := make(chan os.Signal, 1)
	signal.Notify(again, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(again)
	go func() {
		select {
		case <-again:
			log.Warn("second signal: resetting the connections left")
			cancel()
		case <-ctx.Done():
		}
	}()
	https := srv.shutdown(ctx)
	err := st.Shutdown(ctx)
	srv.stop()
	https.Wait()
	if err != nil {
		log.Warn("shutdown", "err", err)
		return
	}
	log.Info("drained: every connection finished")
}

func logStats(log *slog.Logger, st *netspec.Stack, links *netspec.Links) {
	stats := st.Stats()
	s := stats.Loop
	log.Info("netspec stopped", "loops", len(stats.Loops), "rx_frames", s.RxFrames, "tx_frames", s.TxFrames,
		"tx_errors", s.TxErrors, "timer_fires", s.TimerFires)
	if len(stats.Loops) > 1 {
		for i, ls := range stats.Loops {
			log.Info("loop", "loop", i, "rx_frames", ls.RxFrames, "tx_frames", ls.TxFrames)
		}
		log.Info("neighbours", "shared", stats.NeighboursShared, "dropped", stats.NeighbourDrops)
	}
	for _, link := range links.Each {
		if l, ok := link.(interface{ Stats() afpacket.Stats }); ok {
			// What the kernel dropped before the stack saw it (ring or socket
			// buffer full): under a flood, the frames a user-space stack lost.
			ls := l.Stats()
			log.Info("link", "kernel_drops", ls.KernelDrops, "ring_freezes", ls.RingFreezes, "ring_blocks", ls.RingBlocks)
		}
	}
}

// reportPcap closes the --pcap file once st has stopped (Close returned
// closeErr, which includes capture errors) and reports the capture.
func reportPcap(f *os.File, st *netspec.Stack, closeErr error, log *slog.Logger) {
	frames := st.Stats().PcapFrames
	if err := errors.Join(closeErr, f.Close()); err != nil {
		log.Error("pcap", "file", f.Name(), "frames", frames, "err", err)
		return
	}
	log.Info("pcap written", "file", f.Name(), "frames", frames)
}

// closeQuietly closes f if it is not nil, on a path that already fails.
func closeQuietly(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// newListener opens the TCP listener of a service.
func newListener(st *netspec.Stack, port uint16) (net.Listener, error) {
	ln, err := st.Listen("tcp", ":"+strconv.Itoa(int(port)))
	if err != nil {
		return nil, fmt.Errorf("listen on port %d: %w", port, err)
	}
	return ln, nil
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
