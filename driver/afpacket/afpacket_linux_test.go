//go:build linux

package afpacket

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/lab"
	"github.com/netspec/netspec/driver/lab/labtest"
	"github.com/netspec/netspec/fsm/wire"
)

const (
	etherTypeARP  = 0x0806
	etherTypeIPv4 = 0x0800
	etherTypeTest = 0x88b5 // IEEE 802 local experimental
)

var (
	cliIP = [4]byte{198, 18, 0, 1}
	srvIP = [4]byte{198, 18, 0, 2}
)

func TestOpenMissingInterface(t *testing.T) {
	_, err := Open("netspec-nope0", Options{})
	if !errors.Is(err, ErrNoInterface) || !strings.Contains(err.Error(), "afpacket: open netspec-nope0: no such interface") {
		t.Fatalf("Open(missing) = %v", err)
	}
}

// labLinks opens a link on each side of a fresh lab.
func labLinks(t testing.TB, srvOpts, cliOpts Options) (l *lab.Lab, srv, cli *Link) {
	t.Helper()
	srvOpts, cliOpts = pairSend(srvOpts), pairSend(cliOpts)
	l = labtest.ForTest(t)
	err := l.RunInServerNS(func() (err error) {
		srv, err = Open(l.ServerIface(), srvOpts)
		return err
	})
	if err != nil {
		t.Fatalf("open server link: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	err = l.RunInClientNS(func() (err error) {
		cli, err = Open(l.ClientIface(), cliOpts)
		return err
	})
	if err != nil {
		t.Fatalf("open client link: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	for _, c := range []struct {
		link *Link
		opts Options
	}{{srv, srvOpts}, {cli, cliOpts}} {
		if want := c.opts.Receive != ReceiveMmsg; c.link.Ring() != want {
			t.Fatalf("%s: Ring() = %v with %+v", c.link.Name(), c.link.Ring(), c.opts)
		}
		if want := c.opts.Send != SendMmsg && !c.opts.NoVnetHdr; c.link.TxRing() != want {
			t.Fatalf("%s: TxRing() = %v with %+v", c.link.Name(), c.link.TxRing(), c.opts)
		}
	}
	return l, srv, cli
}

// pairSend pairs the receive path with a send path when opts names none:
// recvmmsg with sendmmsg, the receive ring with the send ring, so that the
// tests run over each receive path (eachReceive) cover both send paths.
func pairSend(opts Options) Options {
	if opts.Send == SendDefault && opts.Receive == ReceiveMmsg {
		opts.Send = SendMmsg
	}
	return opts
}

// receivePaths are the receive paths every test runs over.
var receivePaths = []struct {
	name string
	rx   Receive
}{{"recvmmsg", ReceiveMmsg}, {"ring", ReceiveRing}}

// eachReceive runs test once per receive path, as a subtest (and, through
// pairSend, once per send path).
func eachReceive(t *testing.T, test func(t *testing.T, rx Receive)) {
	for _, p := range receivePaths {
		t.Run(p.name, func(t *testing.T) { test(t, p.rx) })
	}
}

type rx struct {
	frames [][]byte
	n      []int
	meta   []driver.RxMeta
	lend   bool // read with ReadLent (frames then hold lent views)
}

// read is one ReadBatch, or ReadLent with r.lend.
func (r *rx) read(link *Link, deadline time.Time) (int, error) {
	if !r.lend {
		return link.ReadBatch(r.frames, r.n, r.meta, deadline)
	}
	k, err := link.ReadLent(r.frames, r.meta, deadline)
	for i := range k {
		r.n[i] = len(r.frames[i])
	}
	return k, err
}

func newRx(batch, size int) *rx {
	r := &rx{frames: make([][]byte, batch), n: make([]int, batch), meta: make([]driver.RxMeta, batch)}
	for i := range r.frames {
		r.frames[i] = make([]byte, size)
	}
	return r
}

// await reads from link until match accepts a frame or 5 s pass; unmatched
// frames are skipped (neighbour discovery noise and the like).
func (r *rx) await(t *testing.T, link *Link, what string, match func(f []byte, m driver.RxMeta) bool) ([]byte, driver.RxMeta) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		k, err := link.ReadBatch(r.frames, r.n, r.meta, deadline)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		for i := 0; i < k; i++ {
			f := r.frames[i][:r.n[i]]
			if match(f, r.meta[i]) {
				return bytes.Clone(f), r.meta[i]
			}
		}
	}
	t.Fatalf("no %s within 5s", what)
	return nil, driver.RxMeta{}
}

