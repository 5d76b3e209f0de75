// Command rulecov merges the spec-row coverage files that tests wrote to a
// directory (NETSPEC_RULECOV_DIR) and prints the rows no test fired, MUST rows
// first, then the totals. A row that no test can fire is printed with the
// reason (cover.Row.Why) and tagged "  ok"; an unfired row without one is
// tagged "MISS" and makes the exit status 1. make rule-coverage runs it.
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
	nmust, unexplained, explained := 0, 0, 0
	for _, r := range missing {
		must, why := "    ", r.Why()
		if r.Must() {
			must = "MUST"
			nmust++
		}
		tag := "  ok"
		if why == "" {
			tag = "MISS"
			unexplained++
		} else {
			explained++
			why = "  -- " + why
		}
		fmt.Printf("%s %s never fired: %-5s %-22s %-32s %s %s%s\n", tag, must, r.Machine, r.Src, r.Cell, r.Anchor, strings.Join(r.Reqs, " "), why)
	}
	total := len(c.Rows())
	fmt.Printf("rule coverage: %d of %d rows fired (%d files); %d MUST rows never fired; %d unfired rows explained, %d unexplained\n",
		total-len(missing), total, len(files), nmust, explained, unexplained)
	if unexplained > 0 {
		os.Exit(1)
	}
}
