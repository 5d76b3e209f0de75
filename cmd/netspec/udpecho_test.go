package main

import (
	"io"
	"testing"
)

func TestServeUDPEchoArgs(t *testing.T) {
	cfg, err := parseServe([]string{"--iface", "veth0", "--addr", "198.18.0.2/24", "--udp-echo", "7", "--echo", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []service{{"echo", 7, "--echo"}, {"udp-echo", 7, "--udp-echo"}}
	if len(cfg.services) != len(want) || cfg.services[0] != want[0] || cfg.services[1] != want[1] {
		t.Fatalf("services %v, want %v (TCP and UDP may share a port; no default HTTP)", cfg.services, want)
	}
	if _, err := parseServe([]string{"--iface", "veth0", "--addr", "198.18.0.2/24", "--udp-echo", "0"}, io.Discard); err == nil {
		t.Fatal("--udp-echo 0 accepted")
	}
}
