//go:build linux

package lab_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/lab/labtest"
	"github.com/netspec/netspec/driver/tap"
	"github.com/netspec/netspec/fsm/wire"
)

// TestTAPLab: the TAP variant bridges a persistent TAP device to the veth;
// nothing in the server namespace has an IPv4 address; a Link attached to the
// TAP device sees the client's ARP request for 198.18.0.2, and its ARP reply
// reaches the client's kernel, which then sends the echo request to the
// Link's MAC.
func TestTAPLab(t *testing.T) {
	l := labtest.ForTestConfig(t, lab.Config{Driver: lab.DriverTAP})
	labtest.NeedTools(t, "ping")
	if l.ServerIface() != lab.TAPIface || l.Driver() != lab.DriverTAP {
		t.Fatalf("ServerIface %q, Driver %q", l.ServerIface(), l.Driver())
	}
	out, err := exec.Command("ip", "-n", l.ServerNS(), "-br", "addr").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, dev := range []string{lab.TAPIface, lab.BridgeIface, lab.ServerIface} {
		if !strings.Contains(string(out), dev) {
			t.Errorf("server namespace lacks %s:\n%s", dev, out)
		}
	}
	if strings.Contains(string(out), "198.18.") {
		t.Errorf("server namespace has a kernel IPv4 address:\n%s", out)
	}

	var link *tap.Link
	err = l.RunInServerNS(func() error {
		var err error
		link, err = tap.Open(l.ServerIface(), tap.Options{NoCreate: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	if err := l.WaitServerIface(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ping := l.ClientCmd(ctx, "ping", "-c", "20", "-i", "0.2", "-W", "1", "198.18.0.2")
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	defer ping.Wait()
	defer cancel()

	srvIP, cliIP := []byte{198, 18, 0, 2}, []byte{198, 18, 0, 1}
	frames := [][]byte{make([]byte, link.MaxFrame())}
	n, meta := make([]int, 1), make([]driver.RxMeta, 1)
	read := func(match func(f []byte) bool) []byte {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
			k, err := link.ReadBatch(frames, n, meta, time.Now().Add(200*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if k == 1 && match(frames[0][:n[0]]) {
				return append([]byte(nil), frames[0][:n[0]]...)
			}
		}
		t.Fatalf("no matching frame in 10 s; stats %+v", link.Stats())
		return nil
	}
	// RFC 826: who-has 198.18.0.2 tell 198.18.0.1, broadcast.
	req := read(func(f []byte) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == 0x0806 &&
			binary.BigEndian.Uint16(f[20:]) == 1 && bytes.Equal(f[38:42], srvIP)
	})
	cliMAC := wire.MAC(req[22:28])
	me := link.MAC()
	reply := make([]byte, 60)
	copy(reply[0:], cliMAC[:])
	copy(reply[6:], me[:])
	binary.BigEndian.PutUint16(reply[12:], 0x0806)
	copy(reply[14:], []byte{0, 1, 8, 0, 6, 4, 0, 2})
	copy(reply[22:], me[:])
	copy(reply[28:], srvIP)
	copy(reply[32:], cliMAC[:])
	copy(reply[38:], cliIP)
	if err := link.WriteBatch([][]byte{reply}, nil); err != nil {
		t.Fatal(err)
	}
	// The client learned our MAC: its echo requests now come to it.
	read(func(f []byte) bool {
		return len(f) >= 34 && wire.MAC(f[0:6]) == me && binary.BigEndian.Uint16(f[12:]) == 0x0800 &&
			f[23] == 1 && bytes.Equal(f[30:34], srvIP)
	})
	neigh, err := l.ClientCmd(context.Background(), "ip", "neigh", "show", "198.18.0.2").CombinedOutput()
	if err != nil || !strings.Contains(string(neigh), me.String()) {
		t.Errorf("client neighbour entry %q (%v), want %v", neigh, err, me)
	}
}

func TestUnknownDriver(t *testing.T) {
	if _, err := lab.Up(lab.Config{Prefix: "nst-never", Driver: "dpdk"}); err == nil || !strings.Contains(err.Error(), `unknown driver "dpdk"`) {
		t.Fatalf("Up with driver dpdk: %v", err)
	}
}
