package driver

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// PollRead is the receive wait shared by the file-descriptor drivers
// (afpacket, tap). try reads what the descriptor holds without blocking, and
// ready reports whether that delivered frames or an error (the driver keeps
// both itself). try runs once at once, which under load succeeds without any
// deadline bookkeeping and makes a past deadline a poll; otherwise PollRead
// waits in Go's netpoller, running wait (try that reports ready) until it
// delivers, the deadline passes (nil) or f is closed (ErrClosed). The
// functions are the driver's own method values, so a call allocates nothing.
func PollRead(f *os.File, rc syscall.RawConn, try func(fd uintptr), wait func(fd uintptr) bool, ready func() bool, deadline time.Time) error {
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
		return ErrClosed
	}
	return err
}
