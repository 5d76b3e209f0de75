package history

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
)

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	cli := netip.MustParseAddrPort("198.18.0.1:40001")
	srv := netip.MustParseAddrPort("198.18.0.2:7")
	id := w.Open(Client, cli, srv)
	if sid := w.Open(Server, srv, cli); sid != id || id != "198.18.0.1:40001>198.18.0.2:7#0" {
		t.Fatalf("ids %q and %q, want both 198.18.0.1:40001>198.18.0.2:7#0", id, sid)
	}
	if again := w.Open(Client, cli, srv); again != "198.18.0.1:40001>198.18.0.2:7#1" {
		t.Fatalf("a reused 4-tuple got id %q, want #1", again)
	}
	in := []Record{
		{Conn: id, End: Client, Op: OpDial, Call: 1, Ret: 2},
		{Conn: id, End: Client, Op: OpWrite, Data: []byte{0, 1, 255, '\n'}, Call: 3, Ret: 4},
		{Conn: id, End: Server, Op: OpRead, Err: ErrReset, Msg: "connection reset", Call: 5, Ret: 5},
		{End: Client, Op: OpDial, Err: ErrRefused, Call: 6, Ret: 7},
	}
	for _, r := range in {
		w.Write(r)
	}
	if err := w.Flush(); err != nil || w.Len() != uint64(len(in)) {
		t.Fatalf("Flush = %v, Len = %d", err, w.Len())
	}
	if got := strings.Count(buf.String(), "\n"); got != len(in) {
		t.Fatalf("%d lines, want %d", got, len(in))
	}
	out, err := ReadHistory(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

func TestReadHistoryRejects(t *testing.T) {
	for name, line := range map[string]string{
		"json":            `{"conn":`,
		"op":              `{"conn":"a","end":"c","op":"fly","call":1,"ret":2}`,
		"end":             `{"conn":"a","end":"x","op":"read","call":1,"ret":2}`,
		"return first":    `{"conn":"a","end":"c","op":"read","call":3,"ret":2}`,
		"err class":       `{"conn":"a","end":"c","op":"read","err":"boom","call":1,"ret":2}`,
		"dial on server":  `{"conn":"a","end":"s","op":"dial","call":1,"ret":2}`,
		"data on close":   `{"conn":"a","end":"c","op":"close","data":"eA==","call":1,"ret":2}`,
		"read, no conn":   `{"end":"c","op":"read","call":1,"ret":2}`,
		"ok dial no conn": `{"end":"c","op":"dial","call":1,"ret":2}`,
	} {
		if _, err := ReadHistory(strings.NewReader("\n" + line + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: ReadHistory = %v, want an error naming line 2", name, err)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, ErrNone},
		{io.EOF, ErrEOF},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, ErrTimeout},
		{&net.OpError{Op: "read", Err: sock.ErrReset}, ErrReset},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, ErrReset},
		{syscall.EPIPE, ErrPipe},
		{sock.ErrClosing, ErrClosing},
		{sock.ErrTimeout, ErrTimedOut},
		{syscall.ECONNREFUSED, ErrRefused},
		{&net.OpError{Op: "close", Err: net.ErrClosed}, ErrClosed},
		{errors.New("strange"), ErrOther},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestStampMonotonic(t *testing.T) {
	a := time.Now()
	b := a.Add(1500 * time.Nanosecond)
	if d := Stamp(b) - Stamp(a); d != 1500 {
		t.Fatalf("Stamp difference %d, want 1500", d)
	}
}
