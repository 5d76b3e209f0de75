package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/netspec/netspec/driver/lab/labtest"
)

// browserTimeout bounds everything one browser does in a test: start,
// load, every wait and the screenshot. A loaded 2-core machine has taken
// a minute to start Chromium.
const browserTimeout = 3 * time.Minute

// pageState is what the status page shows, read from its DOM.
type pageState struct {
	Events int // server-sent events drawn
	Segs   int // the tcp.SegsIn counter shown (-1: not shown)
	Estab  []struct {
		State, Local, Peer, Rule string
	} // the rows of ESTABLISHED connections
	Busy  int    // the connections the diagram shows in Established
	Trace string // the trace lines shown
}

// readPage is a JavaScript expression that returns a pageState once the page
// drew more than `after` events, and false before.
func readPage(after int) string {
	return fmt.Sprintf(`(() => {
		const events = +(document.body.dataset.events || 0);
		if (events <= %d) return false;
		const c = document.querySelector('#groups div.c[data-name="tcp.SegsIn"]');
		const g = [...document.querySelectorAll('#svg g.node')].find(g => g.querySelector('title').textContent === 'Established');
		return {
			Events: events,
			Segs: c ? +c.dataset.value : -1,
			Estab: [...document.querySelectorAll('#sockets tbody tr[data-state="Established"]')].map(r =>
				({State: r.cells[0].textContent, Local: r.cells[3].textContent, Peer: r.cells[4].textContent, Rule: r.cells[r.cells.length - 1].textContent})),
			Busy: g ? +(g.dataset.count || 0) : -1,
			Trace: document.getElementById('tracelines').textContent,
		};
	})()`, after)
}

// TestBrowserStatusPage: Debian's headless Chromium, run inside the lab's
// client namespace, opens the live status page http://198.18.0.2/netspec/.
// The page shows the browser's own connection (the port Linux's ss lists
// for it in the client namespace) ESTABLISHED in the table, with the spec
// row that last fired for it, counts it in the diagram's Established state, shows its frames in the trace, and its
// tcp.SegsIn counter moves from one server-sent event to the next; a curl
// connection made meanwhile shows in the trace from its SYN. A screenshot
// is saved under $ARTIFACTS (default e2e/testdata-out/).
func TestBrowserStatusPage(t *testing.T) {
	forEachDriver(t, func(t *testing.T, drv string) {
		s := startServer(t, drv)
		needBrowser(t, s)
		s.waitHTTP(t, "http://"+serverAddr+"/netspec/")

		ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
		defer cancel()
		var out labtest.SyncBuffer
		actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(browserInClientNS(t, s)),
			chromedp.NoSandbox, // as root; the lab namespaces are the fence
			chromedp.DisableGPU,
			chromedp.WindowSize(1400, 1200),
			chromedp.CombinedOutput(&out),
		)...)
		defer acancel()
		bctx, bcancel := chromedp.NewContext(actx)
		defer func() {
			bcancel()
			if t.Failed() {
				t.Logf("chromium output:\n%s", out.String())
			}
		}()
		if err := chromedp.Do(bctx, chromedp.Navigate("http://"+serverAddr+"/netspec/")); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		wait := func(after int) pageState {
			t.Helper()
			p, err := chromedp.Run(bctx, chromedp.Poll[pageState](readPage(after),
				chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0)))
			if err != nil {
				t.Fatalf("page never drew event %d: %v", after+1, err)
			}
			return p
		}
		first := wait(0)

		ports := browserPorts(t, s)
		var own string
		for _, r := range first.Estab {
			_, port, _ := strings.Cut(r.Peer, ":")
			if r.State == "ESTABLISHED" && r.Local == serverAddr+":80" && strings.HasPrefix(r.Peer, "198.18.0.1:") && slices.Contains(ports, port) {
				own = port
				if !strings.HasPrefix(r.Rule, "spec/tcp.fsm:") {
					t.Errorf("the browser's connection shows rule last fired %q, want a row of spec/tcp.fsm", r.Rule)
				}
			}
		}
		if own == "" {
			t.Fatalf("no row shows the browser's own connection (client ports %v) ESTABLISHED: %+v", ports, first.Estab)
		}
		if first.Busy < 1 {
			t.Errorf("the diagram shows %d connections in Established, want the browser's", first.Busy)
		}
		// A later event: the browser's frames (its ACKs of the stream) moved
		// the counter and are in the trace.
		later := wait(first.Events)
		for later.Segs <= first.Segs || !strings.Contains(later.Trace, ":"+own+">:80 ") {
			later = wait(later.Events)
		}
		// A connection of curl's while the page watches: its SYN shows in the
		// trace, with the spec row that made the connection.
		if _, err := s.client(t, 10*time.Second, "curl", "-sS", "--fail", "-o", "/dev/null", "--max-time", "5", "http://"+serverAddr+"/about.html"); err != nil {
			t.Fatal(err)
		}
		for !strings.Contains(later.Trace, ">:80 SYN LISTEN tcp.fsm:") {
			later = wait(later.Events)
		}
		shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		saveArtifact(t, "status-page-"+drv+".png", shot)
	})
}

// needBrowser fails t when chromium is missing (make test installs
// it) and skips it, saying why, when chromium is installed but cannot run in
// the lab's client namespace.
func needBrowser(t *testing.T, s *server) {
	t.Helper()
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatal("missing tool chromium (as root, make deps or scripts/deps.sh test installs it)")
	}
	browserProbe.Do(func() {
		out, err := s.client(t, browserTimeout, "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "about:blank")
		if err != nil || !strings.Contains(string(out), "<html") {
			browserUnusable = fmt.Sprintf("chromium cannot run here: %v %.300s", err, out)
		}
	})
	if browserUnusable != "" {
		t.Skip(browserUnusable)
	}
}

// browserProbe runs chromium once per test process; browserUnusable is why
// it could not run, empty when it could.
var (
	browserProbe    sync.Once
	browserUnusable string
)

// browserInClientNS writes a script that runs chromium in s's client
// namespace with the arguments chromedp gives, and returns its path. The
// browser inherits the DevTools pipe (descriptors 3 and 4) through ip netns
// exec, so chromedp needs no socket into the namespace.
func browserInClientNS(t *testing.T, s *server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chromium-in-ns")
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s chromium \"$@\"\n", s.lab.ClientNS())
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// browserPorts lists the local ports of the client namespace's established
// TCP connections to the server's port 80: the browser's.
func browserPorts(t *testing.T, s *server) []string {
	t.Helper()
	out, err := s.client(t, 10*time.Second, "ss", "-Htn", "state", "established", "dst", serverAddr, "dport", "=", ":80")
	if err != nil {
		t.Fatal(err)
	}
	var ports []string
	for _, m := range regexp.MustCompile(`198\.18\.0\.1:(\d+)`).FindAllStringSubmatch(string(out), -1) {
		ports = append(ports, m[1])
	}
	return ports
}

// saveArtifact writes data as name under $ARTIFACTS, or e2e/testdata-out/
// when that is not set, and logs where.
func saveArtifact(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := os.Getenv("ARTIFACTS")
	if dir == "" {
		dir = "testdata-out"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot: %s (%d bytes)", abs, len(data))
}
