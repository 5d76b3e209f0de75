package netspec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The import rules of docs/architecture.md ("Rooms"), checked on the import
// graph `go list -deps -json ./...` reports. fsm/purity_test.go adds the rules
// an import graph cannot see (no real clock, no global random source).

const module = "github.com/netspec/netspec"

// pureStd are the standard packages fsm/ may import: none reaches the OS, the
// network, real time (time's clock functions are banned by fsm's purity test;
// its types are fine) or shared-memory concurrency. Anything else, os, net,
// sync, syscall, unsafe, math/rand (the global source), crypto/rand, is out.
var pureStd = []string{
	"bytes", "cmp", "container/heap", "container/list", "container/ring",
	"encoding/binary", "encoding/hex", "errors", "fmt", "hash", "hash/crc32",
	"hash/fnv", "io", "iter", "maps", "math", "math/bits", "math/rand/v2",
	"net/netip", "reflect", "slices", "sort", "strconv", "strings", "time",
	"unicode", "unicode/utf8",
}

// fuzzOnly are the property and packet libraries of the fuzz/ suites and
// tests: only packages under fuzz/ (and tests anywhere) may import them.
// gopacket (the maintained fork) is the differential oracle of the parsers
// and reads captures back in tests; driver/pcap writes pcapng itself. The
// unmaintained google/gopacket (v1.1.19 panics on some ARP packets) stays
// listed so that it does not come back.
var fuzzOnly = []string{"github.com/leanovate/gopter", gopacket, "github.com/google/gopacket"}

// gopacket is the maintained packet library (fuzzOnly).
const gopacket = "github.com/gopacket/gopacket"

// testOnly are import path prefixes the netspec binary must not link: the
// testing package (and with it driver/lab/labtest), chromedp (the browser
// test of the status page, e2e/) and fuzzOnly. porcupine is allowed:
// `netspec hist check` is a user command.
var testOnly = append([]string{"testing", "github.com/chromedp"}, fuzzOnly...)

// pkg is one node of the import graph.
type pkg struct {
	ImportPath string
	Standard   bool
	Imports    []string // non-test imports, as the current GOOS builds them
}

// graph maps an import path to its package.
type graph map[string]*pkg

// under reports whether path is dir or below it (dir relative to the module).
func under(path, dir string) bool {
	p := module + "/" + dir
	return path == p || strings.HasPrefix(path, p+"/")
}

