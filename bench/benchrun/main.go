// Command benchrun is netspec's benchmark (make bench, bench/compare.sh and
// bench/loss.sh build and run it): the same net/http handler
// (bench/handler) on netspec, gVisor's netstack and the Linux kernel, each
// in a fresh pair of namespaces per round, the servers alternating within
// each round; medians and spread of the rounds, ratios to the peers, written
// as Markdown with plots.
//
//	benchrun -bin DIR -server netspec=netspec:PATH -server kernel=kernel:PATH ...
//	         [-rounds 3] [-dur 10] [-scenario main,loss] [-json FILE] [-md FILE] [-plots DIR]
//	benchrun -report FILE.json -md FILE [-plots DIR]   # the report again from saved results
//	benchrun -inmem ../inmem [-rounds 5] [-benchtime 1s] [-md FILE]   # make bench-inmem
//
// Scenarios: main (keep-alive and new-connection rates with server CPU,
// latency, 1 GiB download and upload, memory per idle connection) and loss
// (16 MiB transfers at 0/1/5 % random loss both ways in the client
// namespace). The inmem scenario (-inmem) runs bench/inmem's go test
// benchmarks instead: two stacks in one process on an in-memory link,
// netspec's and gVisor's. Every tool run is bounded in time, and the whole run by -max.
// Needs root, iproute2, wrk, ab, ethtool and nft.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config holds the knobs of one run.
type config struct {
	rounds    int
	dur       int // seconds per wrk run
	abN       int
	big       int64
	hold      int
	losses    []float64
	lossSize  int64
	scenarios []string
	lossAt    string // "client" (nftables in the client namespace) or "bridge"
}

// results is what a run measured; it is saved as JSON so the report can be
// written again without measuring.
type results struct {
	Started  time.Time                       `json:"started"`
	Seconds  float64                         `json:"seconds"`
	Machine  string                          `json:"machine"`
	Command  string                          `json:"command"`
	Servers  []Server                        `json:"servers"`
	Config   map[string]string               `json:"config"`
	Values   map[string]map[string][]float64 `json:"values"` // figure key -> server -> one value per round
	Notes    map[string][]string             `json:"notes"`  // scenario -> what went wrong
	Scenario []string                        `json:"scenarios"`
}

// runner carries one run's state.
type runner struct {
	cfg     config
	binDir  string
	work    string
	prefix  string
	profDir string
	res     *results
	prog    *runProgress
	scen    string // the scenario being measured, for notes
}

func (r *runner) bin(name string) string { return filepath.Join(r.binDir, name) }

// note records something that went wrong with a figure (shown under the table).
func (r *runner) note(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	r.res.Notes[r.scen] = append(r.res.Notes[r.scen], s)
	r.prog.println("note: " + s)
}

func (r *runner) record(srv string, vals map[string]float64) { r.res.add(srv, vals) }

// add appends one round's values of srv.
func (res *results) add(srv string, vals map[string]float64) {
	for k, v := range vals {
		if res.Values[k] == nil {
			res.Values[k] = map[string][]float64{}
		}
		res.Values[k][srv] = append(res.Values[k][srv], v)
	}
}

type serverFlags []Server

func (s *serverFlags) String() string { return fmt.Sprint(*s) }

// Set parses NAME=KIND:PATH.
func (s *serverFlags) Set(v string) error {
	name, rest, ok1 := strings.Cut(v, "=")
	kind, path, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || name == "" || path == "" {
		return errors.New("want NAME=KIND:PATH")
	}
	switch kind {
	case "netspec", "gvisor", "kernel":
	default:
		return fmt.Errorf("kind %q: want netspec, gvisor or kernel", kind)
	}
	*s = append(*s, Server{Name: name, Kind: kind, Bin: path})
	return nil
}

