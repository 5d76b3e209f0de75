package observe

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The metric families the collector exports. Counter names are those of
// docs/counters.md, in the "counter" label, so that a series can be looked
// up there; "group" is the netstat -s group.
var (
	descEvents = prometheus.NewDesc("netspec_events_total",
		"Events the stack counted, by counter (docs/counters.md) and netstat -s group.", []string{"group", "counter"}, nil)
	descDrops = prometheus.NewDesc("netspec_drops_total",
		"Packets, segments or frames the stack dropped, by counter and reason.", []string{"group", "counter", "reason"}, nil)
	descLevels = prometheus.NewDesc("netspec_level",
		"Levels the stack holds now (connections, sockets, octets), by counter.", []string{"group", "counter"}, nil)
	descRules = prometheus.NewDesc("netspec_rule_hits_total",
		"Times each spec row fired, by machine, spec line and RFC clause.", []string{"machine", "src", "anchor", "state", "event"}, nil)
	descSockets = prometheus.NewDesc("netspec_tcp_sockets",
		"TCP sockets now, by RFC 9293 state.", []string{"state"}, nil)
)

// Collector is a prometheus.Collector that reads a snapshot at each scrape
// (through snap, which runs in the stack's event loop) rather than keeping
// copies updated per packet: metrics cost nothing between scrapes.
type Collector struct {
	snap func() (Snapshot, error)
}

// NewCollector returns a collector that takes its snapshots from snap.
func NewCollector(snap func() (Snapshot, error)) *Collector { return &Collector{snap: snap} }

// Describe sends the five metric families.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEvents, descDrops, descLevels, descRules, descSockets} {
		ch <- d
	}
}

// Collect takes one snapshot and sends its counters, rule hits and socket
// states. A failed snapshot (the stack stopped) is reported as an invalid
// metric, which the handler turns into an error for that scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.snap()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descEvents, err)
		return
	}
	for _, k := range s.Counters {
		v := float64(k.Value)
		switch {
		case k.Gauge:
			ch <- prometheus.MustNewConstMetric(descLevels, prometheus.GaugeValue, v, k.Group, k.Name)
		case strings.Contains(k.Name, ".drop."):
			reason := k.Name[strings.LastIndex(k.Name, ".")+1:]
			ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, v, k.Group, k.Name, reason)
		default:
			ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, v, k.Group, k.Name)
		}
	}
	for _, r := range s.Rules {
		ch <- prometheus.MustNewConstMetric(descRules, prometheus.CounterValue, float64(r.Hits), r.Machine, r.Src, r.Anchor, r.State, r.Event)
	}
	states := map[string]int{}
	for _, so := range s.Sockets {
		states[so.State]++
	}
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(descSockets, prometheus.GaugeValue, float64(n), st)
	}
}

// Handler serves the collector's metrics in the Prometheus text format (at
// whatever path it is mounted on, /metrics by convention).
func Handler(snap func() (Snapshot, error)) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(snap))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
