package scenario

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/netspec/netspec/fsm/tcp"
)

// LoadDir parses every *.pkt script in dir, in name order.
func LoadDir(dir string) ([]*Script, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.pkt"))
	if err != nil {
		return nil, fmt.Errorf("scenario: load %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("scenario: load %s: no *.pkt scripts", dir)
	}
	out := make([]*Script, 0, len(files))
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("scenario: load: %w", err)
		}
		s, err := Parse(filepath.Base(f), src)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// RuleHits runs every script of dir that pins no open bug (no "//
// known-bug:" header) with o and returns, per tcp.Rules row, how often it
// fired across them. A script that fails is an error: its hits would not
// mean the row was exercised as the script says.
func RuleHits(dir string, o Options) ([]uint64, error) {
	scripts, err := LoadDir(dir)
	if err != nil {
		return nil, err
	}
	hits := make([]uint64, len(tcp.Rules))
	for _, s := range scripts {
		if s.KnownBug != "" {
			continue
		}
		res, err := Run(s, o)
		if err != nil {
			return nil, fmt.Errorf("scenario: rule hits: %w", err)
		}
		for i, h := range res.RuleHits {
			hits[i] += h
		}
	}
	return hits, nil
}
