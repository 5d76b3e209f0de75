package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/pipe"
)

// fakeEnv is a system with root privileges, interface "veth0" and directory
// "/srv/www"; serve and lab only record what they were asked to do.
type fakeEnv struct {
	euid     int
	served   *serveConfig
	labCalls []string
}

func (f *fakeEnv) env() env {
	return env{
		geteuid: func() int { return f.euid },
		ifaceOK: func(name string) error {
			if name == "veth0" {
				return nil
			}
			return fs.ErrNotExist
		},
		isDir: func(path string) error {
			if path == "/srv/www" {
				return nil
			}
			return &fs.PathError{Op: "stat", Path: path, Err: fs.ErrNotExist}
		},
		signalCtx: func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		},
		serve: func(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer) int {
			f.served = &cfg
			return exitOK
		},
		lab: func(cmd string, cfg lab.Config, stdout io.Writer) error {
			f.labCalls = append(f.labCalls, cmd+":"+cfg.Prefix+":"+cfg.Driver)
			return nil
		},
	}
}

func runFake(f *fakeEnv, args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = runEnv(f.env(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestServeArgErrors(t *testing.T) {
	base := []string{"serve", "--iface", "veth0", "--addr", "198.18.0.2/24"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	cases := []struct {
		name string
		euid int
		args []string
		want string // the whole stderr, one line
	}{
		{"no command", 0, nil, ""},
		{"unknown command", 0, []string{"frobnicate"}, "netspec: unknown command \"frobnicate\" (want serve, lab, stat, ss, diagram, check or hist)\n"},
		{"not root", 1000, base, "netspec: serve: must run as root (AF_PACKET sockets need CAP_NET_RAW)\n"},
		{"not root tap", 1000, with("--driver", "tap"), "netspec: serve: must run as root (TAP devices need CAP_NET_ADMIN)\n"},
		{"no such interface", 0, []string{"serve", "--iface", "nope0", "--addr", "198.18.0.2/24"}, "netspec: --iface: no such interface \"nope0\"\n"},
		{"missing iface", 0, []string{"serve", "--addr", "198.18.0.2/24"}, "netspec: --iface: required (or --lab)\n"},
		{"bad iface name", 0, []string{"serve", "--iface", "a/b", "--addr", "198.18.0.2/24"}, "netspec: --iface: bad interface name \"a/b\"\n"},
		{"missing addr", 0, []string{"serve", "--iface", "veth0"}, "netspec: --addr: required, e.g. 198.18.0.2/24\n"},
		{"addr no prefix", 0, []string{"serve", "--iface", "veth0", "--addr", "198.18.0.2"}, "netspec: --addr: \"198.18.0.2\" has no prefix length, e.g. 198.18.0.2/24\n"},
		{"addr garbage", 0, []string{"serve", "--iface", "veth0", "--addr", "198.18.0.300/24"}, "netspec: --addr: bad address/prefix \"198.18.0.300/24\"\n"},
		{"addr prefix too long", 0, []string{"serve", "--iface", "veth0", "--addr", "198.18.0.2/33"}, "netspec: --addr: bad address/prefix \"198.18.0.2/33\"\n"},
		{"addr prefix 0", 0, []string{"serve", "--iface", "veth0", "--addr", "198.18.0.2/0"}, "netspec: --addr: bad prefix length /0: want 1..32\n"},
		{"addr ipv6", 0, []string{"serve", "--iface", "veth0", "--addr", "2001:db8::1/64"}, "netspec: --addr: 2001:db8::1 is not IPv4\n"},
		{"addr multicast", 0, []string{"serve", "--iface", "veth0", "--addr", "224.0.0.1/4"}, "netspec: --addr: 224.0.0.1 is not a unicast host address\n"},
		{"addr network", 0, []string{"serve", "--iface", "veth0", "--addr", "198.18.0.0/24"}, "netspec: --addr: 198.18.0.0 is the network or broadcast address of 198.18.0.0/24\n"},
		{"addr broadcast", 0, []string{"serve", "--iface", "veth0", "--addr", "198.18.0.255/24"}, "netspec: --addr: 198.18.0.255 is the network or broadcast address of 198.18.0.0/24\n"},
		{"port 0", 0, with("--http", "0"), "netspec: --http: bad port 0: want 1..65535\n"},
		{"port too big", 0, with("--echo", "65536"), "netspec: --echo: bad port 65536: want 1..65535\n"},
		{"port not a number", 0, with("--discard", "ssh"), "netspec: --discard: bad port \"ssh\": not a number\n"},
		{"duplicate ports", 0, with("--http", "8080", "--echo", "8080"), "netspec: --echo: port 8080 already used by --http\n"},
		{"metrics on a service port", 0, with("--metrics", "80"), "netspec: --metrics: port 80 already used by --http (default)\n"},
		{"metrics bad port", 0, with("--metrics", "0"), "netspec: --metrics: bad port 0: want 1..65535\n"},
		{"metrics-listen not addr:port", 0, with("--metrics-listen", "localhost"), "netspec: --metrics-listen: \"localhost\" is not ADDR:PORT\n"},
		{"diagram unknown machine", 0, []string{"diagram", "udp"}, "netspec: diagram: want a machine, one of tcp, ipv4, frag, arp (got \"udp\")\n"},
		{"diagram unknown format", 0, []string{"diagram", "tcp", "--format", "png"}, "netspec: diagram: --format: unknown format \"png\" (want dot, svg or mermaid)\n"},
		{"stat extra argument", 0, []string{"stat", "now"}, "netspec: stat: unexpected argument \"now\"\n"},
		{"duplicate with default http", 0, with("--root", "/srv/www", "--echo", "80"), "netspec: --echo: port 80 already used by --http (default)\n"},
		{"root missing", 0, with("--root", "/nonexistent"), "netspec: --root: /nonexistent: file does not exist\n"},
		{"root checked before privileges", 1000, with("--root", "/nonexistent"), "netspec: --root: /nonexistent: file does not exist\n"},
		{"bad mac", 0, with("--mac", "02:00:00:00:00"), "netspec: --mac: bad MAC address \"02:00:00:00:00\" (want xx:xx:xx:xx:xx:xx)\n"},
		{"multicast mac", 0, with("--mac", "01:00:5e:00:00:01"), "netspec: --mac: 01:00:5e:00:00:01 is not a unicast address\n"},
		{"zero mac", 0, with("--mac", "00:00:00:00:00:00"), "netspec: --mac: 00:00:00:00:00:00 is not a unicast address\n"},
		{"unknown driver", 0, with("--driver", "dpdk"), "netspec: --driver: unknown driver \"dpdk\" (want afpacket or tap)\n"},
		{"unknown flag", 0, with("--frob"), "netspec: serve: flag provided but not defined: -frob\n"},
		{"stray argument", 0, with("extra"), "netspec: serve: unexpected argument \"extra\"\n"},
		{"iface with lab", 0, []string{"serve", "--lab", "--iface", "veth0"}, "netspec: --iface: not allowed with --lab (the lab chooses the interface)\n"},
		{"lab prefix without lab", 0, with("--lab-prefix", "x"), "netspec: --lab-prefix: only with --lab\n"},
		{"hist without check", 0, []string{"hist", "x"}, "netspec: hist: want \"hist check FILE\"\n"},
		{"negative drain", 0, with("--drain", "-1s"), "netspec: --drain: -1s is negative\n"},
		{"faults not key=value", 0, with("--faults", "loss"), "netspec: --faults: \"loss\" is not KEY=VALUE\n"},
		{"faults unknown key", 0, with("--faults", "jitter=1"), "netspec: --faults: unknown key \"jitter\" (want loss, dup, reorder, corrupt, txloss or seed)\n"},
		{"faults not a probability", 0, with("--faults", "loss=2"), "netspec: --faults: loss=2: want a probability in [0,1]\n"},
		{"negative loops", 0, with("--loops", "-1"), "netspec: --loops: -1: want 0..256\n"},
		{"loops on tap", 0, with("--loops", "2", "--driver", "tap"), "netspec: --loops: 2 loops need the afpacket driver (a TAP device has one queue)\n"},
		{"loops with pcap", 0, with("--loops", "2", "--pcap", "x.pcapng"), "netspec: --loops: 2 loops with a capture: one capture file is written by one loop\n"},
		{"loops with faults", 0, with("--loops", "2", "--faults", "loss=0.1"), "netspec: --loops: 2 loops with --faults: the faults impair one link\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeEnv{euid: tc.euid}
			code, _, stderr := runFake(f, tc.args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want 2", code)
			}
			if tc.want != "" && stderr != tc.want {
				t.Errorf("stderr = %q\nwant     %q", stderr, tc.want)
			}
			if strings.Count(stderr, "\n") != 1 && tc.args != nil {
				t.Errorf("stderr is not one line: %q", stderr)
			}
			if f.served != nil {
				t.Error("serve ran despite bad arguments")
			}
		})
	}
}

func TestServeArgsAccepted(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		services string
		check    func(t *testing.T, c serveConfig)
	}{
		{"defaults to demo http on 80", []string{"--iface", "veth0", "--addr", "198.18.0.2/24"}, "http/80", func(t *testing.T, c serveConfig) {
			if c.root != "" || c.driver != "afpacket" || c.mac != [6]byte{} {
				t.Errorf("cfg = %+v", c)
			}
			if c.addr != netip.MustParsePrefix("198.18.0.2/24") {
				t.Errorf("addr = %v", c.addr)
			}
		}},
		{"echo only", []string{"--iface", "veth0", "--addr", "198.18.0.2/24", "--echo", "7"}, "echo/7", nil},
		{"root implies http 80", []string{"--iface", "veth0", "--addr", "198.18.0.2/24", "--root", "/srv/www", "--discard", "9"}, "http/80,discard/9", func(t *testing.T, c serveConfig) {
			if c.root != "/srv/www" {
				t.Errorf("root = %q", c.root)
			}
		}},
		{"all services", []string{"--iface=veth0", "--addr=198.18.0.2/24", "--http=8080", "--echo=7", "--discard=9", "--mac=02:00:00:00:00:02"}, "http/8080,echo/7,discard/9", func(t *testing.T, c serveConfig) {
			if c.mac != [6]byte{2, 0, 0, 0, 0, 2} {
				t.Errorf("mac = %v", c.mac)
			}
		}},
		{"lab defaults its address", []string{"--lab"}, "http/80", func(t *testing.T, c serveConfig) {
			if !c.lab || c.addr != netip.MustParsePrefix("198.18.0.2/24") || c.iface != "" {
				t.Errorf("cfg = %+v", c)
			}
		}},
		{"host route /32", []string{"--iface", "veth0", "--addr", "198.18.0.2/32"}, "http/80", nil},
		// A missing TAP device is created, so the interface need not exist.
		{"tap driver", []string{"--driver", "tap", "--iface", "tap7", "--addr", "198.18.0.2/24", "--mac", "02:00:00:00:00:02"}, "http/80", func(t *testing.T, c serveConfig) {
			if c.driver != "tap" || c.iface != "tap7" || c.mac != [6]byte{2, 0, 0, 0, 0, 2} {
				t.Errorf("cfg = %+v", c)
			}
		}},
		{"lab on tap", []string{"--lab", "--driver", "tap"}, "http/80", func(t *testing.T, c serveConfig) {
			if !c.lab || c.driver != "tap" {
				t.Errorf("cfg = %+v", c)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeEnv{}
			code, _, stderr := runFake(f, append([]string{"serve"}, tc.args...)...)
			if code != exitOK || f.served == nil {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			var got []string
			for _, s := range f.served.services {
				got = append(got, s.kind+"/"+itoa(int(s.port)))
			}
			if strings.Join(got, ",") != tc.services {
				t.Errorf("services = %v, want %s", got, tc.services)
			}
			if tc.check != nil {
				tc.check(t, *f.served)
			}
		})
	}
}

func itoa(n int) string {
	var b [8]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"serve", "-h"}, {"lab", "up", "--help"}} {
		code, stdout, _ := runFake(&fakeEnv{}, args...)
		if code != exitOK || !strings.Contains(stdout, "usage:") {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout)
		}
	}
}

func TestLabArgs(t *testing.T) {
	f := &fakeEnv{}
	if code, _, stderr := runFake(f, "lab", "up", "--prefix", "t1"); code != exitOK {
		t.Fatalf("lab up: exit %d %q", code, stderr)
	}
	if code, _, stderr := runFake(f, "lab", "up", "--prefix", "t2", "--driver", "tap"); code != exitOK {
		t.Fatalf("lab up --driver tap: exit %d %q", code, stderr)
	}
	if code, _, _ := runFake(f, "lab", "status"); code != exitOK {
		t.Fatal("lab status failed")
	}
	if got := strings.Join(f.labCalls, " "); got != "up:t1:afpacket up:t2:tap status::afpacket" {
		t.Fatalf("lab calls = %q", got)
	}
	bad := []struct {
		args []string
		euid int
		want string
	}{
		{[]string{"lab"}, 0, "netspec: lab: want up, down or status\n"},
		{[]string{"lab", "sideways"}, 0, "netspec: lab: unknown command \"sideways\" (want up, down or status)\n"},
		{[]string{"lab", "up", "x"}, 0, "netspec: lab up: unexpected argument \"x\"\n"},
		{[]string{"lab", "up", "--driver", "dpdk"}, 0, "netspec: lab: --driver: unknown driver \"dpdk\" (want afpacket or tap)\n"},
		{[]string{"lab", "down"}, 1000, "netspec: lab: must run as root (it creates network namespaces)\n"},
	}
	for _, tc := range bad {
		f := &fakeEnv{euid: tc.euid}
		code, _, stderr := runFake(f, tc.args...)
		if code != exitUsage || stderr != tc.want {
			t.Errorf("%v: exit %d stderr %q, want 2 %q", tc.args, code, stderr, tc.want)
		}
		if len(f.labCalls) != 0 {
			t.Errorf("%v: lab ran", tc.args)
		}
	}
}

// TestParseFaults: --faults sets each field of the fault wrapper.
func TestParseFaults(t *testing.T) {
	cfg, err := parseServe([]string{"--iface", "veth0", "--addr", "198.18.0.2/24", "--faults", "loss=0.01,dup=0.02,reorder=0.03,corrupt=0.004,txloss=0.05,seed=9"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := pipe.Faults{Seed: 9, Loss: 0.01, Duplicate: 0.02, Reorder: 0.03, Corrupt: 0.004, TxLoss: 0.05}
	if cfg.faults == nil || *cfg.faults != want {
		t.Fatalf("--faults parsed as %+v, want %+v", cfg.faults, want)
	}
	if cfg, _ := parseServe([]string{"--iface", "veth0", "--addr", "198.18.0.2/24"}, io.Discard); cfg.faults != nil || cfg.drain != defaultDrain {
		t.Fatalf("defaults: faults %+v, drain %v; want none and %v", cfg.faults, cfg.drain, defaultDrain)
	}
}

// TestLoopsDefault: --loops 0 (the default) is one loop per core on
// AF_PACKET, and one where several cannot run; a number is taken as given.
func TestLoopsDefault(t *testing.T) {
	base := []string{"--iface", "veth0", "--addr", "198.18.0.2/24"}
	for _, tc := range []struct {
		extra []string
		want  int
	}{
		{nil, runtime.NumCPU()},
		{[]string{"--loops", "3"}, 3},
		{[]string{"--loops", "1"}, 1},
		{[]string{"--driver", "tap"}, 1},
		{[]string{"--pcap", "x.pcapng"}, 1},
		{[]string{"--faults", "loss=0.1"}, 1},
	} {
		cfg, err := parseServe(append(append([]string{}, base...), tc.extra...), io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.extra, err)
		}
		if got := cfg.options(nil).Loops; got != tc.want {
			t.Errorf("%v: %d loops, want %d", tc.extra, got, tc.want)
		}
	}
}
