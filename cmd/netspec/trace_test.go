package main

import (
	"io"
	"testing"
)

// TestParseTraceFlag: --trace alone, with its filter as the next argument
// or after "=", --trace-json alone, and a bad filter refused.
func TestParseTraceFlag(t *testing.T) {
	base := []string{"--iface", "p0", "--addr", "198.18.0.2/24"}
	for _, c := range []struct {
		args   []string
		on     bool
		filter string
		json   string
	}{
		{[]string{"--trace"}, true, "", ""},
		{[]string{"--trace", "--http", "80"}, true, "", ""},
		{[]string{"--trace", "port 80"}, true, "port 80", ""},
		{[]string{"--trace=drops"}, true, "drops", ""},
		{[]string{"--trace", "198.18.0.1:4000>198.18.0.2:80", "--trace-json", "t.jsonl"}, true, "198.18.0.1:4000>198.18.0.2:80", "t.jsonl"},
		{[]string{"--trace-json", "t.jsonl"}, false, "", "t.jsonl"},
		{nil, false, "", ""},
	} {
		cfg, err := parseServe(append(append([]string(nil), base...), c.args...), io.Discard)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if cfg.trace.on != c.on || cfg.trace.filter != c.filter || cfg.traceJSON != c.json {
			t.Errorf("%q: trace %+v json %q", c.args, cfg.trace, cfg.traceJSON)
		}
	}
	if _, err := parseServe(append(base, "--trace", "port eighty"), io.Discard); err == nil {
		t.Error("--trace 'port eighty' accepted")
	}
}
