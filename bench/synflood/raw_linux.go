//go:build linux

package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// raw is an IPPROTO_RAW socket: the datagrams written carry their own IPv4
// header (IP_HDRINCL is implied), spoofed source included.
type raw struct {
	fd int
	to unix.SockaddrInet4
}

func openRaw(dst [4]byte) (*raw, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("raw socket: %w", err)
	}
	return &raw{fd: fd, to: unix.SockaddrInet4{Addr: dst}}, nil
}

func (r *raw) send(pkt []byte) error { return unix.Sendto(r.fd, pkt, 0, &r.to) }
