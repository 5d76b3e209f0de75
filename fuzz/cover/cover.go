// Package cover aggregates spec-row coverage: how often each row of the
// generated tables (tcp.Rules, ip.RxRules, ip.FragRules) fired across test
// runs. Tests register the TCP layers they build (Track) and install IP rule
// traces (TraceIP); at exit they write the counts to $NETSPEC_RULECOV_DIR,
// and `make rule-coverage` merges the files and prints the rows no test fired
// (rulecov). Rows are named by their spec source line (Src), so files from
// different packages of one build merge exactly.
package cover

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
)

// Row is one spec row and its hit count.
type Row struct {
	Machine string   // "tcp", "ipv4", "frag"
	Src     string   // "spec/tcp.fsm:41"
	Cell    string   // "State Event"
	Anchor  string   // RFC clause
	Reqs    []string // requirement IDs
	Hits    uint64
	Rule    *tcp.Rule // the table row when Machine is "tcp"
	// Impossible: the spec marks the row impossible (the cell cannot
	// happen; firing it is an internal error).
	Impossible bool
}

// Must reports whether the row carries a MUST requirement ID.
func (r Row) Must() bool {
	for _, q := range r.Reqs {
		if strings.HasPrefix(q, "MUST-") {
			return true
		}
	}
	return false
}

// Coverage counts hits per row of every generated table.
type Coverage struct {
	TCP  [len(tcp.Rules)]uint64
	Rx   [len(ip.RxRules)]uint64
	Frag [len(ip.FragRules)]uint64
}

// AddLayer adds a TCP layer's RuleHits.
func (c *Coverage) AddLayer(l *tcp.Layer) {
	for i, h := range l.Counters().RuleHits {
		c.TCP[i] += h
	}
}

// TraceIP installs a rule trace on r that counts into c. It replaces any
// trace r had.
func (c *Coverage) TraceIP(r *ip.Receiver) {
	r.SetTrace(func(rx *ip.RxRule, fr *ip.FragRule) {
		if rx != nil {
			c.Rx[rx.ID]++
		}
		if fr != nil {
			c.Frag[fr.ID]++
		}
	})
}

// Merge adds o's counts to c.
func (c *Coverage) Merge(o *Coverage) {
	for i := range c.TCP {
		c.TCP[i] += o.TCP[i]
	}
	for i := range c.Rx {
		c.Rx[i] += o.Rx[i]
	}
	for i := range c.Frag {
		c.Frag[i] += o.Frag[i]
	}
}

// Rows lists every row with its hits, in table order.
func (c *Coverage) Rows() []Row {
	var rows []Row
	for i := range tcp.Rules {
		r := &tcp.Rules[i]
		rows = append(rows, Row{"tcp", r.Src, r.State.String() + " " + r.Event.String(), r.Anchor, r.Reqs, c.TCP[i], r, r.Outcome == tcp.OutImpossible})
	}
	for i := range ip.RxRules {
		r := &ip.RxRules[i]
		rows = append(rows, Row{"ipv4", r.Src, r.State.String() + " " + r.Event.String(), r.Anchor, r.Reqs, c.Rx[i], nil, r.Outcome == ip.RxOutImpossible})
	}
	for i := range ip.FragRules {
		r := &ip.FragRules[i]
		rows = append(rows, Row{"frag", r.Src, r.State.String() + " " + r.Event.String(), r.Anchor, r.Reqs, c.Frag[i], nil, r.Outcome == ip.FragOutImpossible})
	}
	return rows
}

// key names a row in a coverage file: machine, Src and cell (one spec line
// expands to one row per cell).
func key(machine, src, cell string) string { return machine + "\t" + src + "\t" + cell }

// Write writes the counts as lines "machine<TAB>src<TAB>cell<TAB>hits".
func (c *Coverage) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, r := range c.Rows() {
		fmt.Fprintf(bw, "%s\t%d\n", key(r.Machine, r.Src, r.Cell), r.Hits)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cover: write: %w", err)
	}
	return nil
}

// Read adds the counts of a file written by Write. Lines naming rows the
// current tables do not have (a stale file) are an error.
func (c *Coverage) Read(r io.Reader) error {
	idx := map[string]*uint64{}
	for i := range tcp.Rules {
		x := &tcp.Rules[i]
		idx[key("tcp", x.Src, x.State.String()+" "+x.Event.String())] = &c.TCP[i]
	}
	for i := range ip.RxRules {
		x := &ip.RxRules[i]
		idx[key("ipv4", x.Src, x.State.String()+" "+x.Event.String())] = &c.Rx[i]
	}
	for i := range ip.FragRules {
		x := &ip.FragRules[i]
		idx[key("frag", x.Src, x.State.String()+" "+x.Event.String())] = &c.Frag[i]
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, '\t')
		if i < 0 {
			return fmt.Errorf("cover: read: bad line %q", line)
		}
		n, err := strconv.ParseUint(line[i+1:], 10, 64)
		if err != nil {
			return fmt.Errorf("cover: read: bad count in %q: %w", line, err)
		}
		p := idx[line[:i]]
		if p == nil {
			return fmt.Errorf("cover: read: unknown row %q (stale coverage file?)", line[:i])
		}
		*p += n
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("cover: read: %w", err)
	}
	return nil
}

// tracked are the TCP layers registered by Track; Global holds IP counts.
var (
	tracked []*tcp.Layer
	// Global collects the IP traces installed by TrackStack and, via Total,
	// the TCP layers registered in this process.
	Global Coverage
)

// Track registers a TCP layer; Total adds its hits when the run ends.
func Track(l *tcp.Layer) { tracked = append(tracked, l) }

// TrackStack registers a stack's TCP layer and traces its IP receiver into
// Global.
func TrackStack(st *stack.Stack) {
	Track(st.TCP())
	Global.TraceIP(st.IPReceiver())
}

// Total returns Global plus the hits of every tracked layer.
func Total() *Coverage {
	t := Global
	for _, l := range tracked {
		t.AddLayer(l)
	}
	return &t
}

// WriteEnv writes Total to $NETSPEC_RULECOV_DIR/name.cov when the variable
// is set; it does nothing otherwise.
func WriteEnv(name string) error {
	dir := os.Getenv("NETSPEC_RULECOV_DIR")
	if dir == "" {
		return nil
	}
	f, err := os.Create(filepath.Join(dir, name+".cov"))
	if err != nil {
		return fmt.Errorf("cover: %w", err)
	}
	defer f.Close()
	return Total().Write(f)
}

// Missing returns the rows that never fired, MUST rows first.
func (c *Coverage) Missing() []Row {
	var out []Row
	for _, r := range c.Rows() {
		if r.Hits == 0 {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Must() && !out[j].Must() })
	return out
}
