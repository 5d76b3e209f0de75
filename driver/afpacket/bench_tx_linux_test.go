//go:build linux

package afpacket

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/fdlink"
	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/fsm/wire"
)

// sendPaths are the send configurations BenchmarkVethTx compares: each
// send path with and without PACKET_QDISC_BYPASS on its sockets.
var sendPaths = []struct {
	name   string
	send   Send
	bypass bool
}{
	{"mmsg", SendMmsg, false},
	{"mmsg-bypass", SendMmsg, true},
	{"ring", SendRing, false},
	{"ring-bypass", SendRing, true},
}

// BenchmarkVethTx measures the send side alone, per send path, in one run:
// the server link sends batches of 64 frames into the veth and nothing
// reads them on the client side (the client namespace's kernel drops
// them: an unknown EtherType, or a TCP super-frame to a MAC not its own),
// so the figures are the sender's. tx-cpu-ns/frame and tx-cpu-s/GB are
// the sending thread's CPU in WriteBatch (with veth that includes the
// peer's receive path up to the drop, run inside the system call), per
// frame and per GB of frames. frame=gso is the largest TCP super-frame the
// link advertises (GSOMaxSize IPv4 octets) with its virtio-net header
// (GSO_TCPV4, NEEDS_CSUM); frame=gso-over is one of 65535 IPv4 octets, past
// veth's gso_max_size with its Ethernet header, which the kernel cuts into
// segments in software before veth. rx-pkts/frame is how many packets the
// client interface received per frame sent (1: the super-frame crossed
// whole). The client interface's receive count must grow by every frame
// sent, or the run fails.
func BenchmarkVethTx(b *testing.B) {
	for _, size := range []string{"60", "1514", "gso", "gso-over"} {
		b.Run("frame="+size, func(b *testing.B) {
			for _, p := range sendPaths {
				if p.bypass && size == "gso-over" {
					// With the bypass the kernel drops (ENOBUFS) a
					// super-frame it must cut in software:
					// __dev_direct_xmit sends no segmented frame.
					continue
				}
				b.Run("tx="+p.name, func(b *testing.B) {
					l, srv, _ := labLinks(b, Options{Send: p.send}, Options{Receive: ReceiveMmsg})
					if srv.TxRing() != (p.send == SendRing) {
						b.Fatalf("TxRing() = %v with %v", srv.TxRing(), p.send)
					}
					if p.bypass {
						qdiscBypass(b, srv)
					}
					benchTx(b, l, srv, size)
				})
			}
		})
	}
}

func benchTx(b *testing.B, l *lab.Lab, srv *Link, size string) {
	const batch = 64
	frames := make([][]byte, batch)
	var meta []driver.TxMeta
	cliMAC := clientMAC(b, l)
	for i := range frames {
		switch size {
		case "gso", "gso-over":
			ipLen := srv.GSOMaxSize()
			if size == "gso-over" {
				ipLen = 65535
			}
			f, m := gsoFrame(wire.MAC{0x02, 0, 0, 0, 0, 0x99}, srv.MAC(), ipLen-40)
			frames[i], meta = f, append(meta, m)
		default:
			n, _ := strconv.Atoi(size)
			frames[i] = ethFrame(cliMAC, srv.MAC(), etherTypeTest, make([]byte, n-14))
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rx0 := clientRxPackets(b, l)
	st0 := srv.Stats()
	var txCPU time.Duration
	for b.Loop() {
		t0 := threadCPU()
		if err := srv.WriteBatch(frames, meta); err != nil {
			b.Fatal(err)
		}
		txCPU += threadCPU() - t0
	}
	st := srv.Stats()
	sent := st.TxFrames - st0.TxFrames
	if want := uint64(b.N * batch); sent != want || st.TxErrors != st0.TxErrors {
		b.Fatalf("sent %d of %d frames; stats %+v", sent, want, st)
	}
	got := clientRxPackets(b, l) - rx0
	if got < sent {
		b.Fatalf("the client interface received %d of %d frames", got, sent)
	}
	b.ReportMetric(float64(got)/float64(sent), "rx-pkts/frame")
	bytes := st.TxBytes - st0.TxBytes
	b.SetBytes(int64(bytes) / int64(b.N))
	b.ReportMetric(float64(txCPU.Nanoseconds())/float64(sent), "tx-cpu-ns/frame")
	b.ReportMetric(txCPU.Seconds()/(float64(bytes)/1e9), "tx-cpu-s/GB")
}

// qdiscBypass sets PACKET_QDISC_BYPASS on l's sending sockets: frames go
// straight to the device, past the qdisc layer and the interface's packet
// taps.
func qdiscBypass(t testing.TB, l *Link) {
	var err error
	fdlink.Control(l.Core, func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	})
	if err == nil && l.tx != nil {
		err = unix.SetsockoptInt(l.tx.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// clientMAC returns the client interface's MAC.
func clientMAC(t testing.TB, l *lab.Lab) (mac wire.MAC) {
	err := l.RunInClientNS(func() error {
		ifi, err := interfaceByName(l.ClientIface())
		if err == nil {
			copy(mac[:], ifi.HardwareAddr)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// clientRxPackets returns the client interface's received-packet count
// (/proc/net/dev as the client namespace sees it).
func clientRxPackets(t testing.TB, l *lab.Lab) (n uint64) {
	err := l.RunInClientNS(func() error {
		f, err := os.Open("/proc/thread-self/net/dev")
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			name, rest, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(name) == l.ClientIface() {
				// receive: bytes packets ...
				fields := strings.Fields(rest)
				n, err = strconv.ParseUint(fields[1], 10, 64)
				return err
			}
		}
		return fmt.Errorf("%s not in /proc/net/dev", l.ClientIface())
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
