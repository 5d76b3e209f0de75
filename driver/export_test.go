package driver

import "runtime"

// Input feeds a batch of received frames to the loop as Run does, for the
// tests of package driver_test that drive a loop without its reader.
func (l *Loop) Input(frames [][]byte, n []int, meta []RxMeta) { l.input(frames, n, meta) }

// WaitWritten returns once no goroutine holds the writer role and no batch
// is pending: every frame the loop produced so far is on the link. A call
// that found the role held returns before its frames are written (loop.go
// unlockAndWrite), so a test that reads the link itself waits here first.
func (l *Loop) WaitWritten() {
	for {
		l.mu.Lock()
		idle := !l.writing && len(l.pending) == 0
		l.mu.Unlock()
		if idle {
			return
		}
		runtime.Gosched()
	}
}
