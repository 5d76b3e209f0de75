package netspec_test

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/netspec/netspec/fsm/tcp"
)

// TestFollowOneRowIsTrue keeps docs/architecture.md's "Follow one row" walk
// true as the spec moves: the line it cites holds the row it quotes, and the
// generated row it names has that ID, that source line and that cell.
func TestFollowOneRowIsTrue(t *testing.T) {
	doc, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile("spec/tcp.fsm")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i := strings.Index(text, "### Follow one row")
	if i < 0 {
		t.Fatal(`docs/architecture.md has no "### Follow one row"`)
	}
	walk := text[i:]
	if j := strings.Index(walk[1:], "\n#"); j >= 0 {
		walk = walk[:j+1] // the section alone
	}
	m := regexp.MustCompile("`spec/tcp\\.fsm:(\\d+)` says[^`]*```\\n([^\\n]+)\\n```").FindStringSubmatch(walk)
	if m == nil {
		t.Fatal("the walk does not cite a spec line and quote it")
	}
	line, _ := strconv.Atoi(m[1])
	lines := strings.Split(string(spec), "\n")
	if line < 1 || line > len(lines) || strings.TrimSpace(lines[line-1]) != strings.TrimSpace(m[2]) {
		t.Fatalf("spec/tcp.fsm:%d is not the row the walk quotes:\n quoted: %s", line, m[2])
	}
	src := fmt.Sprintf("spec/tcp.fsm:%d", line)
	if n := strings.Count(walk, "spec/tcp.fsm:") - strings.Count(walk, src); n > 0 {
		t.Errorf("the walk cites %d other tcp.fsm lines than %s", n, src)
	}
	id := regexp.MustCompile(`\{ID: (\d+), State: StateSynReceived`).FindStringSubmatch(walk)
	if id == nil {
		t.Fatal("the walk does not quote the generated row")
	}
	n, _ := strconv.Atoi(id[1])
	if n >= len(tcp.Rules) || tcp.Rules[n].Src != src || int(tcp.Rules[n].ID) != n {
		t.Fatalf("generated row %d is not %s", n, src)
	}
	c := tcp.Cells[tcp.StateSynReceived][tcp.EvSegAck]
	cell := fmt.Sprintf("{%d, %d}", c.Start, c.End)
	if !strings.Contains(walk, "cell "+cell) || !strings.Contains(walk, "is the range "+cell) {
		t.Errorf("the walk's cell is not Cells[StateSynReceived][EvSegAck] = %s", cell)
	}
	if !strings.Contains(walk, fmt.Sprintf("until row %d's", n)) || !strings.Contains(walk, fmt.Sprintf("rows %d-%d", c.Start, n-1)) {
		t.Errorf("the walk's row numbers are not row %d after rows %d-%d", n, c.Start, n-1)
	}
}
