// Command rulecov merges the spec-row coverage files that tests wrote to a
// directory (NETSPEC_RULECOV_DIR) and prints the rows no test fired, MUST rows
// first, then the totals. A TCP row that no test can fire is printed with
// the reason (cover.Unfireable) and tagged "  ok"; an unfired TCP row without
// one is tagged "MISS" and makes the exit status 1. make rule-coverage runs
// it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/netspec/netspec/fuzz/cover"
)

func main() {
	dir := flag.String("dir", "", "directory of *.cov files")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "rulecov: -dir is required")
		os.Exit(2)
	}
	files, err := filepath.Glob(filepath.Join(*dir, "*.cov"))
	if err != nil || len(files) == 0 {
		fmt.Fprintf(os.Stderr, "rulecov: no coverage files in %s\n", *dir)
		os.Exit(1)
	}
	var c cover.Coverage
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "rulecov: %v\n", err)
			os.Exit(1)
		}
		err = c.Read(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "rulecov: %s: %v\n", p, err)
			os.Exit(1)
		}
	}
	missing := c.Missing()
	must, unexplained, explained := 0, 0, 0
	for _, r := range missing {
		tag, why := "    ", ""
		if r.Must() {
			tag = "MUST"
			must++
		}
		if r.Machine == "tcp" {
			if why = cover.Unfireable(r.Rule); why == "" {
				tag = "MISS"
				unexplained++
			} else {
				tag = "  ok"
				explained++
				why = "  -- " + why
			}
		}
		fmt.Printf("%s never fired: %-5s %-22s %-32s %s %s%s\n", tag, r.Machine, r.Src, r.Cell, r.Anchor, strings.Join(r.Reqs, " "), why)
	}
	total := len(c.Rows())
	fmt.Printf("rule coverage: %d of %d rows fired (%d files); %d MUST rows never fired; tcp: %d unfired rows explained, %d unexplained\n",
		total-len(missing), total, len(files), must, explained, unexplained)
	if unexplained > 0 {
		os.Exit(1)
	}
}
