//go:build linux

package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/fsm/wire"
)

// flow is what the sniffer learned of one connection: the client's next
// sequence number (the server's RCV.NXT) and the server's last advertised
// window field (unscaled, so no larger than the real window).
type flow struct {
	sndNxt uint32
	seen   bool
	win    uint16
}

// sniffer follows the connections between the client and the server port.
type sniffer struct {
	ps          *packetSock
	client, srv wire.Addr
	port        uint16
	mu          sync.Mutex
	flows       map[uint16]*flow // by client port
	fromServer  atomic.Uint64    // segments the server sent the client
}

func (s *sniffer) run() {
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(s.ps.fd, buf, 0)
		if err != nil {
			return
		}
		s.seg(buf[:n])
	}
}

func (s *sniffer) seg(p []byte) {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != wire.ProtoTCP {
		return
	}
	ihl := int(p[0]&15) * 4
	tot := int(binary.BigEndian.Uint16(p[2:]))
	if tot > len(p) || ihl+20 > tot {
		return
	}
	src, dst := wire.Addr(p[12:16]), wire.Addr(p[16:20])
	t := p[ihl:tot]
	sp, dp := binary.BigEndian.Uint16(t), binary.BigEndian.Uint16(t[2:])
	seq, flags := binary.BigEndian.Uint32(t[4:]), wire.TCPFlags(t[13])
	dlen := uint32(tot - ihl - int(t[12]>>4)*4)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case src == s.client && dst == s.srv && dp == s.port && flags&wire.FlagRST == 0: // not our own injections
		f := s.flow(sp)
		end := seq + dlen
		if flags&(wire.FlagSYN|wire.FlagFIN) != 0 {
			end++
		}
		if !f.seen || int32(end-f.sndNxt) > 0 {
			f.sndNxt, f.seen = end, true
		}
	case src == s.srv && dst == s.client && sp == s.port:
		s.flow(dp).win = binary.BigEndian.Uint16(t[14:])
		s.fromServer.Add(1)
	}
}

func (s *sniffer) flow(port uint16) *flow {
	f := s.flows[port]
	if f == nil {
		f = &flow{}
		s.flows[port] = f
	}
	return f
}

// httpConn is one keep-alive connection of the kernel's TCP.
type httpConn struct {
	c  net.Conn
	br *bufio.Reader
}

// get sends one request and reads the whole response.
func (h *httpConn) get(dst string) error {
	h.c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintf(h.c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", dst); err != nil {
		return err
	}
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}

func runRST(args []string) error {
	fs := flag.NewFlagSet("rst", flag.ContinueOnError)
	dst := fs.String("dst", "198.18.0.2", "server address")
	port := fs.Uint("port", 80, "server HTTP port")
	iface := fs.String("iface", "", "the client's interface (to sniff sequence numbers)")
	conns := fs.Int("conns", 50, "connections")
	random := fs.Int("random", 20000, "RSTs with random sequence numbers")
	inwin := fs.Int("inwindow", 1000, "RSTs inside the receive window, not at its left edge")
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv, err := netip.ParseAddr(*dst)
	if err != nil || *iface == "" || *conns < 1 {
		return fmt.Errorf("rst: need -dst IPv4, -iface and -conns >= 1")
	}
	ps, err := openPacket(*iface, unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	defer ps.close()
	sn := &sniffer{ps: ps, srv: wire.Addr(srv.As4()), port: uint16(*port), flows: map[uint16]*flow{}}
	hcs := make([]*httpConn, *conns)
	for i := range hcs {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(srv.String(), fmt.Sprint(*port)), 5*time.Second)
		if err != nil {
			return fmt.Errorf("dial %d: %w", i, err)
		}
		defer c.Close()
		if i == 0 {
			sn.client = wire.Addr(c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().As4())
			go sn.run()
		}
		hcs[i] = &httpConn{c: c, br: bufio.NewReader(c)}
	}
	for i, h := range hcs { // traffic the sniffer sees, with every connection's state
		if err := h.get(*dst); err != nil {
			return fmt.Errorf("request on connection %d before the injection: %w", i, err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	raw, err := openRawIP(sn.srv)
	if err != nil {
		return err
	}
	defer raw.close()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	inject := func(h *httpConn, seq uint32) error {
		var pkt [wire.IPv4MinHeaderLen + wire.TCPMinHeaderLen]byte
		lp := uint16(h.c.LocalAddr().(*net.TCPAddr).Port)
		ip := wire.IPv4Header{TotalLen: len(pkt), ID: uint16(rng.Uint32()), TTL: 64, Protocol: wire.ProtoTCP, Src: sn.client, Dst: sn.srv}
		ip.Put(pkt[:])
		tcp := wire.TCPHeader{SrcPort: lp, DstPort: sn.port, Seq: seq, Flags: wire.FlagRST}
		seg := pkt[wire.IPv4MinHeaderLen:]
		tcp.Put(seg)
		wire.SetTCPChecksum(seg, sn.client, sn.srv)
		return raw.send(pkt[:])
	}
	before := sn.fromServer.Load()
	for i := range *random {
		if err := inject(hcs[i%len(hcs)], rng.Uint32()); err != nil {
			return err
		}
	}
	afterRandom := sn.fromServer.Load()
	for i := range *inwin {
		h := hcs[i%len(hcs)]
		sn.mu.Lock()
		f := *sn.flow(uint16(h.c.LocalAddr().(*net.TCPAddr).Port))
		sn.mu.Unlock()
		if !f.seen || f.win < 2 {
			return fmt.Errorf("connection %d: no sequence state sniffed (%+v)", i%len(hcs), f)
		}
		if err := inject(h, f.sndNxt+1+uint32(rng.IntN(int(f.win)-1))); err != nil {
			return err
		}
	}
	time.Sleep(300 * time.Millisecond)
	afterInWin := sn.fromServer.Load()
	killed := 0
	for _, h := range hcs {
		if h.get(*dst) != nil {
			killed++
		}
	}
	fmt.Printf("rst: %d of %d connections killed by %d random-sequence and %d in-window RSTs; the server sent %d segments during the random ones, %d during the in-window ones (challenge ACKs)\n",
		killed, len(hcs), *random, *inwin, afterRandom-before, afterInWin-afterRandom)
	return nil
}
