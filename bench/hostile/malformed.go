//go:build linux

package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/fsm/wire"
)

// runMalformed sends frames that start valid and are then broken.
func runMalformed(args []string) error {
	fs := flag.NewFlagSet("malformed", flag.ContinueOnError)
	iface := fs.String("iface", "", "the client's interface")
	dstMAC := fs.String("dstmac", "", "the server's MAC")
	dst := fs.String("dst", "198.18.0.2", "server address")
	src := fs.String("src", "198.18.0.1", "source address")
	count := fs.Int("count", 50000, "frames to send")
	dur := fs.Duration("duration", 60*time.Second, "stop after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	hw, err := net.ParseMAC(*dstMAC)
	d, err1 := netip.ParseAddr(*dst)
	s, err2 := netip.ParseAddr(*src)
	ifi, err3 := net.InterfaceByName(*iface)
	if err != nil || err1 != nil || err2 != nil || err3 != nil || len(hw) != 6 {
		return fmt.Errorf("malformed: need -iface, -dstmac, -dst and -src")
	}
	ps, err := openPacket(*iface, unix.SOCK_RAW)
	if err != nil {
		return err
	}
	defer ps.close()
	g := &mangler{rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 50)), dmac: wire.MAC(hw), smac: wire.MAC(ifi.HardwareAddr),
		src: wire.Addr(s.As4()), dst: wire.Addr(d.As4())}
	start := time.Now()
	sent, errs := 0, 0
	for sent < *count && time.Since(start) < *dur {
		if ps.send(g.frame()) != nil {
			errs++
		}
		sent++
	}
	fmt.Printf("malformed: %d frames sent in %.1f s (%d more refused by the kernel: shorter than an Ethernet header)\n", sent-errs, time.Since(start).Seconds(), errs)
	return nil
}

// mangler builds broken frames.
type mangler struct {
	rng        *rand.Rand
	dmac, smac wire.MAC
	src, dst   wire.Addr
	buf        [1514]byte
}

// frame returns a valid TCP, UDP, ICMP or ARP frame broken in one to
// three ways.
func (g *mangler) frame() []byte {
	b := g.buf[:]
	eth := wire.EthernetHeaderLen
	wire.PutEthernet(b, g.dmac, g.smac, wire.EtherTypeIPv4)
	n := eth + wire.IPv4MinHeaderLen
	proto := []uint8{wire.ProtoTCP, wire.ProtoUDP, wire.ProtoICMP}[g.rng.IntN(3)]
	if g.rng.IntN(8) == 0 { // ARP
		wire.PutEthernet(b, g.dmac, g.smac, wire.EtherTypeARP)
		wire.PutARP(b[eth:], uint16(1+g.rng.IntN(2)), g.smac, g.src, wire.MAC{}, g.dst)
		return g.mangle(b[:eth+28], eth, false)
	}
	payload := g.rng.IntN(200)
	switch proto {
	case wire.ProtoTCP:
		t := wire.TCPHeader{SrcPort: uint16(1024 + g.rng.IntN(60000)), DstPort: 80, Seq: g.rng.Uint32(), Ack: g.rng.Uint32(),
			Flags: wire.TCPFlags(g.rng.IntN(64)), Window: uint16(g.rng.Uint32())}
		if g.rng.IntN(2) == 0 {
			t.Opts.HasMSS, t.Opts.MSS = true, uint16(g.rng.Uint32())
		}
		n += t.Put(b[n:])
	case wire.ProtoUDP:
		binary.BigEndian.PutUint16(b[n:], uint16(g.rng.Uint32()))
		binary.BigEndian.PutUint16(b[n+2:], []uint16{7, 53, 80, uint16(g.rng.Uint32())}[g.rng.IntN(4)])
		binary.BigEndian.PutUint16(b[n+4:], uint16(8+payload))
		binary.BigEndian.PutUint16(b[n+6:], 0)
		n += 8
	case wire.ProtoICMP:
		wire.PutICMPHeader(b[n:], []uint8{0, 3, 8, 11, 12, 13, uint8(g.rng.IntN(256))}[g.rng.IntN(7)], uint8(g.rng.IntN(16)), g.rng.Uint32())
		n += 8
	}
	for i := range payload {
		b[n+i] = byte(g.rng.Uint32())
	}
	n += payload
	h := wire.IPv4Header{TotalLen: n - eth, ID: uint16(g.rng.Uint32()), DontFragment: g.rng.IntN(2) == 0, TTL: 64, Protocol: proto, Src: g.src, Dst: g.dst}
	h.Put(b[eth:])
	return g.mangle(b[:n], eth, true)
}

// mangle breaks frame f (network header at off) and, half of the time,
// fixes the IPv4 header checksum and the TCP checksum afterwards so that
// the damage is seen past them.
func (g *mangler) mangle(f []byte, off int, ip bool) []byte {
	for range 1 + g.rng.IntN(3) {
		switch g.rng.IntN(7) {
		case 0: // truncated anywhere, even inside the Ethernet header
			f = f[:g.rng.IntN(len(f)+1)]
		case 1: // bits flipped in the headers
			if len(f) > 0 {
				for range 1 + g.rng.IntN(4) {
					i := g.rng.IntN(min(len(f), off+60))
					f[i] ^= 1 << g.rng.IntN(8)
				}
			}
		case 2: // IHL and version nonsense
			if ip && len(f) > off {
				f[off] = byte(g.rng.IntN(256))
			}
		case 3: // total length nonsense
			if ip && len(f) > off+4 {
				binary.BigEndian.PutUint16(f[off+2:], uint16(g.rng.Uint32()))
			}
		case 4: // fragment fields nonsense
			if ip && len(f) > off+8 {
				binary.BigEndian.PutUint16(f[off+6:], uint16(g.rng.Uint32()))
			}
		case 5: // TCP data offset and options garbled
			if ip && len(f) > off+40 {
				f[off+32] = byte(g.rng.IntN(16)) << 4
				for i := off + 40; i < len(f) && i < off+80; i++ {
					f[i] = byte(g.rng.IntN(256))
				}
			}
		case 6: // padding after the datagram
			if len(f)+20 < len(g.buf) {
				f = f[:len(f)+g.rng.IntN(20)]
			}
		}
	}
	if ip && g.rng.IntN(2) == 0 && len(f) >= off+wire.IPv4MinHeaderLen {
		ihl := int(f[off]&15) * 4
		if ihl >= wire.IPv4MinHeaderLen && off+ihl <= len(f) {
			binary.BigEndian.PutUint16(f[off+10:], 0)
			binary.BigEndian.PutUint16(f[off+10:], wire.Checksum(f[off:off+ihl], 0))
			if f[off+9] == wire.ProtoTCP && len(f) >= off+ihl+wire.TCPMinHeaderLen {
				wire.SetTCPChecksum(f[off+ihl:], g.src, g.dst)
			}
		}
	}
	return f
}
