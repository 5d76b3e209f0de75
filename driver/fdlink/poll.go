package fdlink

import (
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/netspec/netspec/driver"
)

// pollRead is the receive wait of a Core. try reads what the descriptor
// holds without blocking, and ready reports whether that delivered frames or
// an error (the Core keeps both itself). try runs once at once, which under
// load succeeds without any deadline bookkeeping and makes a past deadline a
// poll; otherwise pollRead waits in Go's netpoller, running wait (try that
// reports ready) until it delivers, the deadline passes (nil) or f is closed
// (driver.ErrClosed). The functions are the Core's own closures, made once,
// so a call allocates nothing.
func pollRead(f *os.File, rc syscall.RawConn, try func(fd uintptr), wait func(fd uintptr) bool, ready func() bool, deadline time.Time) error {
	if err := rc.Control(try); err != nil {
		return pollErr(err)
	}
	if ready() {
		return nil
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return nil
	}
	if err := f.SetReadDeadline(deadline); err != nil {
		return pollErr(err)
	}
	return pollErr(rc.Read(wait))
}

func pollErr(err error) error {
	switch {
	case err == nil, errors.Is(err, os.ErrDeadlineExceeded):
		return nil
	case errors.Is(err, os.ErrClosed):
		return driver.ErrClosed
	}
	return err
}
