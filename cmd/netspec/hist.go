package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/netspec/netspec/driver/history"
	"github.com/netspec/netspec/fuzz/linz"
)

// Exit codes of "hist check" beyond the common ones: 1 means not
// linearizable, and a check that did not finish is never a pass.
const exitInconclusive = 3

// defaultHistTimeout bounds a hist check unless --timeout says otherwise.
const defaultHistTimeout = 5 * time.Minute

// runHist is "netspec hist check FILE... [--html OUT] [--timeout D]": it
// checks recorded histories (several files are merged: the two ends of the
// same connections recorded by different processes) with porcupine. Exit 0:
// linearizable; 1: not (the smallest failing connection is printed); 3:
// inconclusive (the time ran out); 2: bad arguments or an unreadable or
// malformed history.
func runHist(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 || args[0] != "check" {
		return fail(stderr, usagef("hist: want \"hist check FILE\""))
	}
	fs := flag.NewFlagSet("hist check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	html := fs.String("html", "", "write porcupine's HTML picture to `OUT`")
	timeout := fs.Duration("timeout", defaultHistTimeout, "give up (inconclusive, exit 3) after `D`")
	// Flags may come before or after the files.
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, "usage: netspec hist check FILE... [--html OUT] [--timeout D]\n")
				fs.SetOutput(stdout)
				fs.PrintDefaults()
				return exitOK
			}
			return fail(stderr, usagef("hist check: %v", err))
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) == 0 {
		return fail(stderr, usagef("hist check: want a history FILE"))
	}
	if *timeout <= 0 {
		return fail(stderr, usagef("--timeout: want a positive duration"))
	}
	var recs []history.Record
	for _, f := range files {
		r, err := history.ReadHistoryFile(f)
		if err != nil {
			return fail(stderr, usagef("hist check: %v", err))
		}
		recs = append(recs, r...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	rep, err := linz.Check(ctx, recs, linz.Options{})
	if err != nil {
		return fail(stderr, usagef("hist check: %v", err))
	}
	name := strings.Join(files, "+")
	fmt.Fprintf(stdout, "%s: %d operations, %d connections, %d failed opens; hosts recorded: %s\n",
		name, rep.Ops, rep.Conns, rep.Unkeyed, strings.Join(rep.Observed, ", "))
	code := exitOK
	switch rep.Result {
	case linz.Ok:
		fmt.Fprintf(stdout, "linearizable (checked in %v)\n", rep.Elapsed.Round(time.Millisecond))
	case linz.Illegal:
		code = exitFailure
		small := rep.Illegal[0]
		fmt.Fprintf(stdout, "NOT linearizable: %d of %d connections fail; the smallest is %s (%d operations)\n",
			len(rep.Illegal), rep.Conns, small.Conn, small.Ops)
		linz.Explain(stdout, recs, small.Conn, *timeout)
	default:
		code = exitInconclusive
		fmt.Fprintf(stdout, "INCONCLUSIVE: %d of %d connections not decided within %v (never a pass)\n",
			len(rep.Unknown), rep.Conns, *timeout)
	}
	if *html != "" {
		if err := writeHistHTML(*html, recs, rep.Smallest(), *timeout); err != nil {
			fmt.Fprintf(stderr, "netspec: hist check: %v\n", err)
			if code == exitOK {
				code = exitFailure
			}
		} else {
			fmt.Fprintf(stdout, "wrote %s\n", *html)
		}
	}
	return code
}

// writeHistHTML writes porcupine's picture of connection id (all
// connections when id is empty) to path.
func writeHistHTML(path string, recs []history.Record, id string, timeout time.Duration) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("html: %w", err)
	}
	if err := linz.WriteHTML(f, recs, id, timeout); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("html: %w", err)
	}
	return nil
}

// closeHistory flushes and closes the history of a serve run.
func closeHistory(w *history.Writer, path string, log *slog.Logger) {
	if err := w.Close(); err != nil {
		log.Error("history not written completely", "file", path, "err", err)
		return
	}
	log.Info("history written", "file", path, "records", w.Len())
}
