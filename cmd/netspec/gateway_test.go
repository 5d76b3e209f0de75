package main

import (
	"io"
	"net/netip"
	"strings"
	"testing"
)

// TestServeGateway: --gateway sets the next hop for off-link destinations
// (default none: on-link only) and reaches the library's options; a bad
// address, or one outside --addr's prefix, is a usage error (exit 2) with a
// one-line reason.
func TestServeGateway(t *testing.T) {
	base := []string{"--iface", "veth0", "--addr", "198.18.0.2/24"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	c, err := parseServe(base, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.gateway.IsValid() || c.options(nil).Gateway.IsValid() {
		t.Errorf("gateway %v without --gateway", c.gateway)
	}
	gw := netip.MustParseAddr("198.18.0.1")
	for _, args := range [][]string{with("--gateway", "198.18.0.1"), {"--lab", "--gateway=198.18.0.1"}} {
		c, err := parseServe(args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if c.gateway != gw || c.options(nil).Gateway != gw {
			t.Errorf("%v: gateway %v, options %v", args, c.gateway, c.options(nil).Gateway)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{with("--gateway", "router"), "netspec: --gateway: bad address \"router\"\n"},
		{with("--gateway", "198.18.0.1/24"), "netspec: --gateway: bad address \"198.18.0.1/24\"\n"},
		{with("--gateway", "198.18.1.1"), "netspec: --gateway: 198.18.1.1 is outside 198.18.0.0/24 (a gateway must be on-link)\n"},
		{with("--gateway", "198.18.0.2"), "netspec: --gateway: 198.18.0.2 is our own address\n"},
		{with("--gateway", "198.18.0.255"), "netspec: --gateway: 198.18.0.255 is the network or broadcast address of 198.18.0.0/24\n"},
		{with("--gateway", "2001:db8::1"), "netspec: --gateway: 2001:db8::1 is not IPv4\n"},
		{[]string{"--iface", "veth0", "--addr", "198.18.0.2/32", "--gateway", "198.18.0.1"}, "netspec: --gateway: 198.18.0.1 is outside 198.18.0.2/32 (a gateway must be on-link)\n"},
	} {
		f := &fakeEnv{}
		code, _, stderr := runFake(f, append([]string{"serve"}, tc.args...)...)
		if code != exitUsage || stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q\nwant exit 2, %q", tc.args, code, stderr, tc.want)
		}
		if f.served != nil {
			t.Errorf("%v: serve ran", tc.args)
		}
	}

	var help strings.Builder
	if _, err := parseServe([]string{"-h"}, &help); err != errHelp || !strings.Contains(help.String(), "-gateway") {
		t.Errorf("help lacks --gateway:\n%s", help.String())
	}
}
