package netspec

import "time"

// releaseWhenQuiet calls release (debug.FreeOSMemory) once the link has
// carried no frame for period after carrying some, and again only after
// more traffic: Options.ReleaseMemory. It looks at the loop's frame counts
// four times a period and returns when the stack stops. A busy stack is
// never interrupted; the first quiet period after traffic releases what the
// traffic left (the connections that ended, their garbage), so RSS follows
// the connections still open.
func (s *Stack) releaseWhenQuiet(period time.Duration, release func()) {
	t := time.NewTicker(max(period/4, time.Millisecond))
	defer t.Stop()
	st := s.Stats().Loop
	seen := st.RxFrames + st.TxFrames // traffic before the releaser started is not its business
	var since time.Time               // when the frame count last changed
	dirty := false
	for {
		var now time.Time
		select {
		case <-s.done:
			return
		case now = <-t.C:
		}
		st := s.Stats().Loop
		if n := st.RxFrames + st.TxFrames; n != seen {
			seen, since, dirty = n, now, true
			continue
		}
		if dirty && now.Sub(since) >= period {
			dirty = false
			release()
		}
	}
}
