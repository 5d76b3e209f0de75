//go:build linux

package lab_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/lab/labtest"
)

func TestLabUpDown(t *testing.T) {
	l := labtest.ForTest(t)
	st, err := lab.Status(l.Config())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(st, "present") != 2 || !strings.Contains(st, "198.18.0.1/24") {
		t.Fatalf("status:\n%s", st)
	}
	// Server side: link up, no IPv4 address, IPv6 disabled.
	err = l.RunInServerNS(func() error {
		ifi, err := net.InterfaceByName(l.ServerIface())
		if err != nil {
			return err
		}
		if ifi.Flags&net.FlagUp == 0 {
			t.Errorf("server veth is down: %v", ifi.Flags)
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			return err
		}
		if len(addrs) != 0 {
			t.Errorf("server veth has addresses %v, want none", addrs)
		}
		b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + l.ServerIface() + "/disable_ipv6")
		if err == nil && strings.TrimSpace(string(b)) != "1" {
			t.Errorf("server veth disable_ipv6 = %q", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The calling thread is back in the original namespace.
	if _, err := net.InterfaceByName(l.ServerIface()); err == nil {
		t.Fatal("server veth visible after RunInServerNS returned")
	}
	out, err := l.ClientCmd(context.Background(), "ip", "-br", "addr", "show", "dev", l.ClientIface()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "198.18.0.1/24") || !strings.Contains(string(out), "UP") {
		t.Fatalf("client: %v: %s", err, out)
	}
	if l.ClientAddr().String() != "198.18.0.1/24" || l.ServerAddr().String() != "198.18.0.2/24" {
		t.Fatalf("addresses %v %v", l.ClientAddr(), l.ServerAddr())
	}

	// Up over a stale lab of the same names replaces it.
	l2, err := lab.Up(l.Config())
	if err != nil {
		t.Fatalf("Up over stale lab: %v", err)
	}
	if err := l2.Down(); err != nil {
		t.Fatal(err)
	}
	if err := l2.Down(); err != nil {
		t.Fatalf("second Down: %v", err)
	}
	st, err = lab.Status(l.Config())
	if err != nil || strings.Count(st, "absent") != 2 {
		t.Fatalf("status after Down: %v\n%s", err, st)
	}
}

func TestClientTxOffloadOff(t *testing.T) {
	l := labtest.ForTest(t)
	labtest.NeedTools(t, "ethtool")
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	cfg := l.Config()
	cfg.ClientTxOffloadOff = true
	l2, err := lab.Up(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Down()
	out, err := l2.ClientCmd(context.Background(), "ethtool", "-k", lab.ClientIface).CombinedOutput()
	if err != nil {
		t.Fatalf("ethtool: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "tx-checksumming: off") {
		t.Fatalf("tx offload not off:\n%s", out)
	}
}
