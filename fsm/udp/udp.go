// Package udp is the UDP layer of netspec (RFC 768, RFC 1122 §4.1): bound
// sockets with bounded receive queues, checksums (zero = none on receive),
// demultiplexing by local port, and soft errors from ICMP. It is pure: no
// I/O, no clock, randomness injected.
package udp

import (
	"fmt"
	"math/rand/v2"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/wire"
)

// Defaults applied by NewLayer to zero Config fields.
const (
	DefaultMaxSockets = 1024
	DefaultRecvQueue  = 256       // datagrams held per socket
	DefaultRecvBytes  = 256 << 10 // payload bytes held per socket (Linux rmem_default is 208 KiB)
	// MaxPayload is the largest UDP payload in one IPv4 datagram:
	// 65535 - 20 (IPv4 header) - 8 (UDP header).
	MaxPayload = 65507
	// ephemeral port range (RFC 6335 §6: the dynamic ports)
	ephFirst = 49152
	ephLast  = 65535
	// poolMax bounds the recycled receive buffers kept for reuse.
	poolMax = 1024
)

// Reason names why the UDP layer dropped a datagram. Each has a counter.
type Reason uint8

// Drop reasons of the UDP layer.
const (
	ReasonNone        Reason = iota
	ReasonMalformed          // shorter than a header, or Length disagrees with the IP payload (RFC 768)
	ReasonBadChecksum        // non-zero checksum that does not verify (RFC 1122 §4.1.3.4 MUST)
	ReasonNoPort             // nobody bound to the port: ICMP port unreachable (RFC 1122 §4.1.3.1)
	ReasonNoPortBcast        // nobody bound, datagram was broadcast: no ICMP (RFC 1122 §3.2.2)
	ReasonQueueFull          // the socket's receive queue was full (datagrams or bytes)
	ReasonTooBig             // a send larger than MaxPayload
	NumReasons
)

var reasonNames = [NumReasons]string{"none", "malformed", "bad_checksum", "no_port", "no_port_broadcast", "queue_full", "too_big"}

// String returns the counter name of r.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Errors the socket calls return besides those of fsm/sock.
var (
	// ErrTooBig means a datagram larger than MaxPayload was given to SendTo.
	ErrTooBig = fmt.Errorf("udp: datagram too big: %w", sock.ErrLimit)
	// ErrHostUnreachable is the soft error left by an ICMP destination
	// unreachable other than port unreachable, or a time exceeded.
	ErrHostUnreachable = fmt.Errorf("udp: host unreachable")
)

// Config bounds the layer. Zero fields take the defaults above.
type Config struct {
	MaxSockets int // bound sockets at once
	RecvQueue  int // datagrams held per socket before drops
	RecvBytes  int // payload bytes held per socket before drops
}

// Output is how the layer sends datagrams and reports readiness.
type Output interface {
	// SendDatagram sends a UDP datagram, header then payload, from src to dst
	// over IPv4 (fragmented if it exceeds the MTU). The slices are valid only
	// during the call.
	SendDatagram(src, dst wire.Addr, header, payload []byte)
	// Notify reports a readiness change of the socket with user id id.
	Notify(id uint64, ev sock.Readiness)
}

// Counters are the layer's named counters, netstat -s style.
type Counters struct {
	InDatagrams  uint64 // datagrams given to Input
	Delivered    uint64 // datagrams queued on a socket
	OutDatagrams uint64 // datagrams sent
	SoftErrors   uint64 // ICMP errors recorded on a socket
	Sockets      uint64 // bound sockets now
	Drops        [NumReasons]uint64
}

// Layer is the UDP layer of one stack. It is not safe for concurrent use.
type Layer struct {
	cfg     Config
	out     Output
	rng     *rand.Rand
	binds   map[uint16]*Socket
	c       Counters
	pool    [][]byte
	nextEph uint16
	hdr     [wire.UDPHeaderLen]byte
}

// NewLayer returns a UDP layer sending through out; rng picks ephemeral ports.
func NewLayer(cfg Config, out Output, rng *rand.Rand) *Layer {
	if cfg.MaxSockets <= 0 {
		cfg.MaxSockets = DefaultMaxSockets
	}
	if cfg.RecvQueue <= 0 {
		cfg.RecvQueue = DefaultRecvQueue
	}
	if cfg.RecvBytes <= 0 {
		cfg.RecvBytes = DefaultRecvBytes
	}
	l := &Layer{cfg: cfg, out: out, rng: rng, binds: make(map[uint16]*Socket)}
	l.nextEph = uint16(ephFirst + rng.IntN(ephLast-ephFirst+1))
	return l
}

