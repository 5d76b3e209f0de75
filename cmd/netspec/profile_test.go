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
