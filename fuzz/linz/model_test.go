package linz

import (
	"bytes"
	"context"
	"github.com/netspec/netspec/driver/history"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

const (
	conn1 = "198.18.0.1:40001>198.18.0.2:7#0"
	conn2 = "198.18.0.1:40002>198.18.0.2:7#0"
)

// hist builds histories: each op takes one time unit unless placed with at.
type hist struct {
	t    int64
	recs []history.Record
}

func (h *hist) op(conn string, end history.End, op history.Op, data, err string) *hist {
	h.t += 10
	return h.at(conn, end, op, data, err, h.t, h.t+5)
}

func (h *hist) at(conn string, end history.End, op history.Op, data, err string, call, ret int64) *hist {
	r := history.Record{Conn: conn, End: end, Op: op, Err: err, Call: call, Ret: ret}
	if data != "" {
		r.Data = []byte(data)
	}
	h.recs = append(h.recs, r)
	return h
}

// open dials and accepts conn.
func (h *hist) open(conn string) *hist {
	return h.op(conn, history.Client, history.OpDial, "", "").op(conn, history.Server, history.OpAccept, "", "")
}

func check(t *testing.T, recs []history.Record) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Check(ctx, recs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func wantResult(t *testing.T, recs []history.Record, want Result) {
	t.Helper()
	rep := check(t, recs)
	if rep.Result != want {
		var b bytes.Buffer
		for _, p := range rep.Illegal {
			Explain(&b, recs, p.Conn, time.Minute)
		}
		t.Fatalf("verdict %v, want %v\n%s", rep.Result, want, b.String())
	}
}

func TestLegalHalfCloseBothWays(t *testing.T) {
	h := (&hist{}).open(conn1).
		op(conn1, history.Client, history.OpWrite, "hello", "").
		op(conn1, history.Server, history.OpRead, "he", "").
		op(conn1, history.Server, history.OpRead, "llo", "").
		op(conn1, history.Client, history.OpCloseWrite, "", "").
		op(conn1, history.Server, history.OpRead, "", history.ErrEOF).
		op(conn1, history.Server, history.OpWrite, "bye", "").
		op(conn1, history.Server, history.OpClose, "", "").
		op(conn1, history.Client, history.OpRead, "bye", "").
		op(conn1, history.Client, history.OpRead, "", history.ErrEOF).
		op(conn1, history.Client, history.OpClose, "", "").
		op(conn1, history.Client, history.OpClose, "", history.ErrClosed)
	wantResult(t, h.recs, Ok)
}

func TestLegalConcurrent(t *testing.T) {
	h := &hist{}
	// The accept returns before the dial (the client's ACK reached the
	// server before the dialling goroutine woke); the read returns part of a
	// write still in progress; a read spans two writes.
	h.at(conn1, history.Client, history.OpDial, "", "", 0, 100).
		at(conn1, history.Server, history.OpAccept, "", "", 50, 60).
		at(conn1, history.Client, history.OpWrite, "abcdef", "", 110, 200).
		at(conn1, history.Server, history.OpRead, "abc", "", 70, 150).
		at(conn1, history.Client, history.OpWrite, "gh", "", 210, 220).
		at(conn1, history.Server, history.OpRead, "defg", "", 160, 230).
		at(conn1, history.Server, history.OpRead, "h", "", 240, 250).
		at(conn1, history.Server, history.OpRead, "", history.ErrTimeout, 260, 270)
	wantResult(t, h.recs, Ok)
}

func TestLegalResetAfterAbort(t *testing.T) {
	// Bytes in flight may be lost to a RST: a prefix, then reset, then never
	// data again (Linux reports EOF after the reset, netspec the reset).
	h := (&hist{}).open(conn1).
		op(conn1, history.Client, history.OpWrite, "abcd", "").
		op(conn1, history.Server, history.OpRead, "ab", "").
		op(conn1, history.Client, history.OpAbort, "", "").
		op(conn1, history.Server, history.OpRead, "", history.ErrReset).
		op(conn1, history.Server, history.OpRead, "", history.ErrEOF).
		op(conn1, history.Server, history.OpWrite, "", history.ErrPipe)
	wantResult(t, h.recs, Ok)
}

func TestLegalOneSided(t *testing.T) {
	// A server-only history (netspec serve --history, kernel clients not
	// recorded): the peer may have done anything.
	h := &hist{}
	h.op(conn1, history.Server, history.OpAccept, "", "").
		op(conn1, history.Server, history.OpRead, "whatever", "").
		op(conn1, history.Server, history.OpRead, "", history.ErrReset)
	wantResult(t, h.recs, Ok)
}

// TestCorruptedRejected is the list (a read returning bytes never
// written, data after a reset, an accept of a connection never dialled) and
// the other ways a stream can go wrong.
func TestCorruptedRejected(t *testing.T) {
	base := func() *hist {
		return (&hist{}).open(conn1).op(conn1, history.Client, history.OpWrite, "abcd", "")
	}
	cases := map[string]*hist{
		"read of bytes never written": base().op(conn1, history.Server, history.OpRead, "abXd", ""),
		"read before the write":       (&hist{}).open(conn1).op(conn1, history.Server, history.OpRead, "ab", "").op(conn1, history.Client, history.OpWrite, "ab", ""),
		"reordered bytes":             base().op(conn1, history.Server, history.OpRead, "b", ""),
		"duplicated bytes":            base().op(conn1, history.Server, history.OpRead, "ab", "").op(conn1, history.Server, history.OpRead, "ab", ""),
		"data after a reset": base().op(conn1, history.Server, history.OpRead, "ab", "").op(conn1, history.Client, history.OpAbort, "", "").
			op(conn1, history.Server, history.OpRead, "", history.ErrReset).op(conn1, history.Server, history.OpRead, "cd", ""),
		"reset without cause":        base().op(conn1, history.Server, history.OpRead, "", history.ErrReset),
		"accept never dialled":       (&hist{}).open(conn1).op(conn2, history.Server, history.OpAccept, "", ""),
		"accept twice":               (&hist{}).open(conn1).op(conn1, history.Server, history.OpAccept, "", ""),
		"eof with bytes unread":      base().op(conn1, history.Client, history.OpCloseWrite, "", "").op(conn1, history.Server, history.OpRead, "a", "").op(conn1, history.Server, history.OpRead, "", history.ErrEOF),
		"eof without fin":            base().op(conn1, history.Server, history.OpRead, "abcd", "").op(conn1, history.Server, history.OpRead, "", history.ErrEOF),
		"write after close-write":    base().op(conn1, history.Client, history.OpCloseWrite, "", "").op(conn1, history.Client, history.OpWrite, "e", ""),
		"data after eof (one-sided)": (&hist{}).op(conn1, history.Server, history.OpAccept, "", "").op(conn1, history.Server, history.OpRead, "", history.ErrEOF).op(conn1, history.Server, history.OpRead, "x", ""),
		"read after own close":       base().op(conn1, history.Server, history.OpClose, "", "").op(conn1, history.Server, history.OpRead, "ab", ""),
		"closed before close":        base().op(conn1, history.Server, history.OpRead, "", history.ErrClosed),
		"second close succeeds":      base().op(conn1, history.Client, history.OpClose, "", "").op(conn1, history.Client, history.OpClose, "", ""),
		"refused on an open conn":    base().op(conn1, history.Server, history.OpRead, "", history.ErrRefused),
	}
	for name, h := range cases {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			wantResult(t, h.recs, Illegal)
		})
	}
}

