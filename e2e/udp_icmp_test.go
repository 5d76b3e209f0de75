package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// waitPing waits until the server answers a small ping (ARP resolved, stack up).
func (s *server) waitPing(t *testing.T) {
	t.Helper()
	var err error
	for i := 0; i < 50; i++ {
		if _, err = s.client(t, 5*time.Second, "ping", "-c", "1", "-W", "1", serverAddr); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("server never answered ping: %v\n%s", err, s.logs)
}

var pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// pingCounts runs ping with args and returns transmitted and received counts.
func (s *server) pingCounts(t *testing.T, timeout time.Duration, args ...string) (tx, rx int, out string) {
	t.Helper()
	b, err := s.client(t, timeout, "ping", append(args, serverAddr)...)
	out = string(b)
	m := pingStats.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ping %v: no statistics: %v\n%s", args, err, out)
	}
	tx, _ = strconv.Atoi(m[1])
	rx, _ = strconv.Atoi(m[2])
	return tx, rx, out
}

// TestPingSizes: echo requests of every size up to 65,000 bytes are answered
// with the same data; above 1472 bytes the request reaches us in fragments
// (reassembly) and the reply leaves in fragments (fragmentation on send).
func TestPingSizes(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv string) {
		s := startServer(t, drv, "--echo", "7")
		s.waitPing(t)
		for _, size := range []int{0, 56, 1472, 1473, 3000, 9000, 32000, 65000} {
			tx, rx, out := s.pingCounts(t, 20*time.Second, "-c", "3", "-i", "0.2", "-W", "2", "-s", strconv.Itoa(size))
			if tx != 3 || rx != 3 {
				t.Errorf("ping -s %d: %d of %d answered\n%s", size, rx, tx, out)
			}
			if size >= 8 && strings.Contains(out, "wrong data") {
				t.Errorf("ping -s %d: reply data differs\n%s", size, out)
			}
		}
	})
}

// TestPingFloodBounded: a flood of 2000 echo requests finishes (no hang, no
// unbounded queue) and is answered up to the echo rate limit (1000 a second
// with a burst of 1000), so at least the burst comes back.
func TestPingFloodBounded(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv string) {
		s := startServer(t, drv, "--echo", "7")
		s.waitPing(t)
		tx, rx, out := s.pingCounts(t, 60*time.Second, "-f", "-c", "2000", "-w", "50", "-q")
		if rx < 1000 || rx > tx || tx > 4000 {
			t.Fatalf("ping -f: %d of %d answered\n%s", rx, tx, out)
		}
	})
}

// udpExchange runs a Linux UDP client (bash's /dev/udp: a connected UDP
// socket) that sends msg to port and reads one datagram back.
func (s *server) udpExchange(t *testing.T, port int, msg string) (string, error) {
	t.Helper()
	// head reads with a large buffer: one read takes a whole datagram (bash's
	// read builtin reads a byte at a time, which would truncate it).
	script := fmt.Sprintf(`exec 3<>/dev/udp/%s/%d || exit 3
printf '%%s' %q >&3
timeout 3 head -c %d <&3`, serverAddr, port, msg, len(msg))
	out, err := s.client(t, 10*time.Second, "bash", "-c", script)
	return string(out), err
}

// TestUDPEchoLinuxClient: datagrams from the Linux kernel's UDP come back
// unchanged, small and fragmented (4000 bytes at MTU 1500).
func TestUDPEchoLinuxClient(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv string) {
		s := startServer(t, drv, "--udp-echo", "7")
		s.waitPing(t)
		for _, msg := range []string{"hello netspec", strings.Repeat("0123456789", 400)} {
			got, err := s.udpExchange(t, 7, msg)
			if err != nil || got != msg {
				t.Fatalf("udp echo of %d bytes: got %d bytes, err %v", len(msg), len(got), err)
			}
		}
	})
}

// TestUDPPortUnreachableRefused: a datagram to a port nobody listens on earns
// ICMP port unreachable, which the Linux client's connected socket reports as
// "Connection refused" (RFC 1122 §4.1.3.1).
func TestUDPPortUnreachableRefused(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv string) {
		s := startServer(t, drv, "--udp-echo", "7")
		s.waitPing(t)
		script := fmt.Sprintf(`exec 2>&1
	exec 3<>/dev/udp/%s/9 || exit 3
	printf 'x\n' >&3
	IFS= read -r -t 3 line <&3; echo "read=$?"
	printf 'y\n' >&3 2>/dev/null; echo "write=$?"`, serverAddr)
		out, err := s.client(t, 10*time.Second, "bash", "-c", script)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "Connection refused") {
			t.Fatalf("no refusal seen by the Linux client:\n%s", out)
		}
	})
}
