package netconn

import "github.com/netspec/netspec/fuzz/linz"

// History is a Recorder that writes every recorded call as one line of a
// linearizability history (the format of package fuzz/linz), for
// "netspec serve --history FILE" and for tests. Connections opened by Dial
// are the client end, those from Accept the server end. It is safe for
// concurrent use.
type History struct {
	w *linz.Writer
}

var _ Recorder = (*History)(nil)

// NewHistory returns a recorder writing to w. Several recorders (the client
// and the server loop of a test) may share one Writer.
func NewHistory(w *linz.Writer) *History { return &History{w: w} }

var histOps = [...]linz.Op{
	OpRead:       linz.OpRead,
	OpWrite:      linz.OpWrite,
	OpCloseWrite: linz.OpCloseWrite,
	OpClose:      linz.OpClose,
	OpDial:       linz.OpDial,
	OpAccept:     linz.OpAccept,
	OpAbort:      linz.OpAbort,
}

// Record implements Recorder.
func (h *History) Record(ev Event) {
	if int(ev.Op) >= len(histOps) || histOps[ev.Op] == "" {
		return
	}
	r := linz.Record{
		Op:   histOps[ev.Op],
		Err:  linz.Classify(ev.Err),
		Call: linz.Stamp(ev.Start),
		Ret:  linz.Stamp(ev.End),
	}
	if ev.Err != nil {
		r.Msg = ev.Err.Error()
	}
	switch {
	case ev.Op == OpDial:
		r.End = linz.Client
	case ev.Op == OpAccept:
		r.End = linz.Server
	case ev.Conn != nil && ev.Conn.active:
		r.End = linz.Client
	default:
		r.End = linz.Server
	}
	if c := ev.Conn; c != nil {
		if (ev.Op == OpDial || ev.Op == OpAccept) && ev.Err == nil {
			// Recorded before Dial/Accept return the Conn: no call on it
			// can race with setting its id.
			c.histID = h.w.Open(r.End, c.laddr.AddrPort(), c.raddr.AddrPort())
		}
		r.Conn = c.histID
		if r.Err == linz.ErrClosed && !isDone(c.closed) {
			// net.ErrClosed although we never closed it: the loop stopped.
			r.Err = linz.ErrShutdown
		}
	}
	if len(ev.Data) > 0 {
		r.Data = ev.Data // encoded before Write returns
	}
	h.w.Write(r)
}