func main() {
	var servers serverFlags
	var cfg config
	flag.Var(&servers, "server", "a server to measure, `NAME=KIND:PATH` (KIND netspec, gvisor or kernel); repeat")
	binDir := flag.String("bin", "", "directory holding benchcli")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds (servers alternate within each)")
	flag.IntVar(&cfg.dur, "dur", 10, "seconds per wrk run")
	flag.IntVar(&cfg.abN, "ab-n", 20000, "connections per ab run")
	big := flag.String("big", "1073741824", "octets of the bulk download and upload")
	flag.IntVar(&cfg.hold, "hold", 5000, "idle keep-alive connections held for the memory figure")
	losses := flag.String("losses", "0,1,5", "loss percentages of the loss scenario")
	lossSize := flag.String("loss-size", "16777216", "octets per transfer under loss")
	flag.StringVar(&cfg.lossAt, "loss-at", "client", "where the loss scenario drops: client (nftables input and output hooks in the client namespace, as issue 11) or bridge (a middle namespace's bridge, a loss on the wire both ways)")
	scen := flag.String("scenario", "main,loss", "scenarios to run: main, loss, memory (the idle-connection figure alone), bulk (the download and upload figures alone), rates (the keep-alive and new-connection figures alone), close (the new-connection figures and segments per connection from a captured wrk close run; needs tcpdump), keepalive (the keep-alive figures alone)")
	maxRun := flag.Duration("max", 30*time.Minute, "bound of the whole run")
	prefix := flag.String("prefix", fmt.Sprintf("nsb%d", os.Getpid()), "namespace name prefix (labs are PREFIX-N)")
	jsonOut := flag.String("json", "", "write the raw results to `FILE`")
	mdOut := flag.String("md", "", "write the report (Markdown) to `FILE`")
	plots := flag.String("plots", "", "write the plots (PNG) to `DIR`, linked from the report")
	report := flag.String("report", "", "write the report again from saved results `FILE.json`; measure nothing")
	profDir := flag.String("cpuprofile-dir", "", "each server writes a CPU profile into `DIR`")
	command := flag.String("command", "", "how the run was started, for the report (default: benchrun's own command line)")
	inmem := flag.String("inmem", "", "run bench/inmem's in-memory benchmarks in `DIR` (-rounds times, -benchtime each) instead, netspec beside gVisor in one process; no root needed")
	benchtime := flag.String("benchtime", "1s", "go test -benchtime of each in-memory benchmark (-inmem)")
	flag.Parse()
	if *command == "" {
		*command = strings.Join(os.Args, " ")
	}
	if *inmem != "" {
		if err := inmemMain(*inmem, *benchtime, cfg.rounds, *mdOut, *command); err != nil {
			fatal(err)
		}
		return
	}

	if *report != "" {
		b, err := os.ReadFile(*report)
		if err != nil {
			fatal(err)
		}
		var res results
		if err := json.Unmarshal(b, &res); err != nil {
			fatal(err)
		}
		if err := writeReport(&res, *mdOut, *plots); err != nil {
			fatal(err)
		}
		return
	}
	var err error
	if cfg.big, err = strconv.ParseInt(*big, 10, 64); err != nil || cfg.big <= 0 {
		fatal(fmt.Errorf("-big %q", *big))
	}
	if cfg.lossSize, err = strconv.ParseInt(*lossSize, 10, 64); err != nil || cfg.lossSize <= 0 {
		fatal(fmt.Errorf("-loss-size %q", *lossSize))
	}
	for _, f := range strings.Split(*losses, ",") {
		p, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			fatal(fmt.Errorf("-losses: %q", f))
		}
		cfg.losses = append(cfg.losses, p)
	}
	cfg.scenarios = strings.Split(*scen, ",")
	if cfg.lossAt != "client" && cfg.lossAt != "bridge" {
		fatal(fmt.Errorf("-loss-at %q: want client or bridge", cfg.lossAt))
	}
	if len(servers) == 0 || *binDir == "" || cfg.rounds < 1 || cfg.dur < 1 {
		flag.Usage()
		os.Exit(2)
	}
	work, err := os.MkdirTemp("", "benchrun")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(work)
	r := &runner{cfg: cfg, binDir: *binDir, work: work, prefix: *prefix, profDir: *profDir, prog: newProgress()}
	r.res = &results{
		Started: time.Now().UTC(), Machine: machine(), Command: *command,
		Servers: servers, Values: map[string]map[string][]float64{}, Scenario: cfg.scenarios, Notes: map[string][]string{},
		Config: map[string]string{
			"rounds": strconv.Itoa(cfg.rounds), "dur": strconv.Itoa(cfg.dur), "ab_n": strconv.Itoa(cfg.abN),
			"big": strconv.FormatInt(cfg.big, 10), "hold": strconv.Itoa(cfg.hold), "losses": *losses,
			"loss_size": strconv.FormatInt(cfg.lossSize, 10), "loss_at": cfg.lossAt,
		},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *maxRun)
	defer cancel()
	runErr := r.run(ctx, servers)
	r.prog.finish()
	r.res.Seconds = time.Since(r.res.Started).Seconds()
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(r.res, "", " ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fatal(err)
		}
	}
	if err := writeReport(r.res, *mdOut, *plots); err != nil {
		fatal(err)
	}
	if runErr != nil {
		fatal(runErr)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchrun:", err)
	os.Exit(1)
}

