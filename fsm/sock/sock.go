// Package sock holds the socket-level vocabulary shared by the transport layers
// and the stack: readiness bits and the errors the RFC 9293 §3.9 user calls return.
package sock

import "errors"

// Readiness is a set of socket conditions reported to the driver, which wakes
// callers blocked on them. It is edge-reported: a bit means "this changed, try again".
type Readiness uint8

// Readiness bits.
const (
	Readable   Readiness = 1 << iota // data, EOF or an error is waiting for RECEIVE
	Writable                         // SEND may make progress
	Acceptable                       // a listener has a connection to accept
	Connected                        // an active OPEN reached ESTABLISHED
	Closed                           // the connection ended (closed, reset or timed out)
	// Urgent: the peer's urgent pointer advanced, or urgent data became
	// pending where none was (RFC 9293 §3.8.5, MUST-32); the data stays in
	// line and Urgent() tells how much of it is left to read (MUST-33).
	Urgent
)

// Errors returned by the user calls. Callers branch on them with errors.Is.
var (
	// ErrWouldBlock means the call cannot make progress now; wait for readiness.
	ErrWouldBlock = errors.New("operation would block")
	// ErrNotExist is RFC 9293's "connection does not exist".
	ErrNotExist = errors.New("connection does not exist")
	// ErrExists is RFC 9293's "connection already exists" (also: address in use).
	ErrExists = errors.New("connection already exists")
	// ErrClosing is RFC 9293's "connection closing": no more SENDs (or RECEIVEs).
	ErrClosing = errors.New("connection closing")
	// ErrReset is RFC 9293's "connection reset" (MUST-12: an abort, not a graceful close).
	ErrReset = errors.New("connection reset")
	// ErrRefused is RFC 9293's "connection refused" (RST in SYN-SENT).
	ErrRefused = errors.New("connection refused")
	// ErrTimeout is RFC 9293's "connection aborted due to user timeout".
	ErrTimeout = errors.New("connection timed out")
	// ErrBadFD means the descriptor is not open.
	ErrBadFD = errors.New("bad descriptor")
	// ErrNoPorts means no ephemeral port is free.
	ErrNoPorts = errors.New("no free ephemeral port")
	// ErrLimit means a bounded table (descriptors, connections) is full.
	ErrLimit = errors.New("resource limit reached")
	// ErrNetUnreachable, ErrHostUnreachable and ErrUnreachable report an ICMP
	// destination unreachable (RFC 792 codes 0, 1, others); ErrTTLExceeded an
	// ICMP time exceeded and ErrParamProblem a parameter problem. TCP keeps
	// them as soft errors (RFC 1122 §4.2.3.9) and reports the last one when
	// the connection times out.
	ErrNetUnreachable  = errors.New("network unreachable")
	ErrHostUnreachable = errors.New("host unreachable")
	ErrUnreachable     = errors.New("destination unreachable")
	ErrTTLExceeded     = errors.New("time to live exceeded in transit")
	ErrParamProblem    = errors.New("ICMP parameter problem")
)
