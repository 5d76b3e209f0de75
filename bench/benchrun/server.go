package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netspec/netspec/driver/lab"
)

// Server is one stack under test: a server program (bench/netspecsrv,
// bench/gvisorsrv or bench/kernelsrv) and the label its figures carry.
type Server struct {
	Name string // label in the tables, e.g. "netspec", "netspec@59d569b", "kernel"
	Kind string // "netspec", "gvisor" or "kernel": how the program is started
	Bin  string // path of the program
}

// serverAddr is where every server listens; the client is 198.18.0.1.
const (
	serverAddr = "198.18.0.2"
	serverCIDR = serverAddr + "/24"
)

// env is one lab with one running server: a fresh pair of namespaces per
// server and round, so one server's TIME-WAIT ports and neighbour entries
// never meet the next's.
type env struct {
	lab    *lab.Lab
	srv    Server
	bridge bool // a middle namespace bridges client and server (-loss-at bridge)
	cmd    *exec.Cmd
	pid    int
	log    *os.File
	// clientCPU sums the user+system CPU of the client commands run so far
	// (e.client; `ip netns exec` execs the tool in place, so its rusage is
	// the tool's), in nanoseconds.
	clientCPU atomic.Int64
}

// labSeq numbers the labs of one run; each gets prefix-N.
var labSeq int

// startEnv brings up a lab named after prefix, prepares it (offloads off
// for the loss scenario), starts srv in its server namespace and waits
// until the server answers GET /hello from the client namespace.
func startEnv(ctx context.Context, r *runner, srv Server, offloadsOff bool) (*env, error) {
	labSeq++
	l, err := lab.Up(lab.Config{Prefix: fmt.Sprintf("%s-%d", r.prefix, labSeq)})
	if err != nil {
		return nil, err
	}
	e := &env{lab: l, srv: srv, bridge: offloadsOff && r.cfg.lossAt == "bridge"}
	if err := e.start(ctx, r, offloadsOff); err != nil {
		e.stop()
		return nil, fmt.Errorf("%s: %w", srv.Name, err)
	}
	return e, nil
}

func (e *env) start(ctx context.Context, r *runner, offloadsOff bool) error {
	srvNS, iface := e.lab.ServerNS(), e.lab.ServerIface()
	if e.bridge {
		if err := e.bridgeLab(ctx); err != nil {
			return err
		}
	}
	if offloadsOff {
		// One dropped frame must be one segment: no TSO/GSO super-frames
		// on either veth and no GRO merging on the way in. (The client's
		// own TCP still hands its output hook GSO packets; see lossRun.)
		for _, c := range [][]string{
			{"ip", "netns", "exec", e.lab.ClientNS(), "ethtool", "-K", e.lab.ClientIface(), "tso", "off", "gso", "off", "gro", "off"},
			{"ip", "netns", "exec", srvNS, "ethtool", "-K", iface, "tso", "off", "gso", "off", "gro", "off"},
		} {
			if out, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, out)
			}
		}
	}
	var args []string
	switch e.srv.Kind {
	case "kernel":
		if out, err := exec.CommandContext(ctx, "ip", "-n", srvNS, "addr", "add", serverCIDR, "dev", iface).CombinedOutput(); err != nil {
			return fmt.Errorf("address the server veth: %v: %s", err, out)
		}
		args = []string{"--addr", serverAddr + ":80"}
	case "netspec", "gvisor":
		args = []string{"--iface", iface, "--addr", serverCIDR}
	default:
		return fmt.Errorf("unknown server kind %q", e.srv.Kind)
	}
	if r.profDir != "" {
		args = append(args, "--cpuprofile", fmt.Sprintf("%s/%s-%d.pprof", r.profDir, e.srv.Name, labSeq))
	}
	log, err := os.CreateTemp(r.work, e.srv.Name+"-*.log")
	if err != nil {
		return err
	}
	e.log = log
	// ip netns exec execs the program itself: the pid is the server's.
	e.cmd = exec.Command("ip", append([]string{"netns", "exec", srvNS, e.srv.Bin}, args...)...)
	e.cmd.Stderr = log
	out, err := e.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := e.cmd.Start(); err != nil {
		return err
	}
	e.pid = e.cmd.Process.Pid
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if sc.Text() == "ready" && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			return fmt.Errorf("server exited before serving: %s", e.logTail())
		}
	case <-time.After(10 * time.Second):
		return fmt.Errorf("server not ready after 10 s: %s", e.logTail())
	}
	// The first request also resolves the neighbours both ways.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.client(ctx, 3*time.Second, r.bin("benchcli"), "--timeout", "1s", "get", "http://"+serverAddr+"/hello")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server does not answer GET /hello: %v; %s", err, e.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logTail returns the last lines of the server's stderr.
func (e *env) logTail() string {
	if e.log == nil {
		return ""
	}
	b, _ := os.ReadFile(e.log.Name())
	s := strings.TrimSpace(string(b))
	if len(s) > 600 {
		s = "..." + s[len(s)-600:]
	}
	return s
}

// stop ends the server (SIGTERM, then SIGKILL after 6 s) and removes the lab.
func (e *env) stop() error {
	var errs []error
	if e.cmd != nil && e.cmd.Process != nil {
		e.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- e.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(6 * time.Second):
			e.cmd.Process.Kill()
			<-done
			errs = append(errs, fmt.Errorf("%s did not stop on SIGTERM", e.srv.Name))
		}
	}
	if e.log != nil {
		e.log.Close()
	}
	if e.bridge {
		if err := e.dropBridge(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.lab.Down(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// client runs a command in the client namespace, bounded by d, and returns
// its stdout.
func (e *env) client(ctx context.Context, d time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", e.lab.ClientNS(), name}, args...)...)
	cmd.WaitDelay = 2 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ps := cmd.ProcessState; ps != nil {
		e.clientCPU.Add(int64(ps.UserTime() + ps.SystemTime()))
	}
	if ctx.Err() == context.DeadlineExceeded {
		return string(out), fmt.Errorf("%s: timed out after %v", name, d)
	}
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// cpu returns the server's user+system CPU time so far (/proc/PID/stat
// utime and stime, all threads).
func (e *env) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", e.pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", e.pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", e.pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of utime and stime: 100 on Linux.
const clockTicks = 100

// rss returns the server's resident set in KiB (/proc/PID/status VmRSS).
func (e *env) rss() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseFloat(f[0], 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", e.pid)
}
