//go:build !linux

package lab

import (
	"context"
	"os/exec"
)

// WaitServerIface is not supported on this system.
func (l *Lab) WaitServerIface() error { return ErrNotSupported }

// Namespace is a bare network namespace; not supported here.
type Namespace struct{}

// NewNamespace is not supported on this system.
func NewNamespace(name string) (*Namespace, error) { return nil, ErrNotSupported }

// Remove is not supported on this system.
func (n *Namespace) Remove() error { return ErrNotSupported }

// Name returns "".
func (n *Namespace) Name() string { return "" }

// Run is not supported on this system.
func (n *Namespace) Run(fn func() error) error { return ErrNotSupported }

// Cmd returns a command that fails: namespaces are not supported here.
func (n *Namespace) Cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "false")
}

// WaitCarrier is not supported on this system.
func (n *Namespace) WaitCarrier(iface string) error { return ErrNotSupported }
