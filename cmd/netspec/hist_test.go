package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netspec/netspec/driver/history"
)

const histConn = "198.18.0.1:40001>198.18.0.2:7#0"

// writeHist writes a one-connection history: the client sends "hello", the
// server reads got.
func writeHist(t *testing.T, got string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w, err := history.CreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range []history.Record{
		{Conn: histConn, End: history.Client, Op: history.OpDial},
		{Conn: histConn, End: history.Server, Op: history.OpAccept},
		{Conn: histConn, End: history.Client, Op: history.OpWrite, Data: []byte("hello")},
		{Conn: histConn, End: history.Server, Op: history.OpRead, Data: []byte(got)},
	} {
		r.Call, r.Ret = int64(10*i), int64(10*i+5)
		w.Write(r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func runHistArgs(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"hist"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestHistCheckLinearizable(t *testing.T) {
	path := writeHist(t, "hel")
	html := filepath.Join(t.TempDir(), "h.html")
	code, stdout, stderr := runHistArgs("check", path, "--html", html)
	if code != exitOK || !strings.Contains(stdout, "4 operations, 1 connections") || !strings.Contains(stdout, "linearizable (checked in") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(html); err != nil || !bytes.Contains(b, []byte("<html")) {
		t.Fatalf("--html wrote %d bytes, %v", len(b), err)
	}
}

func TestHistCheckNotLinearizable(t *testing.T) {
	path := writeHist(t, "help") // bytes never written
	code, stdout, _ := runHistArgs("check", "--timeout", "1m", path)
	if code != exitFailure || !strings.Contains(stdout, "NOT linearizable: 1 of 1 connections fail; the smallest is "+histConn+" (4 operations)") ||
		!strings.Contains(stdout, `s read 4B "help"`) {
		t.Fatalf("exit %d, stdout:\n%s", code, stdout)
	}
}

func TestHistCheckInconclusive(t *testing.T) {
	path := writeHist(t, "hel")
	code, stdout, _ := runHistArgs("check", path, "--timeout", "1ns")
	if code != exitInconclusive || !strings.Contains(stdout, "INCONCLUSIVE") {
		t.Fatalf("a check out of time: exit %d, stdout:\n%s", code, stdout)
	}
}

func TestHistCheckArgs(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte(`{"conn":"x","end":"c","op":"fly","call":1,"ret":2}`+"\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check"}, "netspec: hist check: want a history FILE\n"},
		{[]string{"verify", "x"}, "netspec: hist: want \"hist check FILE\"\n"},
		{[]string{"check", "/nonexistent/h.jsonl"}, "netspec: hist check: read history: open /nonexistent/h.jsonl: no such file or directory\n"},
		{[]string{"check", bad}, "netspec: hist check: " + bad + ": history line 1: unknown op \"fly\"\n"},
		{[]string{"check", "--timeout", "0s", bad}, "netspec: --timeout: want a positive duration\n"},
		{[]string{"check", "--frob", bad}, "netspec: hist check: flag provided but not defined: -frob\n"},
	} {
		code, _, stderr := runHistArgs(tc.args...)
		if code != exitUsage || stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestServeHistoryFlag(t *testing.T) {
	cfg, err := parseServe([]string{"--lab", "--echo", "7", "--history", "h.jsonl"}, &bytes.Buffer{})
	if err != nil || cfg.history != "h.jsonl" {
		t.Fatalf("parseServe = %+v, %v", cfg, err)
	}
}
