package mutate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Workspace is a throw-away copy of the module tree in which mutants are
// written, generated and tested. It is a git repository of its own (one
// commit of the copied files), so Reset brings it back exactly, removing
// whatever a test wrote; the caller's tree and repository are only read.
type Workspace struct {
	Dir  string // root of the copy
	Tree string // git tree hash of the copied files: identifies their content
}

// NewWorkspace copies the files of the module at root that git tracks or
// would track (tracked, with their uncommitted changes, and untracked ones
// not ignored) into dir, which must not exist yet.
func NewWorkspace(ctx context.Context, root, dir string) (*Workspace, error) {
	out, err := command(ctx, root, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return nil, fmt.Errorf("mutate: list the files of %s: %w", root, err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("mutate: workspace: %w", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		if err := copyFile(filepath.Join(root, name), filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("mutate: workspace: %w", err)
		}
	}
	w := &Workspace{Dir: dir}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"commit", "-q", "--no-verify", "-m", "netspec-mutate workspace"},
	} {
		if _, err := w.git(ctx, args...); err != nil {
			return nil, err
		}
	}
	tree, err := w.git(ctx, "rev-parse", "HEAD^{tree}")
	if err != nil {
		return nil, err
	}
	w.Tree = strings.TrimSpace(tree)
	return w, nil
}

// copyFile copies a regular file or a symbolic link; a file listed by git but
// deleted in the working tree is skipped.
func copyFile(src, dst string) error {
	fi, err := os.Lstat(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Reset restores the copied files and removes everything else.
func (w *Workspace) Reset(ctx context.Context) error {
	if _, err := w.git(ctx, "reset", "-q", "--hard", "HEAD"); err != nil {
		return err
	}
	_, err := w.git(ctx, "clean", "-q", "-f", "-d", "-x")
	return err
}

// Changed reports whether any file matching one of the git pathspecs differs
// from the copy's commit.
func (w *Workspace) Changed(ctx context.Context, pathspecs ...string) (bool, error) {
	cmd := command(ctx, w.Dir, "git", append([]string{"diff", "--quiet", "--"}, pathspecs...)...)
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return true, nil
	}
	return false, fmt.Errorf("mutate: git diff: %w", err)
}

func (w *Workspace) git(ctx context.Context, args ...string) (string, error) {
	base := []string{"-c", "user.name=netspec-mutate", "-c", "user.email=mutate@netspec.invalid",
		"-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"}
	cmd := command(ctx, w.Dir, "git", append(base, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("mutate: git %s: %w: %s", args[0], err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// command returns a command run in dir in its own process group, killed as a
// group when ctx ends (go test's test binary with it). The NETSPEC_*
// variables of the caller's environment are left out, so a mutant's tests
// run with their defaults (no rule-coverage files, no scaled properties).
func command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NETSPEC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}
