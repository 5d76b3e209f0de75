package model

import (
	"testing"

	"github.com/netspec/netspec/fsm/tcp"
)

// TestProfilesHold: every profile of spec/tcp.fsm satisfies the properties at
// small bounds (symmetric roles, so simultaneous opens are explored), and no
// row of another profile fires.
func TestProfilesHold(t *testing.T) {
	b := DefaultBounds()
	b.Reorder, b.Aborts = 0, 0
	for p := tcp.Profile(0); p < tcp.NumProfiles; p++ {
		res, err := Check(Config{Bounds: b, Symmetric: true, Table: ProfileTable(p)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Violation != nil {
			t.Fatalf("profile %s: %s: %s", p, res.Violation.Property, res.Violation.Detail)
		}
		if !res.Complete {
			t.Fatalf("profile %s: incomplete", p)
		}
		for i, h := range res.Hits {
			if h > 0 && !tcp.Rules[i].In(p) {
				t.Errorf("profile %s fired %s", p, &tcp.Rules[i])
			}
		}
		t.Logf("profile %s: %d states, %d transitions", p, res.States, res.Transitions)
	}
}
