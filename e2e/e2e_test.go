package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/lab/labtest"
)

const serverAddr = "198.18.0.2"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// netspecBinary builds cmd/netspec once per test run.
func netspecBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "netspec-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "netspec")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/netspec/netspec/cmd/netspec").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// server is a running `netspec serve` inside a lab's server namespace.
type server struct {
	lab  *lab.Lab
	cmd  *exec.Cmd
	logs *labtest.SyncBuffer
}

// drivers are the link drivers every end-to-end test runs on: AF_PACKET on
// the server's veth end, and a TAP device bridged to it (lab.DriverTAP).
var drivers = []string{lab.DriverAFPacket, lab.DriverTAP}

// forEachDriver runs fn as one subtest per driver, named after it.
func forEachDriver(t *testing.T, fn func(t *testing.T, drv string)) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) { fn(t, drv) })
	}
}

// startServer brings up a lab built for the link driver drv and runs netspec
// serve --driver drv in it with args.
func startServer(t *testing.T, drv string, args ...string) *server {
	t.Helper()
	l := labtest.ForTestConfig(t, lab.Config{Driver: drv})
	labtest.NeedTools(t, "curl", "ping", "bash")
	bin := netspecBinary(t)
	full := append([]string{"netns", "exec", l.ServerNS(), bin, "serve", "--driver", drv, "--iface", l.ServerIface(), "--addr", serverAddr + "/24"}, args...)
	s := &server{lab: l, logs: &labtest.SyncBuffer{}}
	s.cmd = exec.Command("ip", full...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			// What the stack counted, read through its control socket
			// before it stops: which drop or limit the failure went through.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.ServerNS(), bin, "stat", "--iface", l.ServerIface()).CombinedOutput()
			cancel()
			t.Logf("netspec stat (%v):\n%s", err, out)
		}
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil && !t.Failed() {
				t.Errorf("netspec serve did not exit cleanly on SIGTERM: %v\n%s", err, s.logs)
			}
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-done
			t.Errorf("netspec serve ignored SIGTERM for 10 s\n%s", s.logs)
		}
		if t.Failed() {
			t.Logf("netspec logs:\n%s", s.logs)
		}
	})
	return s
}

// client runs a command in the client namespace with a bounded time.
func (s *server) client(t *testing.T, timeout time.Duration, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := s.lab.ClientCmd(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), err
}

// waitHTTP polls with curl until the server answers (it needs a moment to open its socket).
func (s *server) waitHTTP(t *testing.T, url string) {
	t.Helper()
	var err error
	for i := 0; i < 50; i++ {
		if _, err = s.client(t, 5*time.Second, "curl", "-sS", "-o", "/dev/null", "--max-time", "2", url); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("server never answered %s: %v\n%s", url, err, s.logs)
}

func TestCurlDemoSite(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv string) {
		s := startServer(t, drv)
		url := "http://" + serverAddr + "/"
		s.waitHTTP(t, url)
		out, err := s.client(t, 10*time.Second, "curl", "-sS", "--fail", "--max-time", "5", url)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(bytes.ToLower(out), []byte("<html")) {
			t.Fatalf("demo page is not HTML: %q", out)
		}
	})
}

func TestCurl10MiBFile(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv string) {
		root := t.TempDir()
		data := make([]byte, 10<<20)
		rand.NewChaCha8([32]byte{10, 20}).Read(data)
		if err := os.WriteFile(filepath.Join(root, "big.bin"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(data)
		s := startServer(t, drv, "--http", "80", "--root", root)
		url := "http://" + serverAddr + "/big.bin"
		s.waitHTTP(t, "http://"+serverAddr+"/")
		out, err := s.client(t, 60*time.Second, "sh", "-c", "curl -sS --fail --max-time 50 "+url+" | sha256sum")
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Fields(string(out))
		if len(got) == 0 || got[0] != hex.EncodeToString(want[:]) {
			t.Fatalf("sha256 of download = %q, want %s", out, hex.EncodeToString(want[:]))
		}
	})
}

func TestPingAnswered(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv string) {
		s := startServer(t, drv)
		s.waitHTTP(t, "http://"+serverAddr+"/")
		s.pingEach(t, 3)
	})
}

func TestClosedPortRefused(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv string) {
		s := startServer(t, drv)
		s.waitHTTP(t, "http://"+serverAddr+"/")
		_, err := s.client(t, 10*time.Second, "curl", "-sS", "--max-time", "5", "http://"+serverAddr+":81/")
		if err == nil {
			t.Fatal("connection to a closed port succeeded")
		}
		// curl exit code 7 is "Failed to connect" (a RST); 28 would be a timeout.
		if !strings.Contains(err.Error(), "exit status 7") {
			t.Fatalf("want connection refused (curl exit 7), got %v", err)
		}
	})
}

func TestEchoService(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv string) {
		s := startServer(t, drv, "--http", "80", "--echo", "7")
		s.waitHTTP(t, "http://"+serverAddr+"/")
		// The kernel's TCP in the client namespace, driven by a tiny Go-free client:
		// bash's /dev/tcp writes a line, half-closes, and reads the echo back.
		msg := "hello from the linux kernel\n"
		script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/7; printf '%%s\n' 'hello from the linux kernel' >&3; timeout 5 head -n1 <&3`, serverAddr)
		out, err := s.client(t, 10*time.Second, "bash", "-c", script)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := bufio.NewReader(bytes.NewReader(out)).ReadString('\n'); got != msg {
			t.Fatalf("echo returned %q, want %q", out, msg)
		}
	})
}

// TestEchoBulkUpload: 4 MiB written by the Linux client's TCP (with the
// client veth's TSO, so the server side receives super-frames: whole through
// AF_PACKET's and the TAP device's virtio-net header) come back unchanged
// from the echo service.
func TestEchoBulkUpload(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv string) {
		data := make([]byte, 4<<20)
		rand.NewChaCha8([32]byte{4, 2}).Read(data)
		file := filepath.Join(t.TempDir(), "up.bin")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(data)
		s := startServer(t, drv, "--echo", "7")
		s.waitPing(t)
		script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/7; cat %s >&3 & timeout 20 head -c %d <&3 | sha256sum`, serverAddr, file, len(data))
		out, err := s.client(t, 30*time.Second, "bash", "-c", script)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Fields(string(out)); len(got) == 0 || got[0] != hex.EncodeToString(want[:]) {
			t.Fatalf("sha256 of the echo = %q, want %s", out, hex.EncodeToString(want[:]))
		}
	})
}
