package spec

import (
	"os"
	"strings"
	"testing"
)

func TestRepoRequirementsReferencedOrWaived(t *testing.T) {
	m, err := Load("tcp.fsm")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("waivers.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ws, err := ParseWaivers(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range CheckRequirements(m, ws) {
		t.Error(e)
	}
}

func TestRequirementLint(t *testing.T) {
	m := parse(t, `machine door
package door
states Open
events Push
on Open Push -> - done @ X MUST-1 MUST-2
`)
	ws, err := ParseWaivers(strings.NewReader("# c\nMUST-3 reason\nMUST-3 again\nMUST-99 x\nMUST-4\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range CheckRequirements(m, ws) {
		got = append(got, e.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"MUST-3 already waived", `"MUST-99" is not an RFC 9293 MUST ID`, "MUST-4 has no reason", "MUST-5 is referenced by no rule", "MUST-69 is referenced by no rule"} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
	for _, not := range []string{"MUST-1 is", "MUST-2 is", "MUST-3 is"} {
		if strings.Contains(all, not) {
			t.Errorf("unexpected %q in:\n%s", not, all)
		}
	}
}
