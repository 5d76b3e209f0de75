package mutate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestWorkspaceCopiesAndResets: the copy holds the tracked files with their
// uncommitted changes and the untracked ones git does not ignore; Reset
// undoes every change made in the copy; the source tree is never written.
func TestWorkspaceCopiesAndResets(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	ctx := context.Background()
	src := t.TempDir()
	write := func(dir, name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(dir, name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "<missing>"
		}
		return string(b)
	}
	write(src, ".gitignore", "bin/\n")
	write(src, "spec/a.fsm", "committed\n")
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x"}} {
		if out, err := exec.Command("git", append([]string{"-C", src}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	write(src, "spec/a.fsm", "edited\n")
	write(src, "new.go", "untracked\n")
	write(src, "bin/x", "ignored\n")
	w, err := NewWorkspace(ctx, src, filepath.Join(t.TempDir(), "ws"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"spec/a.fsm": "edited\n", "new.go": "untracked\n", "bin/x": "<missing>"} {
		if got := read(w.Dir, name); got != want {
			t.Errorf("copy %s = %q, want %q", name, got, want)
		}
	}
	write(w.Dir, "spec/a.fsm", "mutant\n")
	write(w.Dir, "out/trace.txt", "written by a test\n")
	if ch, err := w.Changed(ctx, "spec"); err != nil || !ch {
		t.Errorf("Changed(spec) = %v, %v after a write", ch, err)
	}
	if ch, err := w.Changed(ctx, "*.go"); err != nil || ch {
		t.Errorf("Changed(*.go) = %v, %v with no .go file written", ch, err)
	}
	if err := w.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(w.Dir, "spec/a.fsm"); got != "edited\n" {
		t.Errorf("after Reset: %q", got)
	}
	if got := read(w.Dir, "out/trace.txt"); got != "<missing>" {
		t.Error("Reset left a file a test wrote")
	}
	if got := read(src, "spec/a.fsm"); got != "edited\n" {
		t.Errorf("source tree changed: %q", got)
	}
	if _, err := os.Stat(filepath.Join(src, ".git", "worktrees")); err == nil {
		t.Error("the source repository got a worktree entry")
	}
}