// step is one measurement in one environment.
type step struct {
	name string
	fn   func(ctx context.Context, e *env, r *runner) (map[string]float64, error)
}

func mainSteps() []step {
	return []step{
		{"idle memory", func(ctx context.Context, e *env, r *runner) (map[string]float64, error) { return e.idleMemory(ctx, r) }},
		{"keep-alive (wrk)", func(ctx context.Context, e *env, r *runner) (map[string]float64, error) { return e.keepAlive(ctx, r) }},
		{"new connections (ab)", func(ctx context.Context, e *env, r *runner) (map[string]float64, error) { return e.ab(ctx, r) }},
		{"new connections (wrk close)", func(ctx context.Context, e *env, r *runner) (map[string]float64, error) { return e.closeConns(ctx, r) }},
		{"download", func(ctx context.Context, e *env, r *runner) (map[string]float64, error) { return e.bulk(ctx, r, "dl") }},
		{"upload", func(ctx context.Context, e *env, r *runner) (map[string]float64, error) { return e.bulk(ctx, r, "ul") }},
	}
}

// closeSteps are the close scenario's: a captured Connection: close run
// (closeSegments) first, while the client holds no TIME-WAIT of its own
// yet, then the new-connection figures.
func closeSteps() []step {
	return append([]step{{"segments per connection (wrk close, captured)", func(ctx context.Context, e *env, r *runner) (map[string]float64, error) {
		return e.closeSegments(ctx, r)
	}}}, mainSteps()[2:4]...)
}

func lossSteps(c config) []step {
	var s []step
	for _, p := range c.losses {
		s = append(s, step{fmt.Sprintf("%g %% loss", p), func(ctx context.Context, e *env, r *runner) (map[string]float64, error) { return e.lossRun(ctx, r, p) }})
	}
	return s
}

// run measures every scenario: rounds outermost, then scenarios, then the
// servers, whose order rotates from round to round.
func (r *runner) run(ctx context.Context, servers []Server) error {
	type scen struct {
		name        string
		steps       []step
		offloadsOff bool
	}
	var scens []scen
	for _, s := range r.cfg.scenarios {
		switch s {
		case "main":
			scens = append(scens, scen{"main", mainSteps(), false})
		case "memory":
			scens = append(scens, scen{"memory", mainSteps()[:1], false})
		case "bulk":
			scens = append(scens, scen{"bulk", mainSteps()[4:], false})
		case "rates":
			scens = append(scens, scen{"rates", mainSteps()[1:4], false})
		case "close":
			scens = append(scens, scen{"close", closeSteps(), false})
		case "keepalive":
			scens = append(scens, scen{"keepalive", mainSteps()[1:2], false})
		case "loss":
			scens = append(scens, scen{"loss", lossSteps(r.cfg), true})
		default:
			return fmt.Errorf("unknown scenario %q", s)
		}
	}
	total := 0
	for _, s := range scens {
		total += r.cfg.rounds * len(servers) * len(s.steps)
	}
	r.prog.start(total)
	for round := 0; round < r.cfg.rounds; round++ {
		for _, sc := range scens {
			r.scen = sc.name
			for i := range servers {
				srv := servers[(i+round)%len(servers)]
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("stopped: %w", err)
				}
				r.prog.set(fmt.Sprintf("round %d/%d %s %s: starting", round+1, r.cfg.rounds, sc.name, srv.Name))
				e, err := startEnv(ctx, r, srv, sc.offloadsOff)
				if err != nil {
					r.note("round %d %s: %v", round+1, sc.name, err)
					r.prog.skip(len(sc.steps))
					continue
				}
				for _, st := range sc.steps {
					r.prog.set(fmt.Sprintf("round %d/%d %s %s: %s", round+1, r.cfg.rounds, sc.name, srv.Name, st.name))
					vals, err := st.fn(ctx, e, r)
					r.record(srv.Name, vals)
					if err != nil {
						r.note("round %d %s %s: %v", round+1, srv.Name, st.name, err)
					}
					r.prog.step()
				}
				if err := e.stop(); err != nil {
					r.note("round %d %s: stop: %v", round+1, srv.Name, err)
				}
			}
		}
	}
	return nil
}

// machine describes the machine: CPU model, cores and kernel.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	var u syscall.Utsname
	kernel := ""
	if syscall.Uname(&u) == nil {
		b := make([]byte, 0, len(u.Release))
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		kernel = "Linux " + string(b)
	}
	return fmt.Sprintf("%d cores, %s, %s", numCPU(), model, kernel)
}