// Counters returns a copy of the counters.
func (l *Layer) Counters() Counters {
	c := l.c
	c.Sockets = uint64(len(l.binds))
	return c
}

// record is one queued datagram.
type record struct {
	from wire.Addr
	port uint16
	b    []byte
}

// Socket is one bound UDP socket: a local address and port and a bounded
// receive queue.
type Socket struct {
	l       *Layer
	id      uint64
	laddr   wire.Addr
	lport   uint16
	q       []record // ring of cfg.RecvQueue records
	head, n int
	bytes   int
	softErr error
	closed  bool
}

// Bind opens a socket on (laddr, port); port 0 picks a free ephemeral port.
// id is the user id reported with readiness. Only one socket may hold a port
// (sock.ErrExists otherwise).
func (l *Layer) Bind(laddr wire.Addr, port uint16, id uint64) (*Socket, error) {
	if len(l.binds) >= l.cfg.MaxSockets {
		return nil, fmt.Errorf("udp bind: %w", sock.ErrLimit)
	}
	if port == 0 {
		p, ok := l.ephemeral()
		if !ok {
			return nil, fmt.Errorf("udp bind: %w", sock.ErrNoPorts)
		}
		port = p
	} else if l.binds[port] != nil {
		return nil, fmt.Errorf("udp bind %d: %w", port, sock.ErrExists)
	}
	s := &Socket{l: l, id: id, laddr: laddr, lport: port, q: make([]record, l.cfg.RecvQueue)}
	l.binds[port] = s
	return s, nil
}

func (l *Layer) ephemeral() (uint16, bool) {
	for range ephLast - ephFirst + 1 {
		p := l.nextEph
		if l.nextEph == ephLast {
			l.nextEph = ephFirst
		} else {
			l.nextEph++
		}
		if l.binds[p] == nil {
			return p, true
		}
	}
	return 0, false
}

// Input processes one UDP datagram (the IP payload) from src to dst. csumOK
// says the driver already verified the checksum; broadcast says dst was a
// broadcast address. It returns ReasonNone when the datagram was queued, and
// ReasonNoPort when the caller owes the sender ICMP port unreachable
// (RFC 1122 §4.1.3.1).
func (l *Layer) Input(src, dst wire.Addr, pkt []byte, csumOK, broadcast bool) Reason {
	l.c.InDatagrams++
	u, err := wire.ParseUDP(pkt)
	if err != nil || u.Length() < wire.UDPHeaderLen || u.Length() > len(pkt) {
		return l.drop(ReasonMalformed)
	}
	pkt = pkt[:u.Length()]
	// RFC 768 / RFC 1122 §4.1.3.4: a zero checksum means none was computed.
	if !csumOK && u.Checksum() != 0 && wire.Checksum(pkt, wire.PseudoHeaderSum(src, dst, wire.ProtoUDP, len(pkt))) != 0 {
		return l.drop(ReasonBadChecksum)
	}
	s := l.binds[u.DstPort()]
	if s == nil || (!s.laddr.IsUnspecified() && !broadcast && s.laddr != dst) {
		if broadcast {
			return l.drop(ReasonNoPortBcast)
		}
		return l.drop(ReasonNoPort)
	}
	payload := u.Payload()
	if s.n == len(s.q) || s.bytes+len(payload) > l.cfg.RecvBytes {
		return l.drop(ReasonQueueFull)
	}
	b := l.buffer(len(payload))
	copy(b, payload)
	s.q[(s.head+s.n)%len(s.q)] = record{from: src, port: u.SrcPort(), b: b}
	s.n++
	s.bytes += len(b)
	l.c.Delivered++
	if s.n == 1 {
		l.out.Notify(s.id, sock.Readable)
	}
	return ReasonNone
}

func (l *Layer) drop(r Reason) Reason {
	l.c.Drops[r]++
	return r
}

// buffer returns a buffer of n bytes, recycled when one is big enough.
func (l *Layer) buffer(n int) []byte {
	if k := len(l.pool); k > 0 && cap(l.pool[k-1]) >= n {
		b := l.pool[k-1]
		l.pool = l.pool[:k-1]
		return b[:n]
	}
	return make([]byte, n, max(n, 2048))
}

