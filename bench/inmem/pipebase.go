package inmem

import (
	"context"
	"net"
	"sync"
)

// NewNetPipe returns a pair without a network stack: each Dial is a
// net.Pipe whose other end the listener accepts. It is the floor of the
// benchmarks (the client, server and net/http's own cost, no TCP/IP).
func NewNetPipe() (*Pair, error) {
	ln := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	return &Pair{
		Name:   "netpipe",
		Listen: func() (net.Listener, error) { return ln, nil },
		Dial: func(ctx context.Context) (net.Conn, error) {
			c, s := net.Pipe()
			select {
			case ln.conns <- s:
				return c, nil
			case <-ln.done:
				return nil, net.ErrClosed
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
		Losses: func() (uint64, uint64) { return 0, 0 },
		Close:  func() { ln.Close() },
	}, nil
}

// pipeListener accepts the server ends of NewNetPipe's pipes.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }
