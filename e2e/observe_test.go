package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/driver/observe"
)

// TestMetricsStatSS: `serve --metrics 9100` answers Prometheus scrapes from
// Linux's curl in the client namespace, through netspec's own stack; `netspec
// stat` and `netspec ss` read the running server through its control socket
// (/run/netspec/netns-INODE/IFACE.sock) and see a kernel client's connection; the socket
// is gone once the server exited.
func TestMetricsStatSS(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv string) {
		var sock string
		t.Cleanup(func() { // runs after the server's cleanup stopped it
			if _, err := os.Stat(sock); sock != "" && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("control socket %s left after exit: %v", sock, err)
			}
		})
		s := startServer(t, drv, "--http", "80", "--metrics", "9100")
		// The server runs in the lab's server namespace: its socket is
		// named after that namespace (observe.SocketPath).
		if err := s.lab.RunInServerNS(func() error {
			sock = observe.SocketPath(s.lab.ServerIface())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s.waitHTTP(t, "http://"+serverAddr+"/")

		body, err := s.client(t, 10*time.Second, "curl", "-sS", "--fail", "--max-time", "5", "http://"+serverAddr+":9100/metrics")
		if err != nil {
			t.Fatal(err)
		}
		opens := regexp.MustCompile(`(?m)^netspec_events_total\{counter="tcp.PassiveOpens",group="Tcp"\} (\d+)$`).FindSubmatch(body)
		if opens == nil {
			t.Fatalf("no tcp.PassiveOpens series in:\n%.3000s", body)
		}
		if n, _ := strconv.Atoi(string(opens[1])); n < 2 { // waitHTTP's curl and this scrape's
			t.Errorf("tcp.PassiveOpens = %d, want at least 2", n)
		}
		if !regexp.MustCompile(`(?m)^netspec_rule_hits_total\{anchor="[^"]+",event="\w+",machine="tcp",src="spec/tcp.fsm:\d+",state="Listen"\} [1-9]`).Match(body) {
			t.Errorf("no spec row fired in LISTEN:\n%.3000s", body)
		}

		// A kernel connection held open while ss looks.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		hold := s.lab.ClientCmd(ctx, "bash", "-c", "exec 3<>/dev/tcp/"+serverAddr+"/80; sleep 10")
		if err := hold.Start(); err != nil {
			t.Fatal(err)
		}
		defer hold.Wait()
		defer cancel()
		bin := netspecBinary(t)
		var ss string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			out, err := exec.Command("ip", "netns", "exec", s.lab.ServerNS(), bin, "ss", "--iface", s.lab.ServerIface()).CombinedOutput()
			if err != nil {
				t.Fatalf("ss: %v: %s", err, out)
			}
			if ss = string(out); regexp.MustCompile(`(?m)^ESTAB .*198\.18\.0\.2:80 +198\.18\.0\.1:\d+ +fd=\d+$`).MatchString(ss) {
				break
			}
		}
		for _, want := range []string{"LISTEN", "198.18.0.2:9100", "ESTAB", "rto:", "cwnd:", "rule:spec/tcp.fsm:"} {
			if !strings.Contains(ss, want) {
				t.Errorf("ss lacks %q:\n%s", want, ss)
			}
		}
		out := s.stat(t)
		for _, want := range []string{"Link:", "Arp:", "Ip:", "Tcp:", "TcpExt:", "tcp.PassiveOpens", "Rules:"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("stat lacks %q:\n%s", want, out)
			}
		}
		// The driver's own counters, loop 0's (afpacket.0.* with several
		// loops): the frames it delivered and, with AF_PACKET, what the
		// kernel dropped and the ring skipped.
		wantLink := []string{`[1-9]\d* tap\.RxFrames`}
		if drv == "afpacket" {
			wantLink = []string{`[1-9]\d* afpacket\.(0\.)?RxFrames`, `\d+ afpacket\.(0\.)?KernelDrops`, `\d+ afpacket\.(0\.)?RingBad`, `\d+ afpacket\.(0\.)?RingFreezes`}
		}
		for _, want := range wantLink {
			if !regexp.MustCompile(`(?m)^\s+` + want + `$`).Match(out) {
				t.Errorf("stat lacks %s:\n%s", want, out)
			}
		}
	})
}
