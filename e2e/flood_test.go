package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/lab/labtest"
)

// floodFloor is the least share of its unflooded rate of new connections
// netspec must keep during the flood. The goal (issue 14) is 0.8 under a
// full-speed flood; that long form, with Linux beside it, is make robust
// (docs/robustness.md). Here the flood is paced at floodInterval so that
// the test measures the stack, not which of flooder, wrk and server the
// scheduler of a shared 2-core machine favours: netspec kept about 0.8 of its
// rate at that pace, and before the no-route and neighbour-table fixes it
// kept 0.00-0.01 at any pace above a few hundred SYNs per second (every
// spoofed source took a neighbour slot for 3 s).
const floodFloor = 0.5

// floodInterval paces hping3: one SYN every 100 µs, 10,000 per second.
const floodInterval = "u100"

// floodTries is how many times the pair of measurements may be taken: a
// single 3 s sample on a loaded machine can dip, a regression fails every try.
const floodTries = 2

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// newConnRate runs wrk for d with "Connection: close" (one handshake per
// request) and returns its requests per second.
func (s *server) newConnRate(t *testing.T, d time.Duration) float64 {
	t.Helper()
	out, err := s.client(t, d+15*time.Second, "wrk", "-t1", "-c20", "-d"+d.String(), "--timeout", "1s",
		"-H", "Connection: close", "http://"+serverAddr+"/")
	if err != nil {
		t.Fatal(err)
	}
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no rate in wrk's output:\n%s", out)
	}
	r, _ := strconv.ParseFloat(string(m[1]), 64)
	return r
}

// TestSynFloodKeepsServing: during a random-source SYN flood (hping3
// --rand-source at 10,000 SYNs/s, 3 s) a client still opens new connections
// at no less than floodFloor of the rate measured just before, in the same
// run.
// The sources are off-link and the server has no gateway: it must answer
// none of them and resolve none with ARP (docs/robustness.md has the long
// form, with on-link sources and Linux beside it: make robust).
func TestSynFloodKeepsServing(t *testing.T) {
	s := startServer(t, lab.DriverAFPacket)
	labtest.NeedTools(t, "wrk", "hping3", "timeout")
	s.waitHTTP(t, "http://"+serverAddr+"/")
	var ratio float64
	for try := 1; try <= floodTries; try++ {
		ratio = floodRatio(t, s)
		if ratio >= floodFloor {
			return
		}
	}
	t.Errorf("during the SYN flood netspec kept %.2f of its connection rate, want >= %.2f", ratio, floodFloor)
}

// floodRatio measures the rate of new connections, then the same during a
// paced random-source SYN flood, and returns their ratio.
func floodRatio(t *testing.T, s *server) float64 {
	t.Helper()
	const d = 3 * time.Second
	base := s.newConnRate(t, d)
	if base < 100 {
		t.Fatalf("unflooded: %.0f connections/s, too few to compare with", base)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Second)
	defer cancel()
	flood := s.lab.ClientCmd(ctx, "timeout", strconv.Itoa(int(d/time.Second)+2),
		"hping3", "-q", "-S", "-i", floodInterval, "--rand-source", "-p", "80", serverAddr)
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	defer flood.Wait()
	time.Sleep(500 * time.Millisecond) // the flood is on
	flooded := s.newConnRate(t, d)
	ratio := flooded / base
	t.Logf("new connections/s: %.0f unflooded, %.0f during the flood: ratio %.2f (floor %.2f, goal 0.8)", base, flooded, ratio, floodFloor)
	return ratio
}

// TestSynFilterEngagesUnderFullFlood: hping3 --flood --rand-source (as fast
// as it goes, 3 s) against serve --gateway with one loop, so every spoofed
// SYN has a route for its SYN,ACK (make robust's hardest row): the stack
// declares the flood, its loop installs the SYN admission filter in the
// kernel, the filter drops most of the flood before the ring (estimated:
// the kernel counts nothing it filters), and a client still opens new
// connections meanwhile. The rate it keeps is make robust's figure (with
// Linux beside it); here the chain from the stack's decision to the
// kernel's filter is what must work.
func TestSynFilterEngagesUnderFullFlood(t *testing.T) {
	s := startServer(t, lab.DriverAFPacket, "--gateway", "198.18.0.1", "--loops", "1")
	labtest.NeedTools(t, "wrk", "hping3", "timeout")
	s.waitHTTP(t, "http://"+serverAddr+"/")
	const d = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Second)
	defer cancel()
	flood := s.lab.ClientCmd(ctx, "timeout", strconv.Itoa(int(d/time.Second)+2),
		"hping3", "-q", "-S", "--flood", "--rand-source", "-p", "80", serverAddr)
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	defer flood.Wait()
	time.Sleep(500 * time.Millisecond) // the flood is on
	rate := s.newConnRate(t, d)
	c := s.statCounters(t, "stack.TCPSynFloods", "stack.TCPSynFilterUpdates", "stack.TCPSynFilterFailed", "stack.TCPSynFilterDropEstimate")
	t.Logf("during the flood: %.0f new connections/s; %v", rate, c)
	if c["stack.TCPSynFloods"] == 0 || c["stack.TCPSynFilterUpdates"] == 0 || c["stack.TCPSynFilterFailed"] != 0 {
		t.Errorf("the stack did not declare the flood or the loop did not install its filter: %v", c)
	}
	if c["stack.TCPSynFilterDropEstimate"] == 0 {
		t.Errorf("the filter dropped nothing of a full-speed flood: %v", c)
	}
	if rate == 0 {
		t.Error("no new connection during the flood")
	}
}

// stat returns what netspec stat prints for the server.
func (s *server) stat(t *testing.T) []byte {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", s.lab.ServerNS(), netspecBinary(t), "stat", "--iface", s.lab.ServerIface()).CombinedOutput()
	if err != nil {
		t.Fatalf("stat: %v: %s", err, out)
	}
	return out
}

// statCounters reads the named counters from netspec stat.
func (s *server) statCounters(t *testing.T, names ...string) map[string]uint64 {
	t.Helper()
	out := s.stat(t)
	c := make(map[string]uint64, len(names))
	for _, name := range names {
		m := regexp.MustCompile(`(?m)^\s+(\d+) ` + regexp.QuoteMeta(name) + `$`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("stat lacks %s:\n%s", name, out)
		}
		c[name], _ = strconv.ParseUint(string(m[1]), 10, 64)
	}
	return c
}