func (l *Layer) recycle(b []byte) {
	if len(l.pool) < poolMax {
		l.pool = append(l.pool, b[:0])
	}
}

// ICMPError records an ICMP error about a datagram this layer sent from
// (src, sport) to (dst, dport) as a soft error on the socket bound to sport
// (RFC 1122 §4.1.3.3: UDP MUST pass ICMP errors up to the application).
// Port unreachable becomes sock.ErrRefused, as Linux reports ECONNREFUSED;
// other destination unreachable and time exceeded messages become
// ErrHostUnreachable. It reports whether a socket matched.
func (l *Layer) ICMPError(src, dst wire.Addr, sport, dport uint16, typ, code uint8) bool {
	s := l.binds[sport]
	if s == nil || (!s.laddr.IsUnspecified() && s.laddr != src) {
		return false
	}
	const destUnreachable, portUnreachable = 3, 3
	if typ == destUnreachable && code == portUnreachable {
		s.softErr = sock.ErrRefused
	} else {
		s.softErr = ErrHostUnreachable
	}
	l.c.SoftErrors++
	return true
}

// Port returns the socket's local port.
func (s *Socket) Port() uint16 { return s.lport }

// Addr returns the socket's local address (zero: any).
func (s *Socket) Addr() wire.Addr { return s.laddr }

// Queued returns the number of datagrams waiting to be read.
func (s *Socket) Queued() int { return s.n }

// SendTo sends b as one datagram to (dst, dport) from the socket's port
// (RFC 768). The checksum is always computed (RFC 1122 §4.1.3.4 MUST default
// on). A datagram larger than the link MTU is fragmented by IP.
func (s *Socket) SendTo(src, dst wire.Addr, dport uint16, b []byte) error {
	if s.closed {
		return fmt.Errorf("udp send: %w", sock.ErrBadFD)
	}
	l := s.l
	if len(b) > MaxPayload {
		l.c.Drops[ReasonTooBig]++
		return ErrTooBig
	}
	if dport == 0 {
		return fmt.Errorf("udp send to port 0: %w", sock.ErrNotExist)
	}
	if !s.laddr.IsUnspecified() {
		src = s.laddr
	}
	n := wire.UDPHeaderLen + len(b)
	h := l.hdr[:]
	wire.PutUDPHeader(h, s.lport, dport, n)
	c := wire.Checksum(b, wire.Sum(h, wire.PseudoHeaderSum(src, dst, wire.ProtoUDP, n)))
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	h[6], h[7] = byte(c>>8), byte(c)
	l.out.SendDatagram(src, dst, h, b)
	l.c.OutDatagrams++
	return nil
}

// RecvFrom copies the next queued datagram into b and returns its length and
// sender. A datagram longer than b is truncated (the rest is discarded, as
// recvfrom(2) does). It returns sock.ErrWouldBlock when nothing is queued.
func (s *Socket) RecvFrom(b []byte) (n int, from wire.Addr, port uint16, err error) {
	if s.closed {
		return 0, wire.Addr{}, 0, fmt.Errorf("udp recv: %w", sock.ErrBadFD)
	}
	if s.n == 0 {
		return 0, wire.Addr{}, 0, sock.ErrWouldBlock
	}
	r := &s.q[s.head]
	n = copy(b, r.b)
	from, port = r.from, r.port
	s.bytes -= len(r.b)
	s.l.recycle(r.b)
	*r = record{}
	s.head = (s.head + 1) % len(s.q)
	s.n--
	return n, from, port, nil
}

// SoftError returns and clears the last ICMP error recorded on the socket
// (nil if none).
func (s *Socket) SoftError() error {
	err := s.softErr
	s.softErr = nil
	return err
}

// Close unbinds the socket and drops what it still queued.
func (s *Socket) Close() {
	if s.closed {
		return
	}
	s.closed = true
	for s.n > 0 {
		s.l.recycle(s.q[s.head].b)
		s.q[s.head] = record{}
		s.head = (s.head + 1) % len(s.q)
		s.n--
	}
	s.bytes = 0
	if s.l.binds[s.lport] == s {
		delete(s.l.binds, s.lport)
	}
}
