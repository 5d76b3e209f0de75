package stack

import (
	"reflect"
	"strings"
	"testing"

	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/link"
)

// TestEachCounterReportsEveryStackField: every uint64 counter of the stack
// and of the parts whose counters keep "stack." names (ip.SendCounters,
// ip.ICMPCounters, link.PortCounters) is reported once, so a counter added
// to one of them cannot be left out of netspec stat and the exporter.
func TestEachCounterReportsEveryStackField(t *testing.T) {
	fields := 0
	for _, v := range []any{Counters{}, ip.SendCounters{}, ip.ICMPCounters{}, link.PortCounters{}} {
		ty := reflect.TypeOf(v)
		for i := 0; i < ty.NumField(); i++ {
			if ty.Field(i).Type.Kind() == reflect.Uint64 {
				fields++
			}
		}
	}
	s := New(Config{MAC: macB, Addr: addrB, PrefixLen: 24, Seed: 1})
	names := map[string]bool{}
	s.EachCounter(func(name string, _ uint64) {
		if strings.HasPrefix(name, "stack.") {
			if names[name] {
				t.Errorf("%s reported twice", name)
			}
			names[name] = true
		}
	})
	if len(names) != fields {
		t.Fatalf("%d stack.* counters reported, %d uint64 fields in the structs behind them", len(names), fields)
	}
}
