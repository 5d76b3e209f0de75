//go:build !linux

package lab

import (
	"context"
	"os/exec"
)

// Up is not supported on this system.
func Up(cfg Config) (*Lab, error) { return nil, ErrNotSupported }

// Down is not supported on this system.
func Down(cfg Config) error { return ErrNotSupported }

// Status is not supported on this system.
func Status(cfg Config) (string, error) { return "", ErrNotSupported }

// Down is not supported on this system.
func (l *Lab) Down() error { return ErrNotSupported }

// RunInServerNS is not supported on this system.
func (l *Lab) RunInServerNS(fn func() error) error { return ErrNotSupported }

// RunInClientNS is not supported on this system.
func (l *Lab) RunInClientNS(fn func() error) error { return ErrNotSupported }

// ClientCmd returns a command that fails: namespaces are not supported here.
func (l *Lab) ClientCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "false")
}
