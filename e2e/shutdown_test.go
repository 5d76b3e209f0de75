package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/lab/labtest"
)

// shutdownGuard bounds every wait of TestShutdownDrainsAndRestarts: far
// above what any step takes, so a hang fails the test instead of stalling it.
const shutdownGuard = 60 * time.Second

// serveProc is a `netspec serve` process the test stops itself.
type serveProc struct {
	cmd  *exec.Cmd
	logs *labtest.SyncBuffer
	done chan struct{} // closed once the process exited
	err  error         // its exit status, read after done
}

// startServe runs netspec serve on the lab's server interface with args,
// its control socket in runDir (every lab names its interfaces alike, so
// servers of concurrent labs must not share /run/netspec); the process is
// killed at cleanup if it is still running.
func startServe(t *testing.T, l *lab.Lab, runDir string, args ...string) *serveProc {
	t.Helper()
	full := append([]string{"netns", "exec", l.ServerNS(), netspecBinary(t), "serve", "--iface", l.ServerIface(), "--addr", serverAddr + "/24"}, args...)
	p := &serveProc{cmd: exec.Command("ip", full...), logs: &labtest.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "NETSPEC_RUN_DIR="+runDir)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("netspec serve %v logs:\n%s", args, p.logs)
		}
	})
	return p
}

// TestShutdownDrainsAndRestarts: SIGTERM while a Linux curl downloads a
// large file. The server stops listening at once (a new connection is
// refused with RST while it drains) but finishes the download: curl gets
// every byte (sha256) and the server's FIN, and the server exits 0 on its
// own, before its --drain bound. A new `netspec serve` on the same
// interface then serves at once: the AF_PACKET socket and the control
// socket were released.
func TestShutdownDrainsAndRestarts(t *testing.T) {
	l := labtest.ForTest(t)
	labtest.NeedTools(t, "curl")
	root := t.TempDir()
	data := make([]byte, 16<<20)
	rand.NewChaCha8([32]byte{14, 14}).Read(data)
	if err := os.WriteFile(filepath.Join(root, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	url := "http://" + serverAddr + "/"
	runDir := t.TempDir()
	srv := startServe(t, l, runDir, "--http", "80", "--root", root, "--drain", shutdownGuard.String())
	s := &server{lab: l, logs: srv.logs}
	s.waitHTTP(t, url)

	// The download, paced by curl so it is still running when SIGTERM comes.
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGuard)
	defer cancel()
	file := filepath.Join(t.TempDir(), "big.bin")
	var curlErr bytes.Buffer
	curl := l.ClientCmd(ctx, "curl", "-sS", "--fail", "--limit-rate", "4M", "-o", file, url+"big.bin")
	curl.Stderr = &curlErr
	if err := curl.Start(); err != nil {
		t.Fatal(err)
	}
	curlDone := make(chan error, 1)
	go func() { curlDone <- curl.Wait() }()
	for fi, _ := os.Stat(file); fi == nil || fi.Size() < 1<<20; fi, _ = os.Stat(file) {
		select {
		case err := <-curlDone:
			t.Fatalf("curl ended (%v) before SIGTERM: %s", err, curlErr.String())
		case <-ctx.Done():
			t.Fatal("the download never passed 1 MiB")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// While it drains, a new connection is refused (curl exit 7); until the
	// signal is handled, the probe is served (exit 0) and we try again.
	for refused := false; !refused; {
		if ctx.Err() != nil {
			t.Fatal("no connection was refused while the server drained")
		}
		err := l.ClientCmd(ctx, "curl", "-sS", "-o", "/dev/null", "--max-time", "5", url).Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
			time.Sleep(20 * time.Millisecond)
		case errors.As(err, &ee) && ee.ExitCode() == 7:
			refused = true
		default:
			t.Fatalf("probe during the drain: %v, want connection refused (curl exit 7)", err)
		}
	}
	select {
	case err := <-curlDone:
		t.Fatalf("the download ended (%v) before a probe was refused: the test proved nothing about the drain", err)
	default:
	}

	select {
	case err := <-curlDone:
		if err != nil {
			t.Fatalf("download after SIGTERM: %v: %s", err, curlErr.String())
		}
	case <-ctx.Done():
		t.Fatal("the download did not finish")
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(got); sum != want {
		t.Fatalf("downloaded %d octets, sha256 %s, want %d octets %s", len(got), hex.EncodeToString(sum[:]), len(data), hex.EncodeToString(want[:]))
	}
	select {
	case <-srv.done:
		if srv.err != nil {
			t.Fatalf("netspec serve exited with %v after SIGTERM, want 0", srv.err)
		}
	case <-ctx.Done():
		t.Fatalf("netspec serve still running %v after SIGTERM", shutdownGuard)
	}
	if !strings.Contains(srv.logs.String(), "drained") {
		t.Errorf("the server did not report a clean drain:\n%s", srv.logs)
	}

	// A restart on the same interface serves at once.
	again := startServe(t, l, runDir, "--http", "80", "--root", root)
	s.logs = again.logs
	s.waitHTTP(t, url)
	out, err := s.client(t, shutdownGuard, "sh", "-c", "curl -sS --fail --max-time 50 "+url+"big.bin | sha256sum")
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(out)); len(f) == 0 || f[0] != hex.EncodeToString(want[:]) {
		t.Fatalf("after the restart: sha256 %q, want %s", out, hex.EncodeToString(want[:]))
	}
	again.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-again.done:
		if again.err != nil {
			t.Fatalf("the restarted server exited with %v, want 0", again.err)
		}
	case <-time.After(shutdownGuard):
		t.Fatal("the restarted server ignored SIGTERM")
	}
}
