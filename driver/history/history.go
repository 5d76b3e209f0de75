package history

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/netspec/netspec/fsm/sock"
)

// End names one end of a connection.
type End string

// The two ends of a connection.
const (
	Client End = "c" // the active opener (dial)
	Server End = "s" // the passive opener (accept)
)

// Op names a socket call in a Record.
type Op string

// Recorded operations.
const (
	OpDial       Op = "dial"       // active OPEN (RFC 9293 §3.10.1); Client end
	OpAccept     Op = "accept"     // a connection taken from the accept queue; Server end
	OpWrite      Op = "write"      // SEND (§3.10.2); Data = the bytes accepted
	OpRead       Op = "read"       // RECEIVE (§3.10.3); Data = the bytes returned
	OpCloseWrite Op = "closewrite" // half-close: FIN after queued data
	OpClose      Op = "close"      // CLOSE (§3.10.4)
	OpAbort      Op = "abort"      // ABORT (§3.10.5): RST
)

// Error classes of a Record (the Err field). The empty class is success.
const (
	ErrNone     = ""
	ErrEOF      = "eof"      // io.EOF: the peer's FIN after all its data
	ErrReset    = "reset"    // the connection was reset (ECONNRESET, sock.ErrReset)
	ErrPipe     = "pipe"     // EPIPE: write after our close-write or the peer's reset
	ErrClosing  = "closing"  // write after our own close-write (sock.ErrClosing)
	ErrTimeout  = "timeout"  // a deadline passed (os.ErrDeadlineExceeded); nothing happened
	ErrTimedOut = "timedout" // the stack gave the connection up (ETIMEDOUT, sock.ErrTimeout)
	ErrRefused  = "refused"  // RST in reply to our SYN (ECONNREFUSED, sock.ErrRefused)
	ErrClosed   = "closed"   // use of a connection we had closed (net.ErrClosed)
	ErrShutdown = "shutdown" // the stack itself stopped (the recorder knows it)
	ErrOther    = "other"    // anything else
)

var errClasses = map[string]bool{
	ErrNone: true, ErrEOF: true, ErrReset: true, ErrPipe: true, ErrClosing: true,
	ErrTimeout: true, ErrTimedOut: true, ErrRefused: true, ErrClosed: true,
	ErrShutdown: true, ErrOther: true,
}

// Classify maps an error returned by a net.Conn (netspec's or the kernel's)
// to its class.
func Classify(err error) string {
	switch {
	case err == nil:
		return ErrNone
	case errors.Is(err, io.EOF):
		return ErrEOF
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, sock.ErrReset), errors.Is(err, syscall.ECONNRESET):
		return ErrReset
	case errors.Is(err, syscall.EPIPE):
		return ErrPipe
	case errors.Is(err, sock.ErrClosing):
		return ErrClosing
	case errors.Is(err, sock.ErrTimeout), errors.Is(err, syscall.ETIMEDOUT):
		return ErrTimedOut
	case errors.Is(err, sock.ErrRefused), errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, net.ErrClosed):
		return ErrClosed
	}
	return ErrOther
}

// Record is one completed call: one line of a history file.
//
// Conn identifies the connection the same way from both ends:
// "DIALER>LISTENER#K", the dialer's and the listener's address:port and K,
// the number of earlier connections with the same addresses seen by the
// recorder (so a reused 4-tuple is a new connection). A failed dial or accept
// has no connection and an empty Conn.
//
// Data carries the bytes themselves (base64 in JSON): for a write, the bytes
// the call accepted (a failed write may have accepted a prefix); for a read,
// the bytes it returned. Digests would be smaller but cannot be checked
// against reads that split writes at arbitrary points.
//
// Call and Ret are nanoseconds on a monotonic clock anchored to the wall
// clock at process start (Stamp): exact between recorders of one process,
// and within the wall clocks' disagreement between processes of one machine.
type Record struct {
	Conn string `json:"conn"`
	End  End    `json:"end"`
	Op   Op     `json:"op"`
	Data []byte `json:"data,omitempty"`
	Err  string `json:"err,omitempty"`
	Msg  string `json:"msg,omitempty"` // the error's text, for people
	Call int64  `json:"call"`
	Ret  int64  `json:"ret"`
}