func TestSmallestFailingPartition(t *testing.T) {
	h := (&hist{}).open(conn1).open(conn2).
		op(conn1, history.Client, history.OpWrite, "abcd", "").
		op(conn1, history.Server, history.OpRead, "abcd", "").
		op(conn1, history.Server, history.OpRead, "", history.ErrEOF). // 5 ops
		op(conn2, history.Server, history.OpRead, "zz", "")            // 3 ops
	const conn3 = "198.18.0.1:40003>198.18.0.2:7#0"
	h.open(conn3) // legal
	rep := check(t, h.recs)
	if rep.Result != Illegal || len(rep.Illegal) != 2 || rep.Smallest() != conn2 || rep.Conns != 3 {
		t.Fatalf("report %+v, want two illegal partitions, %s first", rep, conn2)
	}
	var b bytes.Buffer
	if err := Explain(&b, h.recs, conn2, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"connection " + conn2 + ": 3 operations", "s read 2B \"zz\"", "longest linearizable prefix: 2 of 3", "accepted=true"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("explanation lacks %q:\n%s", want, b.String())
		}
	}
}

func TestCancelledIsUnknown(t *testing.T) {
	h := (&hist{}).open(conn1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := Check(ctx, h.recs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != Unknown || len(rep.Unknown) != 1 {
		t.Fatalf("a check that could not run = %v (%+v), want inconclusive", rep.Result, rep)
	}
}

func TestHTML(t *testing.T) {
	h := (&hist{}).open(conn1).op(conn1, history.Client, history.OpWrite, "hi", "").op(conn1, history.Server, history.OpRead, "hi", "")
	var b bytes.Buffer
	if err := WriteHTML(&b, h.recs, "", time.Minute); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "<html") || !strings.Contains(b.String(), "c write 2B") {
		t.Fatalf("HTML lacks the page or the operations (%d bytes)", b.Len())
	}
}

// TestRandomStreams generates seeded sequential histories of random writes,
// reads that split them anywhere, half-closes and closes; every one must
// check linearizable, and each with one byte of one read flipped must not.
func TestRandomStreams(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		r := rand.New(rand.NewPCG(seed, 99))
		h := (&hist{}).open(conn1)
		var inflight [2][]byte
		var fin [2]bool
		var reads []int
		for range 40 {
			e := r.IntN(2)
			me, peer := [2]history.End{history.Client, history.Server}[e], [2]history.End{history.Client, history.Server}[1-e]
			switch k := r.IntN(10); {
			case k < 4 && !fin[e]:
				d := make([]byte, 1+r.IntN(8))
				for i := range d {
					d[i] = byte('a' + r.IntN(26))
				}
				inflight[e] = append(inflight[e], d...)
				h.op(conn1, me, history.OpWrite, string(d), "")
			case k < 8 && len(inflight[e]) > 0:
				n := 1 + r.IntN(len(inflight[e]))
				reads = append(reads, len(h.recs))
				h.op(conn1, peer, history.OpRead, string(inflight[e][:n]), "")
				inflight[e] = inflight[e][n:]
			case k == 8 && !fin[e]:
				fin[e] = true
				h.op(conn1, me, history.OpCloseWrite, "", "")
			case k == 9 && fin[e] && len(inflight[e]) == 0:
				h.op(conn1, peer, history.OpRead, "", history.ErrEOF)
			}
		}
		if rep := check(t, h.recs); rep.Result != Ok {
			t.Fatalf("seed %d: legal history judged %v", seed, rep.Result)
		}
		if len(reads) == 0 {
			continue
		}
		bad := append([]history.Record(nil), h.recs...)
		i := reads[r.IntN(len(reads))]
		d := append([]byte(nil), bad[i].Data...)
		d[r.IntN(len(d))] ^= 0x20
		bad[i].Data = d
		if rep := check(t, bad); rep.Result != Illegal {
			t.Fatalf("seed %d: history with a corrupted read (record %d) judged %v", seed, i, rep.Result)
		}
	}
}

func TestCheckRejectsMalformedConnID(t *testing.T) {
	if _, err := Check(t.Context(), []history.Record{{Conn: "nonsense", End: history.Client, Op: history.OpDial}}, Options{}); err == nil {
		t.Error("Check accepted a malformed connection id")
	}
}
