//go:build linux

// Command hostile runs the hostile-client scenarios of docs/robustness.md
// (make robust, bench/robust.sh) from a client namespace against a server
// at -dst. Each is bounded in count and time:
//
//	hostile rst -dst A -conns 50 -random 20000 -inwindow 1000
//	    opens -conns keep-alive HTTP connections with the kernel's TCP,
//	    learns each one's sequence numbers by sniffing the client interface,
//	    injects -random RSTs with random sequence numbers and -inwindow RSTs
//	    inside the server's receive window but not at its left edge (RFC
//	    5961 §3: they must draw a challenge ACK, not a reset) through a raw
//	    socket, then sends one more request on every connection and prints
//	    how many were killed.
//	hostile frag -dst A -count 20000
//	    sends IPv4 fragments of datagrams that never complete: random IDs,
//	    offsets, lengths and more-fragments bits, some overlapping.
//	hostile malformed -iface IF -dstmac MAC -dst A -count 50000
//	    sends Ethernet frames to the server's MAC built from valid TCP, UDP,
//	    ICMP and ARP frames and then broken: truncated, header fields set to
//	    nonsense, option bytes garbled, bits flipped (with checksums fixed
//	    half of the time, so the damage reaches past the checksum checks).
//	hostile hold -dst A -conns N -duration D [-slowloris]
//	    holds N connections for D: keep-alive ones that send a request every
//	    20 s (so an idle timeout does not end them), or slowloris ones that
//	    send a partial request and one more header line every 3 s.
//
// Linux only (raw and packet sockets); needs CAP_NET_RAW.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hostile rst|frag|malformed|hold [flags]")
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "rst":
		err = runRST(args)
	case "frag":
		err = runFrag(args)
	case "malformed":
		err = runMalformed(args)
	case "hold":
		err = runHold(args)
	default:
		err = fmt.Errorf("unknown scenario %q (want rst, frag, malformed or hold)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
}
