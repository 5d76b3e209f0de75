package netconn

import "github.com/netspec/netspec/driver/history"

// History is a Recorder that writes every recorded call as one line of a
// linearizability history (the format of package fuzz/linz), for
// "netspec serve --history FILE" and for tests. Connections opened by Dial
// are the client end, those from Accept the server end. It is safe for
// concurrent use.
type History struct {
	w *history.Writer
}

var _ Recorder = (*History)(nil)

// NewHistory returns a recorder writing to w. Several recorders (the client
// and the server loop of a test) may share one Writer.
func NewHistory(w *history.Writer) *History { return &History{w: w} }

var histOps = [...]history.Op{
	OpRead:       history.OpRead,
	OpWrite:      history.OpWrite,
	OpCloseWrite: history.OpCloseWrite,
	OpClose:      history.OpClose,
	OpDial:       history.OpDial,
	OpAccept:     history.OpAccept,
	OpAbort:      history.OpAbort,
}

// Record implements Recorder.
func (h *History) Record(ev Event) {
	if int(ev.Op) >= len(histOps) || histOps[ev.Op] == "" {
		return
	}
	r := history.Record{
		Op:   histOps[ev.Op],
		Err:  history.Classify(ev.Err),
		Call: history.Stamp(ev.Start),
		Ret:  history.Stamp(ev.End),
	}
	if ev.Err != nil {
		r.Msg = ev.Err.Error()
	}
	switch {
	case ev.Op == OpDial:
		r.End = history.Client
	case ev.Op == OpAccept:
		r.End = history.Server
	case ev.Conn != nil && ev.Conn.active:
		r.End = history.Client
	default:
		r.End = history.Server
	}
	if c := ev.Conn; c != nil {
		if (ev.Op == OpDial || ev.Op == OpAccept) && ev.Err == nil {
			// Recorded before Dial/Accept return the Conn: no call on it
			// can race with setting its id.
			c.rec.id = h.w.Open(r.End, c.laddr.AddrPort(), c.raddr.AddrPort())
		}
		r.Conn = c.rec.id
		if r.Err == history.ErrClosed && !c.closed.Load() {
			// net.ErrClosed although we never closed it: the loop stopped.
			r.Err = history.ErrShutdown
		}
	}
	if len(ev.Data) > 0 {
		r.Data = ev.Data // encoded before Write returns
	}
	h.w.Write(r)
}
