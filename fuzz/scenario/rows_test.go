package scenario

import (
	"testing"

	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fuzz/cover"
)

// TestEveryRowFires is the scenario coverage gate (issue 3 items 7 and 8):
// every row of spec/tcp.fsm fires in at least one script under
// testdata/scenarios, except rows in SEGMENT ARRIVES cells the pipeline never
// runs (cover.ReachableCells, pinned by TestReachableCells), the rows the
// spec marks impossible and the rows cover.TCPAllow explains. A row counts as fired when it fired under any
// profile; each profile's own rows are checked by TestProfileRows.
func TestEveryRowFires(t *testing.T) {
	hits, err := RuleHits(scenarioDir, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	used := make([]bool, len(cover.TCPAllow))
	total, fired, allowed, unreachable, impossible := 0, 0, 0, 0, 0
	var missing []string
	for i := range tcp.Rules {
		r := &tcp.Rules[i]
		switch cover.Unfireable(r) {
		case cover.Impossible:
			// An entry naming only impossible rows is stale (below); one
			// that fired is an internal error, and the scripts' invariant
			// checks fail on it already.
			if hits[i] > 0 {
				t.Errorf("impossible row fired: %s", r)
			}
			impossible++
			continue
		case cover.UnreachableCell:
			unreachable++
			continue
		}
		total++
		if hits[i] > 0 {
			fired++
			for k, a := range cover.TCPAllow {
				if a.Match(r) {
					t.Errorf("allow-list entry %s [%s] matches %s, which fired: narrow or remove it", a.Cell, a.Conds, r)
					used[k] = true
				}
			}
			continue
		}
		ok := false
		for k, a := range cover.TCPAllow {
			if a.Match(r) {
				used[k], ok = true, true
			}
		}
		if ok {
			allowed++
			continue
		}
		missing = append(missing, r.String())
	}
	for _, m := range missing {
		t.Errorf("no scenario fires %s", m)
	}
	for k, u := range used {
		if !u {
			t.Errorf("allow-list entry %s [%s] matches no row: remove it", cover.TCPAllow[k].Cell, cover.TCPAllow[k].Conds)
		}
	}
	t.Logf("scenario rows: %d of %d reachable rows fired, %d allow-listed, %d missing; %d rows in cells the pipeline never runs, %d impossible",
		fired, total, allowed, len(missing), unreachable, impossible)
}
