package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// lossTable is the nftables table of the loss scenario, in the client
// namespace.
const lossTable = "benchloss"

// setLoss makes the client namespace drop p % of TCP segments both ways:
// nftables' numgen random in the input and output hooks, as issue 11
// measured. Offloads are off on both veths (startEnv), so a drop in the
// input hook is one segment. The output hook sees the client's TCP's own
// GSO packets (up to ~40 segments of upload data; an ACK is one packet),
// and a drop there is a local send error for that TCP, which sends the
// packet again later: the upload rows are no loss on the wire. p = 0
// removes the rules. With -loss-at bridge the drops happen between the
// namespaces instead (bridgeLab), a loss on the wire both ways.
func (e *env) setLoss(ctx context.Context, p float64) error {
	ns, family, hooks, match := e.lab.ClientNS(), "inet", []string{"input", "output"}, "meta l4proto tcp"
	if e.bridge {
		// -loss-at bridge: frames are dropped as the middle namespace's
		// bridge forwards them, both ways, silently for both TCPs.
		ns, family, hooks, match = e.midNS(), "bridge", []string{"forward"}, "ether type ip ip protocol tcp"
	}
	exec.CommandContext(ctx, "ip", "netns", "exec", ns, "nft", "delete", "table", family, lossTable).Run()
	if p == 0 {
		return nil
	}
	if p != float64(int(p)) || p < 0 || p > 100 {
		return fmt.Errorf("loss %g %%: want a whole percentage", p)
	}
	rule := fmt.Sprintf("%s numgen random mod 100 < %d counter drop", match, int(p))
	ruleset := fmt.Sprintf("table %s %s {\n", family, lossTable)
	for _, hook := range hooks {
		ruleset += fmt.Sprintf("\tchain %s {\n\t\ttype filter hook %s priority 0; policy accept;\n\t\t%s\n\t}\n", hook, hook, rule)
	}
	ruleset += "}\n"
	c := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "nft", "-f", "-")
	c.Stdin = strings.NewReader(ruleset)
	if b, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %v: %s", err, b)
	}
	return nil
}

// lossBound bounds one transfer under loss.
const lossBound = 90 * time.Second

// lossRun measures goodput of a download and an upload of cfg.lossSize
// octets at one loss level.
func (e *env) lossRun(ctx context.Context, r *runner, p float64) (map[string]float64, error) {
	if err := e.setLoss(ctx, p); err != nil {
		return nil, err
	}
	defer e.setLoss(ctx, 0)
	res := map[string]float64{}
	var errs []string
	for _, dir := range []string{"dl", "ul"} {
		bps, _, err := e.transfer(ctx, r, dir, r.cfg.lossSize, lossBound)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", dir, err))
			continue
		}
		res[lossKey(dir, p)] = bps / 1e6
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("%g %% loss: %s", p, strings.Join(errs, "; "))
	}
	return res, nil
}