// hasPrefixPath reports whether path is one of prefixes or below one.
func hasPrefixPath(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// chain returns the import chain from one package to another (from first),
// or nil when to is not among from's dependencies.
func (g graph) chain(from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var path []string
			for p := cur; p != ""; p = prev[p] {
				path = append(path, p)
			}
			slices.Reverse(path)
			return path
		}
		if g[cur] == nil {
			continue
		}
		for _, imp := range g[cur].Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

// deps returns every package from depends on (not itself), sorted.
func (g graph) deps(from string) []string {
	seen := map[string]bool{from: true}
	stack := []string{from}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if g[cur] == nil {
			continue
		}
		for _, imp := range g[cur].Imports {
			if !seen[imp] {
				seen[imp] = true
				stack = append(stack, imp)
			}
		}
	}
	delete(seen, from)
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// rule is one import rule; check returns one line per violation.
type rule struct {
	name  string
	check func(g graph) []string
}

var rules = []rule{
	{"fsm imports only fsm and pure standard packages", func(g graph) []string {
		var bad []string
		for _, p := range g.sorted() {
			if !under(p.ImportPath, "fsm") {
				continue
			}
			for _, imp := range p.Imports {
				if !under(imp, "fsm") && !slices.Contains(pureStd, imp) {
					bad = append(bad, fmt.Sprintf("%s imports %s", p.ImportPath, imp))
				}
			}
		}
		return bad
	}},
	{"driver never depends on cmd", func(g graph) []string {
		var bad []string
		for _, p := range g.sorted() {
			if !under(p.ImportPath, "driver") {
				continue
			}
			for _, d := range g.deps(p.ImportPath) {
				if under(d, "cmd") {
					bad = append(bad, strings.Join(g.chain(p.ImportPath, d), " -> "))
				}
			}
		}
		return bad
	}},
	{"the root package sits above driver and fsm", func(g graph) []string {
		var bad []string
		for _, p := range g.sorted() {
			if !under(p.ImportPath, "driver") && !under(p.ImportPath, "fsm") {
				continue
			}
			if c := g.chain(p.ImportPath, module); c != nil {
				bad = append(bad, strings.Join(c, " -> "))
			}
		}
		return bad
	}},
	{"the link core serves the drivers, not the other way round", func(g graph) []string {
		var bad []string
		for _, p := range g.sorted() {
			core := under(p.ImportPath, "driver/fdlink")
			drv := under(p.ImportPath, "driver/afpacket") || under(p.ImportPath, "driver/tap")
			for _, imp := range p.Imports {
				inModule := strings.HasPrefix(imp, module+"/")
				switch {
				case core && inModule && imp != module+"/driver" && !under(imp, "fsm"):
					bad = append(bad, fmt.Sprintf("%s imports %s", p.ImportPath, imp))
				case drv && (under(imp, "driver/afpacket") || under(imp, "driver/tap")):
					bad = append(bad, fmt.Sprintf("%s imports %s", p.ImportPath, imp))
				}
			}
		}
		return bad
	}},
	{"only fuzz imports gopter and gopacket", func(g graph) []string {
		var bad []string
		for _, p := range g.sorted() {
			if p.Standard || under(p.ImportPath, "fuzz") || hasPrefixPath(p.ImportPath, fuzzOnly) {
				continue
			}
			for _, imp := range p.Imports {
				if hasPrefixPath(imp, fuzzOnly) {
					bad = append(bad, fmt.Sprintf("%s imports %s", p.ImportPath, imp))
				}
			}
		}
		return bad
	}},
	{"the netspec binary links nothing test-only", func(g graph) []string {
		bin := module + "/cmd/netspec"
		if g[bin] == nil {
			return []string{bin + " is not in the graph"}
		}
		var bad []string
		for _, d := range g.deps(bin) {
			if hasPrefixPath(d, testOnly) {
				bad = append(bad, strings.Join(g.chain(bin, d), " -> "))
			}
		}
		return bad
	}},
}

// sorted returns the graph's packages in import path order.
func (g graph) sorted() []*pkg {
	out := make([]*pkg, 0, len(g))
	for _, p := range g {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *pkg) int { return strings.Compare(a.ImportPath, b.ImportPath) })
	return out
}

// loadGraph runs `go list -deps -json ./...` in the module and decodes the
// stream of package objects it prints.
func loadGraph(t *testing.T) graph {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Standard,Imports", "./...")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	g := graph{}
	dec := json.NewDecoder(&stdout)
	for {
		var p pkg
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		g[p.ImportPath] = &p
	}
	return g
}

// TestImportRules checks every rule on the module's real import graph.
func TestImportRules(t *testing.T) {
	g := loadGraph(t)
	// The graph must hold what the rules are about, or they pass vacuously.
	for _, p := range []string{module, module + "/cmd/netspec", module + "/fsm/tcp", module + "/driver/afpacket", "testing"} {
		if g[p] == nil {
			t.Fatalf("%s missing from go list's graph (%d packages)", p, len(g))
		}
	}
	for _, r := range rules {
		for _, v := range r.check(g) {
			t.Errorf("%s: %s", r.name, v)
		}
	}
}

