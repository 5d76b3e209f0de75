package stack

import "github.com/netspec/netspec/fsm/tcp"

// TCPSocket is one TCP socket of the stack as `netspec ss` lists it: the TCP
// layer's snapshot and the descriptor that holds it.
type TCPSocket struct {
	tcp.ConnInfo
	// FD is the socket's descriptor, or -1 when none holds it yet (a
	// connection waiting in an accept queue) or any more (a TIME-WAIT
	// record after Close).
	FD FD
}

// TCPSockets appends a snapshot of every TCP socket (listeners, connections,
// TIME-WAIT records; in tcp.Layer.Info's order) to dst and returns it. It
// only reads the stack; like every Stack method it must not run
// concurrently with another.
func (s *Stack) TCPSockets(dst []TCPSocket) []TCPSocket {
	for _, ci := range s.tcp.Info(nil) {
		fd := FD(-1)
		if ci.HasID && ci.ID > 0 {
			fd = FD(ci.ID - 1) // id(fd)
		}
		dst = append(dst, TCPSocket{ConnInfo: ci, FD: fd})
	}
	return dst
}
