package mutate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Cache keeps the verdict of every mutant run, keyed by the hash of the spec
// file it mutates and the mutant's key, so a rerun of the same spec resumes
// where the last one stopped. A changed spec file starts afresh; changed
// tests do not (rerun the survivors with Recheck, or everything with a fresh
// cache). Entries are small JSON files under Dir.
type Cache struct {
	Dir string
}

// cached is one cache entry.
type cached struct {
	Key     string // Mutant.Key, to detect a hash collision
	Status  Status
	Package string
	Detail  string
	Elapsed time.Duration
	Tree    string    // git tree hash of the workspace that ran it
	When    time.Time // when it ran
}

// HashSpec returns the hash of a spec file's content, the first part of
// every cache key.
func HashSpec(src []byte) string {
	h := sha256.Sum256(src)
	return hex.EncodeToString(h[:])
}

func (c *Cache) path(specHash string, x Mutant) string {
	h := sha256.Sum256([]byte(x.Key()))
	return filepath.Join(c.Dir, x.Machine, specHash[:16], hex.EncodeToString(h[:12])+".json")
}

// Get returns the cached result of x under specHash, if any.
func (c *Cache) Get(specHash string, x Mutant) (Result, bool) {
	if c == nil {
		return Result{}, false
	}
	b, err := os.ReadFile(c.path(specHash, x))
	if err != nil {
		return Result{}, false
	}
	var e cached
	if json.Unmarshal(b, &e) != nil || e.Key != x.Key() {
		return Result{}, false
	}
	return Result{Mutant: x, Status: e.Status, Package: e.Package, Detail: e.Detail, Cached: true}, true
}

// Put records r under specHash. Results that are not verdicts (NotRun) are
// not recorded.
func (c *Cache) Put(specHash, tree string, r Result) error {
	if c == nil || r.Status == NotRun {
		return nil
	}
	b, err := json.Marshal(cached{Key: r.Mutant.Key(), Status: r.Status, Package: r.Package,
		Detail: r.Detail, Elapsed: r.Elapsed, Tree: tree, When: time.Now().UTC()})
	if err != nil {
		return err
	}
	p := c.path(specHash, r.Mutant)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("mutate: cache: %w", err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("mutate: cache: %w", err)
	}
	return os.Rename(tmp, p)
}

// BaselinePassed reports whether the unmutated tree with this git tree hash
// passed the suites before.
func (c *Cache) BaselinePassed(tree string) bool {
	if c == nil {
		return false
	}
	_, err := os.Stat(filepath.Join(c.Dir, "baseline", tree))
	return err == nil
}

// MarkBaseline records that the unmutated tree passed the suites.
func (c *Cache) MarkBaseline(tree string) error {
	if c == nil {
		return nil
	}
	p := filepath.Join(c.Dir, "baseline", tree)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}

// DefaultCacheDir is the user's cache directory plus netspec/mutate.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", errors.New("mutate: no user cache directory: give -cache")
	}
	return filepath.Join(d, "netspec", "mutate"), nil
}