// TestImportRulesCatch shows each rule failing on a crafted graph that breaks
// it, and passing on the same graph without the offending edge.
func TestImportRulesCatch(t *testing.T) {
	m := func(p string) string { return module + "/" + p }
	// base obeys every rule.
	base := func() graph {
		g := graph{}
		add := func(path string, std bool, imports ...string) {
			g[path] = &pkg{ImportPath: path, Standard: std, Imports: imports}
		}
		add("fmt", true, "os")
		add("os", true, "syscall")
		add("syscall", true)
		add("testing", true, "fmt", "os")
		add("github.com/leanovate/gopter", false, "fmt")
		add("github.com/google/gopacket/layers", false, "fmt")
		add(m("fsm/wire"), false, "fmt", "net/netip")
		add("net/netip", true)
		add(m("fsm/tcp"), false, m("fsm/wire"), "math/rand/v2")
		add("math/rand/v2", true)
		add(m("driver"), false, m("fsm/tcp"), "os")
		add(m("driver/lab"), false, "os")
		add(m("driver/fdlink"), false, m("driver"), m("fsm/wire"), "os")
		add(m("driver/afpacket"), false, m("driver/fdlink"), m("driver"))
		add(m("driver/tap"), false, m("driver/fdlink"), m("fsm/wire"))
		add(m("driver/lab/labtest"), false, m("driver/lab"), "testing")
		add(m("fuzz/props"), false, "github.com/leanovate/gopter", m("fsm/tcp"))
		add(gopacket+"/pcapgo", false, "fmt")
		add(m("driver/pcap"), false, m("driver"))
		add(module, false, m("driver"))
		add(m("cmd/netspec"), false, module, m("driver"), m("driver/lab"), m("driver/pcap"))
		return g
	}
	for _, r := range rules {
		if v := r.check(base()); len(v) != 0 {
			t.Fatalf("%s: base graph should pass, got %v", r.name, v)
		}
	}
	// Each case adds one import edge from -> to (to is made a package if the
	// base graph lacks it) and names a substring of the violation it causes.
	cases := []struct{ rule, from, to, want string }{
		{"fsm imports only fsm and pure standard packages", m("fsm/tcp"), "os",
			m("fsm/tcp") + " imports os"},
		{"fsm imports only fsm and pure standard packages", m("fsm/wire"), m("driver"),
			m("fsm/wire") + " imports " + m("driver")},
		{"driver never depends on cmd", m("driver/lab"), m("cmd/netspec"),
			m("driver/lab") + " -> " + m("cmd/netspec")},
		{"driver never depends on cmd", m("fsm/tcp"), m("cmd/tool"), // through a package outside driver
			m("driver") + " -> " + m("fsm/tcp") + " -> " + m("cmd/tool")},
		{"the root package sits above driver and fsm", m("driver/lab"), module,
			m("driver/lab") + " -> " + module},
		{"the link core serves the drivers, not the other way round", m("driver/fdlink"), m("driver/lab"),
			m("driver/fdlink") + " imports " + m("driver/lab")},
		{"the link core serves the drivers, not the other way round", m("driver/tap"), m("driver/afpacket"),
			m("driver/tap") + " imports " + m("driver/afpacket")},
		{"only fuzz imports gopter and gopacket", m("driver/lab"), "github.com/google/gopacket/layers",
			m("driver/lab") + " imports github.com/google/gopacket/layers"},
		{"only fuzz imports gopter and gopacket", m("driver/pcap"), gopacket + "/pcapgo",
			m("driver/pcap") + " imports " + gopacket + "/pcapgo"},
		{"the netspec binary links nothing test-only", m("driver/pcap"), gopacket + "/pcapgo",
			m("driver/pcap") + " -> " + gopacket + "/pcapgo"},
		{"the netspec binary links nothing test-only", m("cmd/netspec"), m("driver/lab/labtest"),
			m("cmd/netspec") + " -> " + m("driver/lab/labtest") + " -> testing"},
		{"the netspec binary links nothing test-only", m("driver"), m("fuzz/props"),
			m("fuzz/props") + " -> github.com/leanovate/gopter"},
	}
	for _, c := range cases {
		i := slices.IndexFunc(rules, func(r rule) bool { return r.name == c.rule })
		if i < 0 {
			t.Fatalf("no rule %q", c.rule)
		}
		g := base()
		if g[c.to] == nil {
			g[c.to] = &pkg{ImportPath: c.to}
		}
		g[c.from].Imports = append(g[c.from].Imports, c.to)
		v := rules[i].check(g)
		if !slices.ContainsFunc(v, func(s string) bool { return strings.Contains(s, c.want) }) {
			t.Errorf("%s: adding %s -> %s: want a violation containing %q, got %q", c.rule, c.from, c.to, c.want, v)
		}
	}
}
