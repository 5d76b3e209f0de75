package spec

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// NumMust9293 is the number of MUST requirements of RFC 9293 Appendix B
// (Table 8): MUST-1 to MUST-69.
const NumMust9293 = 69

// Must9293 returns the IDs of the RFC 9293 Appendix B MUST requirements,
// "MUST-1" to "MUST-69".
func Must9293() []string {
	ids := make([]string, NumMust9293)
	for i := range ids {
		ids[i] = "MUST-" + strconv.Itoa(i+1)
	}
	return ids
}

// Waiver excuses a requirement from being referenced by a rule.
type Waiver struct {
	ID     string // "MUST-51"
	Reason string // why no rule references it (where it is met, or why not)
	Line   int
}

// ParseWaivers reads a waiver file: one "ID reason..." a line, "#" comments.
func ParseWaivers(r io.Reader) ([]Waiver, error) {
	var ws []Waiver
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, " ")
		ws = append(ws, Waiver{ID: id, Reason: strings.TrimSpace(reason), Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("spec: waivers: %w", err)
	}
	return ws, nil
}

// CheckRequirements reports every RFC 9293 MUST that no rule of m references
// and no waiver excuses, and every waiver that is malformed: an unknown ID,
// a duplicate, or no written reason. A waived ID that a rule also references
// is allowed (the rule may cover only part of it).
func CheckRequirements(m *Machine, waivers []Waiver) []error {
	var errs []error
	known := map[string]bool{}
	for _, id := range Must9293() {
		known[id] = true
	}
	waived := map[string]int{}
	for _, w := range waivers {
		switch {
		case !known[w.ID]:
			errs = append(errs, fmt.Errorf("waivers:%d: %q is not an RFC 9293 MUST ID", w.Line, w.ID))
		case waived[w.ID] != 0:
			errs = append(errs, fmt.Errorf("waivers:%d: %s already waived at line %d", w.Line, w.ID, waived[w.ID]))
		case w.Reason == "":
			errs = append(errs, fmt.Errorf("waivers:%d: %s has no reason", w.Line, w.ID))
		}
		if waived[w.ID] == 0 {
			waived[w.ID] = w.Line
		}
	}
	refd := map[string]bool{}
	for i := range m.Rules {
		for _, q := range m.Rules[i].Reqs {
			refd[q] = true
		}
	}
	for _, id := range Must9293() {
		if !refd[id] && waived[id] == 0 {
			errs = append(errs, fmt.Errorf("%s: RFC 9293 %s is referenced by no rule and not waived in waivers.txt", m.File, id))
		}
	}
	return errs
}
