// Command soakmon samples a running `netspec serve` during a soak (make
// soak, bench/soak.sh): every -every it reads the server's snapshot through
// its control socket (the Go runtime's heap and goroutines, the TCP layer's
// connections, timers, TIME-WAIT records and lent rings) and the
// process's resident set from /proc/PID/status, and appends
// a row to a CSV file. At the end (-duration, or SIGINT/SIGTERM) it prints
// a summary table and judges each figure flat or growing: after the
// warm-up, the samples are split into halves, and a figure grows when the
// largest value of the second half exceeds the largest of the first by more
// than its bound (a share plus an absolute slack). Peaks are compared, not
// means, because a garbage-collected heap saws between its live size and
// twice that: its peaks are steady when nothing leaks. Exit 0 when every
// figure is flat, 1 when one grows or the server stopped answering, 2 for
// bad arguments.
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/netspec/netspec/driver/observe"
)

// figure is one sampled quantity and how much it may grow.
type figure struct {
	name  string  // CSV column
	from  string  // snapshot counter name, or "rss" for /proc
	share float64 // allowed growth of the second half's peak over the first's
	slack float64 // plus this much, absolute
}

// figures are what a soak watches. The connection-level ones follow the
// load, which is steady, so they get generous absolute slack; memory and
// goroutines must not trend.
var figures = []figure{
	{"rss_bytes", "rss", 0.20, 8 << 20},
	{"heap_bytes", "go.HeapBytes", 0.30, 4 << 20},
	{"heap_objects", "go.HeapObjects", 0.30, 20000},
	{"mapped_bytes", "go.MappedBytes", 0.20, 8 << 20},
	{"goroutines", "go.Goroutines", 0.20, 20},
	{"tcp_conns", "tcp.Conns", 0.50, 100},
	{"tcp_timers", "tcp.Timers", 0.50, 100},
	{"tcp_timewait", "tcp.TimeWaitRecords", 0.50, 100},
	{"tcp_rings_lent", "tcp.RingsLent", 0.50, 50},
}

func main() {
	pid := flag.Int("pid", 0, "the server's process id (for /proc/PID/status)")
	sock := flag.String("sock", "", "the server's control socket (observe.SocketPath(IFACE))")
	every := flag.Duration("every", 5*time.Second, "sampling interval")
	dur := flag.Duration("duration", 2*time.Minute, "stop sampling after this long")
	warm := flag.Duration("warmup", 30*time.Second, "ignore the samples of this first stretch in the verdict")
	out := flag.String("csv", "", "write the samples to this CSV file")
	flag.Parse()
	if *pid <= 0 || *sock == "" || *out == "" || *every <= 0 || *warm >= *dur {
		fmt.Fprintln(os.Stderr, "soakmon: need -pid, -sock, -csv, -every > 0 and -warmup < -duration")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soakmon:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	samples, err := sample(ctx, f, *pid, *sock, *every)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soakmon:", err)
		os.Exit(1)
	}
	if !report(os.Stdout, samples, *warm) {
		os.Exit(1)
	}
}

// row is one sample: seconds since the start and one value per figure.
type row struct {
	t    float64
	vals []float64
}

// sample reads the server every interval until ctx ends, writing each row to w.
func sample(ctx context.Context, w io.Writer, pid int, sock string, every time.Duration) ([]row, error) {
	cw := csv.NewWriter(w)
	head := []string{"t_s"}
	for _, f := range figures {
		head = append(head, f.name)
	}
	cw.Write(head)
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	var rows []row
	for {
		r, err := read(pid, sock)
		if err != nil {
			return rows, fmt.Errorf("sample at %v: %w", time.Since(start).Round(time.Second), err)
		}
		r.t = time.Since(start).Seconds()
		rows = append(rows, r)
		rec := []string{strconv.FormatFloat(r.t, 'f', 1, 64)}
		for _, v := range r.vals {
			rec = append(rec, strconv.FormatFloat(v, 'f', 0, 64))
		}
		cw.Write(rec)
		cw.Flush()
		if err := cw.Error(); err != nil {
			return rows, err
		}
		select {
		case <-ctx.Done():
			return rows, nil
		case <-tick.C:
		}
	}
}

// read takes one sample.
func read(pid int, sock string) (row, error) {
	snap, err := observe.Fetch(sock)
	if err != nil {
		return row{}, err
	}
	byName := make(map[string]float64, len(snap.Counters))
	for _, c := range snap.Counters {
		byName[c.Name] = float64(c.Value)
	}
	rss, err := rssOf(pid)
	if err != nil {
		return row{}, err
	}
	r := row{vals: make([]float64, len(figures))}
	for i, f := range figures {
		if f.from == "rss" {
			r.vals[i] = rss
			continue
		}
		v, ok := byName[f.from]
		if !ok {
			return row{}, fmt.Errorf("the snapshot has no counter %s", f.from)
		}
		r.vals[i] = v
	}
	return r, nil
}

// rssOf reads VmRSS of a process, in bytes.
func rssOf(pid int) (float64, error) {
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			kb, err := strconv.ParseFloat(f[0], 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// report prints the summary table and returns whether every figure is flat.
func report(w io.Writer, rows []row, warm time.Duration) bool {
	var after []row
	for _, r := range rows {
		if r.t >= warm.Seconds() {
			after = append(after, r)
		}
	}
	if len(after) < 4 {
		fmt.Fprintf(w, "soakmon: %d samples after the warm-up, too few to judge\n", len(after))
		return false
	}
	half := len(after) / 2
	first, second := after[:half], after[half:]
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "figure\tstart\tmin\tmax\tend\tpeak 1st half\tpeak 2nd half\tbound\tverdict\t\n")
	flat := true
	for i, f := range figures {
		lo, hi := rows[0].vals[i], rows[0].vals[i]
		for _, r := range rows {
			lo, hi = min(lo, r.vals[i]), max(hi, r.vals[i])
		}
		p1, p2 := peak(first, i), peak(second, i)
		bound := p1*(1+f.share) + f.slack
		verdict := "flat"
		if p2 > bound {
			verdict, flat = "GROWS", false
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", f.name, human(f, rows[0].vals[i]), human(f, lo), human(f, hi),
			human(f, rows[len(rows)-1].vals[i]), human(f, p1), human(f, p2), human(f, bound), verdict)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d samples over %.0f s; verdict on the %d after the %v warm-up (peak of the 2nd half <= peak of the 1st x (1+share) + slack)\n",
		len(rows), rows[len(rows)-1].t, len(after), warm)
	return flat
}

func peak(rows []row, i int) float64 {
	p := rows[0].vals[i]
	for _, r := range rows {
		p = max(p, r.vals[i])
	}
	return p
}

// human prints byte figures in MiB.
func human(f figure, v float64) string {
	if strings.HasSuffix(f.name, "_bytes") {
		return strconv.FormatFloat(v/(1<<20), 'f', 1, 64) + "M"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
