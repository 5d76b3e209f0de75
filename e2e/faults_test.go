//go:build linux

package e2e

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
)

// faultCell is one impairment of TestFaultTransfersLinux.
type faultCell struct {
	name string
	f    pipe.Faults
	// offload keeps the client's transmit offloads on: its frames reach
	// the server with the TCP checksum not yet computed (CHECKSUM_PARTIAL,
	// RxMeta.CsumPartial), so a corrupted one must not be taken as sound.
	offload bool
	// applied reads, from the wrapper's counters, how often the cell's
	// impairment struck: a cell whose faults never struck proved nothing.
	applied func(pipe.FaultStats) uint64
}

// faultCells are the impairments beyond plain loss (TestLossTransfersLinux
// has loss): duplication, reordering, corruption, and all of them at once
// with loss both ways.
var faultCells = []faultCell{
	{"dup5%", pipe.Faults{Seed: 51, Duplicate: 0.05}, false, func(s pipe.FaultStats) uint64 { return s.Duplicated }},
	{"reorder5%", pipe.Faults{Seed: 52, Reorder: 0.05}, false, func(s pipe.FaultStats) uint64 { return s.Reordered }},
	{"corrupt1%", pipe.Faults{Seed: 53, Corrupt: 0.01}, false, func(s pipe.FaultStats) uint64 { return s.Corrupted }},
	// With offloads on, an 8 MiB upload arrives as ~130 super-frames of up to
	// 64 KiB: at 1 % none was corrupted in about one run of four, and the
	// cell proved nothing. At 5 % that chance is about 0.1 %.
	{"corrupt5%-offload", pipe.Faults{Seed: 53, Corrupt: 0.05}, true, func(s pipe.FaultStats) uint64 { return s.Corrupted }},
	{"mixed", pipe.Faults{Seed: 54, Loss: 0.01, TxLoss: 0.01, Duplicate: 0.02, Reorder: 0.02, Corrupt: 0.005}, false,
		func(s pipe.FaultStats) uint64 { return s.Lost + s.TxLost + s.Duplicated + s.Reordered + s.Corrupted }},
}

// TestFaultTransfersLinux: a netspec server on AF_PACKET behind the
// fault-injecting wrapper, and Linux's TCP in the client namespace: in each
// cell curl downloads over HTTP and a Go client uploads, and every byte is
// checked (sha256). The wrapper impairs what netspec receives: the
// client's ACKs during the download, the data itself during the upload
// (corrupted frames must be caught by the IP or TCP checksum, counted and
// dropped, and the data retransmitted); the mixed cell also drops 1 % of
// what netspec sends. NETSPEC_BIG=1 moves 32 MiB a transfer instead of 8.
func TestFaultTransfersLinux(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the lab")
	}
	size := 8 << 20
	if os.Getenv("NETSPEC_BIG") != "" {
		size = 32 << 20
	}
	body := make([]byte, size)
	rand.NewChaCha8([32]byte{5, 5, 5}).Read(body)
	var table strings.Builder
	fmt.Fprintf(&table, "%-18s %-13s %10s %9s %9s %8s %6s %6s %6s %9s\n", "cell", "transfer", "octets", "Mbit/s", "time", "faults", "drops", "ns-rtx", "ns-rto", "linux-rtx")
	for _, cell := range faultCells {
		t.Run(cell.name, func(t *testing.T) { runFaultCell(t, cell, body, &table) })
	}
	t.Logf("transfers against Linux over veth, faults on netspec's side:\n%s", table.String())
}

// drops reads the stack's drop counters (every "layer.drop.reason"): where
// a corrupted frame must end, at the Ethernet, IP or TCP check.
func drops(s *lossServer) map[string]uint64 {
	m := make(map[string]uint64)
	s.loop.Do(func(_ time.Time, st *stack.Stack) {
		st.EachCounter(func(name string, v uint64) {
			if strings.Contains(name, ".drop.") {
				m[name] = v
			}
		})
	})
	return m
}

// dropDelta returns the drops between two readings: their sum and the
// reasons that moved, as "reason+n".
func dropDelta(a, b map[string]uint64) (uint64, string) {
	var n uint64
	var moved []string
	for k, v := range b {
		if d := v - a[k]; d > 0 {
			n += d
			moved = append(moved, fmt.Sprintf("%s+%d", k, d))
		}
	}
	slices.Sort(moved)
	return n, strings.Join(moved, " ")
}

func runFaultCell(t *testing.T, cell faultCell, body []byte, table *strings.Builder) {
	s := startFaultServer(t, !cell.offload, tcp.Config{}, cell.f, body)
	want := sha256.Sum256(body)
	transfers := []struct {
		name string
		run  func() (lossResult, error)
	}{
		{"curl-download", func() (lossResult, error) { return curlDownload(t, s, want) }},
		{"go-upload", func() (lossResult, error) { return goUpload(s, want) }},
	}
	for _, tr := range transfers {
		f0, rtx0, rto0 := s.stats()
		c0 := drops(s)
		r, err := tr.run()
		if err != nil {
			t.Fatalf("%s: %v", tr.name, err)
		}
		f1, rtx1, rto1 := s.stats()
		c1 := drops(s)
		nd, reasons := dropDelta(c0, c1)
		struck := cell.applied(f1) - cell.applied(f0)
		mbps := float64(r.octets) * 8 / r.elapsed.Seconds() / 1e6
		t.Logf("%s: %d octets byte-exact in %v (%.1f Mbit/s); %d faults (%+v); %d frames dropped by the stack (%s); netspec retransmitted %d (%d timeouts), Linux %d",
			tr.name, r.octets, r.elapsed.Round(time.Millisecond), mbps, struck, f1, nd, reasons, rtx1-rtx0, rto1-rto0, r.linuxRtx)
		fmt.Fprintf(table, "%-18s %-13s %10d %9.1f %9v %8d %6d %6d %6d %9d\n", cell.name, tr.name, r.octets, mbps,
			r.elapsed.Round(time.Millisecond), struck, nd, rtx1-rtx0, rto1-rto0, r.linuxRtx)
		if struck == 0 {
			t.Errorf("%s: the wrapper's %s never struck: the cell proved nothing", tr.name, cell.name)
		}
	}
	if cell.f.Corrupt > 0 {
		if c, _ := dropDelta(nil, drops(s)); c == 0 {
			t.Errorf("%d frames corrupted and the stack dropped none: a flipped bit went through", s.fault.Stats().Corrupted)
		}
	}
}
