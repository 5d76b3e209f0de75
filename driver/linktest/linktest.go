// Package linktest holds checks every driver.Link must pass, shared by the
// drivers' tests. It imports testing, so only tests may import it.
package linktest

import (
	"errors"
	"testing"
	"time"

	"github.com/netspec/netspec/driver"
)

// CloseUnblocksRead starts a ReadBatch on l with no deadline, closes l from
// this goroutine and fails t unless the blocked call returns
// driver.ErrClosed (within 10 s: a guard against a hang, not a timing
// assertion). l must have nothing to read. l is closed when it returns.
func CloseUnblocksRead(t testing.TB, l driver.Link, frames [][]byte, n []int, meta []driver.RxMeta) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := l.ReadBatch(frames, n, meta, time.Time{})
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it block (the result does not depend on it)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, driver.ErrClosed) {
			t.Fatalf("blocked ReadBatch returned %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadBatch still blocked 10 s after Close")
	}
}
