package main

import (
	"io"
	"strings"
	"testing"

	"github.com/netspec/netspec/fsm/tcp"
)

// TestServeProfile: --profile picks the spec profile, defaulting to linux;
// an unknown name is a usage error (exit 2) naming the choices.
func TestServeProfile(t *testing.T) {
	base := []string{"--iface", "veth0", "--addr", "198.18.0.2/24"}
	for _, tc := range []struct {
		args []string
		want tcp.Profile
	}{
		{base, tcp.ProfileLinux},
		{append(append([]string{}, base...), "--profile", "rfc9293"), tcp.ProfileRfc9293},
		{append(append([]string{}, base...), "--profile=linux"), tcp.ProfileLinux},
	} {
		c, err := parseServe(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if c.profile != tc.want {
			t.Errorf("%v: profile %v, want %v", tc.args, c.profile, tc.want)
		}
	}
	f := &fakeEnv{}
	code, _, stderr := runFake(f, append([]string{"serve", "--profile", "bsd"}, base...)...)
	if code != 2 || stderr != "netspec: --profile: unknown profile \"bsd\" (want linux or rfc9293)\n" {
		t.Errorf("--profile bsd: exit %d, stderr %q", code, stderr)
	}
	var help strings.Builder
	if _, err := parseServe([]string{"-h"}, &help); err != errHelp || !strings.Contains(help.String(), "-profile") {
		t.Errorf("help: %v\n%s", err, help.String())
	}
}

// TestServeECNAndTTL: --ecn picks the ECN mode (default accept) and --ttl
// the TTL (default 64); bad values are usage errors (exit 2).
func TestServeECNAndTTL(t *testing.T) {
	base := []string{"--iface", "veth0", "--addr", "198.18.0.2/24"}
	for _, tc := range []struct {
		args []string
		ecn  tcp.ECNMode
		ttl  uint8
	}{
		{base, tcp.ECNAccept, 64},
		{append(append([]string{}, base...), "--ecn", "on", "--ttl", "9"), tcp.ECNOn, 9},
		{append(append([]string{}, base...), "--ecn=off"), tcp.ECNOff, 64},
	} {
		c, err := parseServe(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if c.ecn != tc.ecn || c.ttl != tc.ttl {
			t.Errorf("%v: ecn %v ttl %d, want %v %d", tc.args, c.ecn, c.ttl, tc.ecn, tc.ttl)
		}
	}
	f := &fakeEnv{}
	for _, bad := range [][]string{{"--ecn", "maybe"}, {"--ttl", "0"}, {"--ttl", "256"}} {
		code, _, stderr := runFake(f, append(append([]string{"serve"}, bad...), base...)...)
		if code != 2 || !strings.HasPrefix(stderr, "netspec: "+bad[0]) {
			t.Errorf("%v: exit %d, stderr %q", bad, code, stderr)
		}
	}
}
