package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// title is a server's name in the tables.
func title(s Server) string {
	switch {
	case s.Name == "gvisor":
		return "gVisor netstack"
	case s.Name == "kernel":
		return "Linux kernel"
	case s.Kind == "baseline":
		return "no stack (net.Pipe)"
	}
	return s.Name
}

// ratioPairs are the ratio columns: every netspec server against every peer.
func ratioPairs(servers []Server) [][2]Server {
	var p [][2]Server
	for _, a := range servers {
		if a.Kind != "netspec" {
			continue
		}
		for _, b := range servers {
			if b.Kind != "netspec" && b.Kind != "baseline" {
				p = append(p, [2]Server{a, b})
			}
		}
	}
	return p
}

// num formats v with prec decimals and thousands separators.
func num(v float64, prec int) string {
	if math.IsNaN(v) {
		return "–"
	}
	if math.Abs(v) >= 100 && prec > 0 {
		prec = 0
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

// cell is "median ±spread %".
func cell(s summary, f figure) string {
	if s.n == 0 {
		return "–"
	}
	out := num(s.med, f.Prec)
	if sp := s.spread(); !math.IsNaN(sp) {
		out += fmt.Sprintf(" ±%.0f %%", sp)
	}
	return out
}

// table writes one Markdown table of figs.
func table(b *strings.Builder, res *results, figs []figure) {
	pairs := ratioPairs(res.Servers)
	b.WriteString("| figure | unit |")
	for _, s := range res.Servers {
		fmt.Fprintf(b, " %s |", title(s))
	}
	for _, p := range pairs {
		fmt.Fprintf(b, " %s / %s |", title(p[0]), title(p[1]))
	}
	b.WriteString("\n| --- | --- |" + strings.Repeat(" ---: |", len(res.Servers)+len(pairs)) + "\n")
	for _, f := range figs {
		vals := res.Values[f.Key]
		if vals == nil {
			continue
		}
		better := "↑"
		if !f.Higher {
			better = "↓"
		}
		fmt.Fprintf(b, "| %s | %s %s |", f.Label, f.Unit, better)
		for _, s := range res.Servers {
			fmt.Fprintf(b, " %s |", cell(summarize(vals[s.Name]), f))
		}
		for _, p := range pairs {
			a, c := summarize(vals[p[0].Name]), summarize(vals[p[1].Name])
			r := "–"
			if a.n > 0 && c.n > 0 && c.med != 0 {
				r = fmt.Sprintf("%.2f", a.med/c.med)
			}
			fmt.Fprintf(b, " %s |", r)
		}
		b.WriteString("\n")
	}
}

// configOf rebuilds the knobs a saved run used (for the labels).
func configOf(res *results) config {
	atoi := func(k string) int { v, _ := strconv.Atoi(res.Config[k]); return v }
	c := config{rounds: atoi("rounds"), dur: atoi("dur"), abN: atoi("ab_n"), hold: atoi("hold"), lossAt: res.Config["loss_at"]}
	c.big, _ = strconv.ParseInt(res.Config["big"], 10, 64)
	c.lossSize, _ = strconv.ParseInt(res.Config["loss_size"], 10, 64)
	for _, f := range strings.Split(res.Config["losses"], ",") {
		if p, err := strconv.ParseFloat(strings.TrimSpace(f), 64); err == nil {
			c.losses = append(c.losses, p)
		}
	}
	return c
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeReport writes the Markdown report to md (stdout if empty) and the
// plots to plotDir (none if empty). Each scenario is one section; a file
// that has a scenario's markers gets only that section replaced.
func writeReport(res *results, md, plotDir string) error {
	c := configOf(res)
	var pngs []string
	if plotDir != "" {
		var err error
		if pngs, err = writePlots(res, c, plotDir); err != nil {
			return err
		}
	}
	rel := func(p string) string {
		if md == "" {
			return p
		}
		if r, err := filepath.Rel(filepath.Dir(md), p); err == nil {
			return r
		}
		return p
	}
	head := fmt.Sprintf("Measured %s UTC on %s, %s for the whole run (%d round(s), servers interleaved; each cell is the median and ± half the range of the rounds; ↑ higher is better, ↓ lower is better; ratios are of medians).\n\nCommand: `%s`\n\n",
		res.Started.Format("2006-01-02 15:04"), res.Machine, fmtDur(res.Seconds), c.rounds, res.Command)
	sections := map[string]string{}
	var all strings.Builder
	for _, scen := range res.Scenario {
		var b strings.Builder
		b.WriteString(head)
		switch scen {
		case "main":
			table(&b, res, mainFigures(c))
		case "memory":
			table(&b, res, memoryFigures(c))
		case "bulk":
			table(&b, res, bulkFigures(c))
		case "rates":
			table(&b, res, rateFigures(c))
		case "close":
			fmt.Fprintf(&b, "The segment rows are from a `wrk -t2 -c50 -d%ds -H 'Connection: close'` run with tcpdump on the client's veth, before the others in the fresh namespaces (its rate is not a figure: the capture costs CPU), over the connections whose SYN and both FINs (or a RST) it holds; \"client FIN first\" is the share whose client sent its FIN before the server's reached it: the client then holds the TIME-WAIT, and a client whose ports fill with TIME-WAITs connects ever more slowly (the wrk row that follows pays for it).\n\n", capDur)
			table(&b, res, closeFigures(c))
		case "keepalive":
			table(&b, res, keepAliveFigures(c))
		case "inmem":
			fmt.Fprintf(&b, "Each round is one run of bench/inmem's benchmarks (`go test -bench . -benchtime %s`), netspec's, gVisor's and the no-stack floor's sub-benchmarks in turn for each; CPU is the whole process's (both stacks, the link, client and server).\n\n", res.Config["benchtime"])
			table(&b, res, inmemFigures())
		case "loss":
			if c.lossAt == "bridge" {
				fmt.Fprintf(&b, "Goodput of %s transfers, Mbit/s. A third namespace bridges client and server and drops a random share of TCP segments both ways as it forwards them (nftables bridge family, `numgen random mod 100 < N drop`): a loss on the wire for both TCPs; segmentation offloads are off on every veth, so one drop is one segment.\n\n", size(c.lossSize))
			} else {
				fmt.Fprintf(&b, "Goodput of %s transfers, Mbit/s. The client namespace drops a random share of TCP segments both ways (nftables `numgen random mod 100 < N drop` in the input and output hooks); segmentation offloads are off on both veths, so a drop of the server's segments is one segment. The upload rows are no loss on the wire: the output hook sees the client TCP's GSO packets whole, and its drops are local send errors that TCP retries (see below).\n\n", size(c.lossSize))
			}
			table(&b, res, lossFigures(c))
		}
		b.WriteString("\n")
		for _, p := range pngs {
			if filepath.Base(p) == plotFile(scen, c) {
				fmt.Fprintf(&b, "![%s figures](%s)\n\n", scen, rel(p))
			}
		}
		if notes := res.Notes[scen]; len(notes) > 0 {
			b.WriteString("Notes of the run (a figure a round could not measure is left out of its median):\n\n")
			for _, n := range notes {
				fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(n, "\n", " "))
			}
			b.WriteString("\n")
		}
		sections[sectionName(scen, c)] = b.String()
		all.WriteString(b.String())
	}
	if md == "" {
		_, err := os.Stdout.WriteString(all.String())
		return err
	}
	old, err := os.ReadFile(md)
	if err != nil {
		if !os.IsNotExist(err) {
			return err
		}
		old = nil
	}
	return os.WriteFile(md, []byte(mergeSections(string(old), res.Scenario, sections, c)), 0o644)
}

// mergeSections puts each scenario's section into text, the report file's
// contents: between its markers where text has them, else appended at the
// end under a heading of its own with markers, so a later run replaces it
// and a scenario never measured before leaves the other sections alone.
func mergeSections(text string, scens []string, sections map[string]string, c config) string {
	for _, scen := range scens {
		name := sectionName(scen, c)
		body := sections[name]
		if t, found := splice(text, name, body); found {
			text = t
			continue
		}
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		if text != "" {
			text += "\n"
		}
		text += "## Scenario " + name + "\n\n<!-- bench:" + name + " begin -->\n" + body + "<!-- bench:" + name + " end -->\n"
	}
	return text
}

// sectionName is the report file's section a scenario's figures go to: the
// loss scenario measured with -loss-at bridge has its own ("loss-bridge").
func sectionName(scen string, c config) string {
	if scen == "loss" && c.lossAt == "bridge" {
		return "loss-bridge"
	}
	return scen
}

// plotFile is the name of a scenario's plot.
func plotFile(scen string, c config) string { return "bench-" + sectionName(scen, c) + ".png" }

// splice puts body between the markers <!-- bench:NAME begin --> and
// <!-- bench:NAME end --> of text and reports whether it has them.
func splice(text, name, body string) (string, bool) {
	begin, end := "<!-- bench:"+name+" begin -->\n", "<!-- bench:"+name+" end -->"
	i := strings.Index(text, begin)
	j := strings.Index(text, end)
	if i < 0 || j < i {
		return text, false
	}
	return text[:i+len(begin)] + body + text[j:], true
}

func fmtDur(secs float64) string {
	m := int(secs) / 60
	return fmt.Sprintf("%d min %02d s", m, int(secs)%60)
}
