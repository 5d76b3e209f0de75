//go:build !linux

package main

import "errors"

type raw struct{}

func openRaw(dst [4]byte) (*raw, error) {
	return nil, errors.New("raw sockets: only supported on Linux")
}

func (r *raw) send(pkt []byte) error { return errors.New("not supported") }
