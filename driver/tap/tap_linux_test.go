//go:build linux

package tap

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/lab/labtest"
	"github.com/netspec/netspec/driver/linktest"
	"github.com/netspec/netspec/fsm/wire"
)

// The tests run in a namespace each test creates (labtest.NamespaceForTest); the
// kernel side of the TAP device gets kernelIP, the Link plays linkIP.
const (
	tapName  = "nstap0"
	kernelIP = "198.18.1.1"
	linkIP   = "198.18.1.2"
)

var (
	kernelAddr = [4]byte{198, 18, 1, 1}
	linkAddr   = [4]byte{198, 18, 1, 2}
)

// openIn opens the TAP device tapName inside ns and closes it with t.Cleanup.
func openIn(t testing.TB, ns *lab.Namespace, opts Options) *Link {
	t.Helper()
	var l *Link
	err := ns.Run(func() error {
		var err error
		l, err = Open(tapName, opts)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// peered opens the TAP device in a fresh namespace, gives the kernel side
// kernelIP/24 and a permanent neighbour entry for linkIP at the Link's MAC
// (so the kernel sends IP straight away, no ARP), and waits until the device
// is operational.
func peered(t testing.TB, opts Options) (*lab.Namespace, *Link) {
	t.Helper()
	ns := labtest.NamespaceForTest(t)
	l := openIn(t, ns, opts)
	ipCmd(t, "-n", ns.Name(), "addr", "add", kernelIP+"/24", "dev", tapName)
	ipCmd(t, "-n", ns.Name(), "neigh", "replace", linkIP, "lladdr", l.MAC().String(), "dev", tapName, "nud", "permanent")
	if err := ns.WaitCarrier(tapName); err != nil {
		t.Fatal(err)
	}
	return ns, l
}

func ipCmd(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// bufs returns k frame buffers of size bytes with their n and meta slices.
func bufs(k, size int) ([][]byte, []int, []driver.RxMeta) {
	frames := make([][]byte, k)
	for i := range frames {
		frames[i] = make([]byte, size)
	}
	return frames, make([]int, k), make([]driver.RxMeta, k)
}

// readUntil reads until match accepts a frame, failing after 10 s of
// frames that do not match (a guard against a hang, not a timing assertion).
func readUntil(t *testing.T, l *Link, match func(f []byte, md driver.RxMeta) bool) ([]byte, driver.RxMeta) {
	t.Helper()
	var got []byte
	var gotMD driver.RxMeta
	readEach(t, l, func(f []byte, md driver.RxMeta) bool {
		if match(f, md) {
			got, gotMD = append([]byte(nil), f...), md
			return true
		}
		return false
	})
	return got, gotMD
}

// readEach hands every frame read to fn until fn returns true, failing after
// 10 s (a guard against a hang, not a timing assertion).
func readEach(t *testing.T, l *Link, fn func(f []byte, md driver.RxMeta) (done bool)) {
	t.Helper()
	frames, n, meta := bufs(8, l.MaxFrame())
	end := time.Now().Add(10 * time.Second)
	for time.Now().Before(end) {
		k, err := l.ReadBatch(frames, n, meta, time.Now().Add(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < k; i++ {
			if fn(frames[i][:n[i]], meta[i]) {
				return
			}
		}
	}
	t.Fatalf("no matching frame within 10 s; stats %+v", l.Stats())
}

// Frame layout offsets (Ethernet II + IPv4 without options).
const (
	ethDst, ethSrc, ethType = 0, 6, 12
	ipOff                   = 14
	l4Off                   = ipOff + 20
)

// isIPv4 reports whether f is an IPv4 frame from src to dst carrying proto.
func isIPv4(f []byte, src, dst [4]byte, proto byte) bool {
	return len(f) >= l4Off && binary.BigEndian.Uint16(f[ethType:]) == 0x0800 &&
		f[ipOff]>>4 == 4 && f[ipOff+9] == proto &&
		[4]byte(f[ipOff+12:ipOff+16]) == src && [4]byte(f[ipOff+16:ipOff+20]) == dst
}

// echo builds an ICMP echo frame (RFC 792) with correct checksums.
func echo(dstMAC, srcMAC wire.MAC, src, dst [4]byte, typ byte, id, seq uint16, payload []byte) []byte {
	f := make([]byte, l4Off+8+len(payload))
	copy(f[ethDst:], dstMAC[:])
	copy(f[ethSrc:], srcMAC[:])
	binary.BigEndian.PutUint16(f[ethType:], 0x0800)
	h := f[ipOff:l4Off]
	h[0], h[8], h[9] = 0x45, 64, 1
	binary.BigEndian.PutUint16(h[2:], uint16(len(f)-ipOff))
	copy(h[12:], src[:])
	copy(h[16:], dst[:])
	binary.BigEndian.PutUint16(h[10:], wire.Checksum(h, 0))
	m := f[l4Off:]
	m[0] = typ
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], payload)
	binary.BigEndian.PutUint16(m[2:], wire.Checksum(m, 0))
	return f
}

// kernelRxPackets returns the kernel's count of frames it received on the
// device (that is, frames the Link wrote).
func kernelRxPackets(t *testing.T, ns *lab.Namespace) uint64 {
	t.Helper()
	out := ipCmd(t, "-n", ns.Name(), "-s", "-j", "link", "show", "dev", tapName)
	var v []struct {
		Stats64 struct {
			Rx struct {
				Packets uint64 `json:"packets"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 {
		t.Fatalf("ip -s -j link: %v: %s", err, out)
	}
	return v[0].Stats64.Rx.Packets
}

// TestPingRoundTrip: the kernel's ping reaches the Link as an echo request
// addressed to the Link's MAC; the echo reply the Link writes back is
// accepted by the kernel and delivered to ping, which then succeeds.
func TestPingRoundTrip(t *testing.T) {
	ns, l := peered(t, Options{})
	labtest.NeedTools(t, "ping")
	if l.MAC() == l.KernelMAC() || l.MAC()[0]&1 != 0 || l.MAC()[0]&2 == 0 {
		t.Fatalf("MAC %v (kernel side %v): want a distinct locally administered unicast address", l.MAC(), l.KernelMAC())
	}
	if l.MTU() != 1500 {
		t.Errorf("MTU %d, want 1500", l.MTU())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ping := ns.Cmd(ctx, "ping", "-c", "1", "-W", "10", "-s", "100", linkIP)
	var out strings.Builder
	ping.Stdout, ping.Stderr = &out, &out
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	before := kernelRxPackets(t, ns)
	req, md := readUntil(t, l, func(f []byte, _ driver.RxMeta) bool {
		return isIPv4(f, kernelAddr, linkAddr, 1) && f[l4Off] == 8
	})
	if wire.MAC(req[ethDst:ethSrc]) != l.MAC() || wire.MAC(req[ethSrc:ethType]) != l.KernelMAC() {
		t.Errorf("echo request %v -> %v, want %v -> %v", wire.MAC(req[ethSrc:ethType]), wire.MAC(req[ethDst:ethSrc]), l.KernelMAC(), l.MAC())
	}
	if len(req) != l4Off+8+100 || md.CsumPartial || md.Time.IsZero() {
		t.Errorf("echo request: %d bytes, meta %+v", len(req), md)
	}
	id, seq := binary.BigEndian.Uint16(req[l4Off+4:]), binary.BigEndian.Uint16(req[l4Off+6:])
	reply := echo(l.KernelMAC(), l.MAC(), linkAddr, kernelAddr, 0, id, seq, req[l4Off+8:])
	if err := l.WriteBatch([][]byte{reply}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ping.Wait(); err != nil {
		t.Fatalf("ping: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "1 received") {
		t.Fatalf("ping:\n%s", out.String())
	}
	if after := kernelRxPackets(t, ns); after < before+1 {
		t.Errorf("kernel rx packets %d -> %d, want the reply counted", before, after)
	}
	st := l.Stats()
	if st.RxFrames == 0 || st.TxFrames != 1 || st.TxBytes != uint64(len(reply)) || st.TxErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestKernelAnswersWrittenFrames: echo requests the Link writes, several in
// one batch, each earn the kernel's echo reply.
func TestKernelAnswersWrittenFrames(t *testing.T) {
	_, l := peered(t, Options{})
	var batch [][]byte
	for seq := uint16(1); seq <= 5; seq++ {
		batch = append(batch, echo(l.KernelMAC(), l.MAC(), linkAddr, kernelAddr, 8, 0x4242, seq, []byte("netspec tap")))
	}
	if err := l.WriteBatch(batch, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[uint16]bool{}
	readEach(t, l, func(f []byte, _ driver.RxMeta) bool {
		if isIPv4(f, kernelAddr, linkAddr, 1) && f[l4Off] == 0 && binary.BigEndian.Uint16(f[l4Off+4:]) == 0x4242 {
			if string(f[l4Off+8:]) != "netspec tap" {
				t.Fatalf("reply payload %q", f[l4Off+8:])
			}
			seen[binary.BigEndian.Uint16(f[l4Off+6:])] = true
		}
		return len(seen) == 5
	})
}

// TestChecksumOffloadMetadata: the kernel's TCP SYN leaves its checksum to
// the receiver when the Link accepts checksum offload (VIRTIO_NET_HDR_F_NEEDS_CSUM
// -> RxMeta.CsumPartial); with offload refused, or without the virtio-net
// header, it arrives with a complete, valid checksum and no metadata.
func TestChecksumOffloadMetadata(t *testing.T) {
	for _, tc := range []struct {
		name        string
		opts        Options
		wantPartial bool
	}{
		{"offload", Options{}, true},
		{"no-offload", Options{NoOffload: true}, false},
		{"no-vnet-hdr", Options{NoVnetHdr: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, l := peered(t, tc.opts)
			labtest.NeedTools(t, "bash")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			conn := ns.Cmd(ctx, "bash", "-c", "exec 3<>/dev/tcp/"+linkIP+"/80")
			if err := conn.Start(); err != nil {
				t.Fatal(err)
			}
			defer conn.Wait()
			defer cancel()
			syn, md := readUntil(t, l, func(f []byte, _ driver.RxMeta) bool {
				return isIPv4(f, kernelAddr, linkAddr, 6) && len(f) >= l4Off+20 && f[l4Off+13]&0x02 != 0
			})
			if md.CsumPartial != tc.wantPartial || md.CsumValid {
				t.Fatalf("SYN meta %+v, want CsumPartial=%v", md, tc.wantPartial)
			}
			st := l.Stats()
			if tc.wantPartial && st.RxCsumPartial == 0 {
				t.Errorf("RxCsumPartial not counted: %+v", st)
			}
			if !tc.wantPartial {
				seg := syn[l4Off:]
				if sum := wire.Checksum(seg, wire.PseudoHeaderSum(wire.Addr(kernelAddr), wire.Addr(linkAddr), 6, len(seg))); sum != 0 {
					t.Fatalf("SYN checksum does not verify (residue %#04x)", sum)
				}
			}
		})
	}
}

// TestTruncatedFrameCounted: a frame longer than the caller's buffer is
// dropped and counted, never delivered cut.
func TestTruncatedFrameCounted(t *testing.T) {
	ns, l := peered(t, Options{})
	labtest.NeedTools(t, "ping")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := ns.Cmd(ctx, "ping", "-c", "1", "-W", "1", "-s", "400", linkIP).CombinedOutput(); err == nil {
		t.Fatalf("ping answered with nobody answering:\n%s", out)
	}
	frames, n, meta := bufs(4, 200)
	for i := 0; i < 50 && l.Stats().RxTruncated == 0; i++ {
		k, err := l.ReadBatch(frames, n, meta, time.Now().Add(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < k; j++ {
			if n[j] > 200 {
				t.Fatalf("delivered %d bytes into a 200-byte buffer", n[j])
			}
		}
	}
	if st := l.Stats(); st.RxTruncated == 0 {
		t.Fatalf("the 442-byte echo request was not counted as truncated: %+v", st)
	}
}

// quiet opens the TAP device, up, in a fresh namespace where the kernel has
// no address on it (and IPv6 is off), so nothing arrives on its own.
func quiet(t *testing.T) (*lab.Namespace, *Link) {
	t.Helper()
	ns := labtest.NamespaceForTest(t)
	l := openIn(t, ns, Options{})
	if err := ns.WaitCarrier(tapName); err != nil {
		t.Fatal(err)
	}
	return ns, l
}

// TestReadDeadline: with nothing to read, ReadBatch returns (0, nil) at its
// deadline, and at once for a past deadline.
func TestReadDeadline(t *testing.T) {
	_, l := quiet(t)
	frames, n, meta := bufs(4, l.MaxFrame())
	for _, d := range []time.Duration{-time.Second, 30 * time.Millisecond} {
		done := make(chan error, 1)
		go func() {
			k, err := l.ReadBatch(frames, n, meta, time.Now().Add(d))
			if err == nil && k != 0 {
				err = fmt.Errorf("read %d frames from a silent device", k)
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("deadline %v: %v", d, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("deadline %v: ReadBatch still blocked after 10 s", d)
		}
	}
}

// TestCloseUnblocksRead: Close from another goroutine ends a blocked
// ReadBatch with ErrClosed; later calls fail the same way, Close is
// idempotent, and a device Open created goes away with the Link.
func TestCloseUnblocksRead(t *testing.T) {
	ns, l := quiet(t)
	frames, n, meta := bufs(4, l.MaxFrame())
	linktest.CloseUnblocksRead(t, l, frames, n, meta)
	if _, err := l.ReadBatch(frames, n, meta, time.Time{}); !errors.Is(err, driver.ErrClosed) {
		t.Errorf("ReadBatch after Close: %v", err)
	}
	if err := l.WriteBatch([][]byte{make([]byte, 60)}, nil); !errors.Is(err, driver.ErrClosed) {
		t.Errorf("WriteBatch after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if out, err := exec.Command("ip", "-n", ns.Name(), "link", "show", "dev", tapName).CombinedOutput(); err == nil {
		t.Errorf("device still present after Close:\n%s", out)
	}
}

// TestWriteErrorsCounted: a frame shorter than an Ethernet header is refused,
// counted, and does not stop the rest of the batch.
func TestWriteErrorsCounted(t *testing.T) {
	_, l := peered(t, Options{})
	good := echo(l.KernelMAC(), l.MAC(), linkAddr, kernelAddr, 8, 7, 1, nil)
	err := l.WriteBatch([][]byte{make([]byte, 5), good}, nil)
	if err == nil || !strings.Contains(err.Error(), "tap: writev "+tapName) {
		t.Fatalf("WriteBatch error %v, want a writev error naming the device", err)
	}
	if st := l.Stats(); st.TxErrors != 1 || st.TxFrames != 1 {
		t.Fatalf("stats %+v, want 1 error and 1 frame", st)
	}
	readUntil(t, l, func(f []byte, _ driver.RxMeta) bool {
		return isIPv4(f, kernelAddr, linkAddr, 1) && f[l4Off] == 0
	})
}

// TestWriteNoAllocs: writing a frame allocates nothing.
func TestWriteNoAllocs(t *testing.T) {
	_, l := quiet(t)
	f := [][]byte{echo(wire.MAC{2, 0, 0, 0, 0, 9}, l.MAC(), linkAddr, kernelAddr, 8, 1, 1, nil)}
	if a := testing.AllocsPerRun(100, func() {
		if err := l.WriteBatch(f, nil); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("WriteBatch allocates %.1f times per call", a)
	}
}

// TestReadNoAllocs: reading frames (the kernel's echo replies) allocates
// nothing.
func TestReadNoAllocs(t *testing.T) {
	_, l := peered(t, Options{})
	var batch [][]byte
	for seq := uint16(0); seq < 64; seq++ {
		batch = append(batch, echo(l.KernelMAC(), l.MAC(), linkAddr, kernelAddr, 8, 9, seq, nil))
	}
	frames, n, meta := bufs(8, l.MaxFrame())
	got := 0
	for try := 0; try < 100 && got == 0; try++ {
		if err := l.WriteBatch(batch, nil); err != nil {
			t.Fatal(err)
		}
		readUntil(t, l, func(f []byte, _ driver.RxMeta) bool { return isIPv4(f, kernelAddr, linkAddr, 1) })
		past := time.Now().Add(-time.Second)
		if a := testing.AllocsPerRun(20, func() {
			k, err := l.ReadBatch(frames, n, meta, past)
			if err != nil {
				t.Fatal(err)
			}
			got += k
		}); a != 0 {
			t.Fatalf("ReadBatch allocates %.1f times per call", a)
		}
	}
	if got == 0 {
		t.Fatal("no frame read while measuring")
	}
}

// TestOpenErrors: the failures a user meets are told apart and name the device.
func TestOpenErrors(t *testing.T) {
	for _, name := range []string{"", "a/b", "sixteen-chars-xx"} {
		if _, err := Open(name, Options{}); err == nil || !strings.Contains(err.Error(), "bad interface name") {
			t.Errorf("Open(%q): %v", name, err)
		}
	}
	ns := labtest.NamespaceForTest(t)
	run := func(name string, opts Options) (*Link, error) {
		var l *Link
		err := ns.Run(func() error {
			var err error
			l, err = Open(name, opts)
			return err
		})
		if l != nil {
			t.Cleanup(func() { l.Close() })
		}
		return l, err
	}
	if _, err := run("nstap9", Options{NoCreate: true}); !errors.Is(err, ErrNoInterface) || !strings.Contains(err.Error(), "nstap9") {
		t.Errorf("NoCreate on a missing device: %v", err)
	}
	if _, err := run("lo", Options{}); !errors.Is(err, ErrNotTAP) {
		t.Errorf("Open(lo): %v, want ErrNotTAP", err)
	}
	ipCmd(t, "-n", ns.Name(), "tuntap", "add", "dev", "nstun0", "mode", "tun")
	if _, err := run("nstun0", Options{}); !errors.Is(err, ErrNotTAP) {
		t.Errorf("Open of a TUN device: %v, want ErrNotTAP", err)
	}
	if _, err := run(tapName, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := run(tapName, Options{}); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), tapName) {
		t.Errorf("second Open: %v, want ErrBusy", err)
	}
}

// TestPersist: a persistent device outlives its Link and is attached again
// with NoCreate, keeping the MAC it was given.
func TestPersist(t *testing.T) {
	ns := labtest.NamespaceForTest(t)
	mac := wire.MAC{0x02, 0x6e, 0x73, 0, 0, 1}
	l := openIn(t, ns, Options{Persist: true, MAC: mac})
	if l.MAC() != mac {
		t.Fatalf("MAC %v, want %v", l.MAC(), mac)
	}
	kmac := l.KernelMAC()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out := ipCmd(t, "-n", ns.Name(), "link", "show", "dev", tapName)
	if !strings.Contains(out, "NO-CARRIER") {
		t.Errorf("detached persistent device should have no carrier:\n%s", out)
	}
	l2 := openIn(t, ns, Options{NoCreate: true})
	if l2.KernelMAC() != kmac {
		t.Errorf("kernel MAC changed %v -> %v", kmac, l2.KernelMAC())
	}
	if err := ns.WaitCarrier(tapName); err != nil {
		t.Fatal(err)
	}
}