// validate reports a record that no recorder can have written.
func (r *Record) validate() error {
	switch r.End {
	case Client, Server:
	default:
		return fmt.Errorf("bad end %q (want c or s)", r.End)
	}
	switch r.Op {
	case OpDial:
		if r.End != Client {
			return errors.New("dial on the server end")
		}
	case OpAccept:
		if r.End != Server {
			return errors.New("accept on the client end")
		}
	case OpWrite, OpRead, OpCloseWrite, OpClose, OpAbort:
		if r.Conn == "" {
			return fmt.Errorf("%s without a connection", r.Op)
		}
	default:
		return fmt.Errorf("unknown op %q", r.Op)
	}
	if len(r.Data) > 0 && r.Op != OpWrite && r.Op != OpRead {
		return fmt.Errorf("%s with data", r.Op)
	}
	if !errClasses[r.Err] {
		return fmt.Errorf("unknown error class %q", r.Err)
	}
	if r.Conn == "" && r.Err == ErrNone {
		return fmt.Errorf("successful %s without a connection", r.Op)
	}
	if r.Ret < r.Call {
		return fmt.Errorf("returned (%d) before it was called (%d)", r.Ret, r.Call)
	}
	return nil
}

// maxLine bounds one history line (a 4 MiB write in base64 and change).
const maxLine = 6 << 20

// ReadHistory parses a history file. Blank lines are skipped; a malformed
// line is an error naming its number.
func ReadHistory(r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var recs []Record
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("history line %d: %w", line, err)
		}
		if err := rec.validate(); err != nil {
			return nil, fmt.Errorf("history line %d: %w", line, err)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("history line %d: %w", line+1, err)
	}
	return recs, nil
}

// ReadHistoryFile parses the history file at path.
func ReadHistoryFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	recs, err := ReadHistory(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}

// epoch anchors Stamp: one per process, so every recorder of a process
// agrees exactly.
var epoch = time.Now()

// Stamp converts t to a history timestamp: nanoseconds since the Unix epoch,
// measured on the monotonic clock from the process's start.
func Stamp(t time.Time) int64 {
	return epoch.UnixNano() + int64(t.Sub(epoch))
}

// Writer appends Records to a history as JSON lines. It is safe for
// concurrent use. A write error is sticky and reported by Flush and Close.
type Writer struct {
	mu     sync.Mutex
	w      *bufio.Writer
	c      io.Closer // closed by Close, if the writer owns the file
	counts map[string]uint32
	n      uint64
	err    error
	line   []byte
}

// NewWriter returns a Writer appending to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), counts: make(map[string]uint32)}
}

// CreateFile creates (or truncates) path and returns a Writer to it; Close
// flushes and closes the file.
func CreateFile(path string) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create history: %w", err)
	}
	w := NewWriter(f)
	w.c = f
	return w, nil
}

// Open names a newly opened connection seen from end, with the given local
// and remote address:port, and returns its Conn id.
func (w *Writer) Open(end End, local, remote netip.AddrPort) string {
	dialer, listener := local, remote
	if end == Server {
		dialer, listener = remote, local
	}
	tuple := dialer.String() + ">" + listener.String()
	w.mu.Lock()
	key := string(end) + tuple
	k := w.counts[key]
	w.counts[key] = k + 1
	w.mu.Unlock()
	return tuple + "#" + strconv.FormatUint(uint64(k), 10)
}

// Write appends one record.
func (w *Writer) Write(r Record) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	b, err := json.Marshal(&r)
	if err != nil {
		w.err = fmt.Errorf("history: encode: %w", err)
		return
	}
	w.line = append(append(w.line[:0], b...), '\n')
	if _, err := w.w.Write(w.line); err != nil {
		w.err = fmt.Errorf("history: write: %w", err)
		return
	}
	w.n++
}

// Len returns the number of records written.
func (w *Writer) Len() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Flush writes buffered records out and reports the first error so far.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		if err := w.w.Flush(); err != nil {
			w.err = fmt.Errorf("history: flush: %w", err)
		}
	}
	return w.err
}

// Close flushes and, for a Writer from CreateFile, closes the file.
func (w *Writer) Close() error {
	err := w.Flush()
	if w.c != nil {
		if cerr := w.c.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("history: close: %w", cerr)
		}
		w.c = nil
	}
	return err
}

// AddrPort converts a net.Addr of a TCP connection to a netip.AddrPort (the
// zero value when it is not one).
func AddrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