func etherType(f []byte) uint16 {
	if len(f) < 14 {
		return 0
	}
	return binary.BigEndian.Uint16(f[12:14])
}

func ethFrame(dst, src wire.MAC, typ uint16, payload []byte) []byte {
	f := make([]byte, 14, 14+len(payload))
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:14], typ)
	return append(f, payload...)
}

// arp builds an RFC 826 Ethernet/IPv4 ARP packet.
func arp(op uint16, sha wire.MAC, spa [4]byte, tha wire.MAC, tpa [4]byte) []byte {
	p := make([]byte, 28)
	binary.BigEndian.PutUint16(p[0:], 1)      // htype Ethernet
	binary.BigEndian.PutUint16(p[2:], 0x0800) // ptype IPv4
	p[4], p[5] = 6, 4
	binary.BigEndian.PutUint16(p[6:], op)
	copy(p[8:], sha[:])
	copy(p[14:], spa[:])
	copy(p[18:], tha[:])
	copy(p[24:], tpa[:])
	return p
}

func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// TestKernelARPAndUDP lets the client kernel resolve the server address: the
// server link sees the ARP request, answers it, and then receives the UDP
// datagram the kernel had queued, whose checksum the client offloaded.
func TestKernelARPAndUDP(t *testing.T) { eachReceive(t, testKernelARPAndUDP) }

func testKernelARPAndUDP(t *testing.T, rx Receive) {
	l, srv, _ := labLinks(t, Options{Receive: rx}, Options{Receive: rx})
	if srv.MTU() != 1500 || srv.MAC() == (wire.MAC{}) || srv.MaxFrame() != DefaultMaxFrame {
		t.Fatalf("server link: mtu %d mac %v max %d", srv.MTU(), srv.MAC(), srv.MaxFrame())
	}
	var cliMAC wire.MAC
	var conn net.Conn
	err := l.RunInClientNS(func() error {
		ifi, err := net.InterfaceByName(l.ClientIface())
		if err != nil {
			return err
		}
		copy(cliMAC[:], ifi.HardwareAddr)
		conn, err = net.Dial("udp4", "198.18.0.2:9")
		if err != nil {
			return err
		}
		_, err = conn.Write([]byte("hello netspec"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	r := newRx(8, srv.MaxFrame())
	f, m := r.await(t, srv, "ARP request", func(f []byte, _ driver.RxMeta) bool {
		return etherType(f) == etherTypeARP && len(f) >= 42 && binary.BigEndian.Uint16(f[20:]) == 1 &&
			bytes.Equal(f[38:42], srvIP[:])
	})
	if m.Time.IsZero() || m.CsumPartial || m.CsumValid || m.FCS {
		t.Fatalf("ARP request meta %+v", m)
	}
	if !bytes.Equal(f[0:6], wire.BroadcastMAC[:]) || !bytes.Equal(f[6:12], cliMAC[:]) {
		t.Fatalf("ARP request addresses dst %x src %x", f[0:6], f[6:12])
	}

	reply := ethFrame(cliMAC, srv.MAC(), etherTypeARP, arp(2, srv.MAC(), srvIP, cliMAC, cliIP))
	if err := srv.WriteBatch([][]byte{reply}, nil); err != nil {
		t.Fatal(err)
	}
	f, m = r.await(t, srv, "UDP datagram", func(f []byte, _ driver.RxMeta) bool {
		return etherType(f) == etherTypeIPv4 && len(f) >= 42 && f[23] == 17 && binary.BigEndian.Uint16(f[36:]) == 9
	})
	if got := string(f[42:]); got != "hello netspec" {
		t.Fatalf("UDP payload %q", got)
	}
	if mac := srv.MAC(); !bytes.Equal(f[0:6], mac[:]) {
		t.Fatalf("UDP frame sent to %x, want our MAC %v", f[0:6], srv.MAC())
	}
	// The client veth offloads its transmit checksum (default features): the
	// virtio-net header must say the checksum is not yet computed.
	if !m.CsumPartial {
		t.Fatalf("UDP meta %+v: want CsumPartial with the client's tx offload on", m)
	}
	if st := srv.Stats(); st.RxCsumPartial == 0 || st.TxFrames != 1 || st.RxFrames < 2 {
		t.Fatalf("stats %+v", st)
	}
	out, err := l.ClientCmd(context.Background(), "ip", "neigh", "show", "198.18.0.2").CombinedOutput()
	if err != nil || !strings.Contains(string(out), srv.MAC().String()) {
		t.Fatalf("client neighbour entry: %v: %s", err, out)
	}
}
