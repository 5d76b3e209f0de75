package e2e

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/lab/labtest"
)

// floodFloor is the least share of its unflooded rate of new connections
// netspec must keep during the flood. The goal (issue 14) is 0.8, Linux
// measures 0.6-0.9 here; on a 2-core machine shared with other work the
// flooder, wrk and the server fight for CPU and single runs of netspec
// measured 0.55-0.63 (docs/robustness.md), so the floor is set where only a
// real regression falls: before the no-route and neighbour-table fixes the
// ratio was 0.00-0.01.
const floodFloor = 0.3

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
// --flood --rand-source, 3 s) a client still opens new connections at no
// less than floodFloor of the rate measured just before, in the same run.
// The sources are off-link and the server has no gateway: it must answer
// none of them and resolve none with ARP (docs/robustness.md has the long
// form, with on-link sources and Linux beside it: make robust).
func TestSynFloodKeepsServing(t *testing.T) {
	s := startServer(t, lab.DriverAFPacket)
	labtest.NeedTools(t, "wrk", "hping3", "timeout")
	s.waitHTTP(t, "http://"+serverAddr+"/")
	const d = 3 * time.Second
	base := s.newConnRate(t, d)
	if base < 100 {
		t.Fatalf("unflooded: %.0f connections/s, too few to compare with", base)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Second)
	defer cancel()
	flood := s.lab.ClientCmd(ctx, "timeout", strconv.Itoa(int(d/time.Second)+2),
		"hping3", "-q", "-S", "--flood", "--rand-source", "-p", "80", serverAddr)
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	defer flood.Wait()
	time.Sleep(500 * time.Millisecond) // the flood is on
	flooded := s.newConnRate(t, d)
	ratio := flooded / base
	t.Logf("new connections/s: %.0f unflooded, %.0f during the flood: ratio %.2f (floor %.2f, goal 0.8)", base, flooded, ratio, floodFloor)
	if ratio < floodFloor {
		t.Errorf("during the SYN flood netspec kept %.2f of its connection rate, want >= %.2f", ratio, floodFloor)
	}
}
