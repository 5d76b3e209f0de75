package netspec

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/afpacket"
	"github.com/netspec/netspec/driver/observe"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/driver/tap"
	"github.com/netspec/netspec/fsm/stack"
)

// Snapshot returns the stack's counters grouped like netstat -s, the hit
// count of every spec row and its TCP sockets, read at one instant inside
// the event loop (after Close: their final values). `netspec stat` and
// `netspec ss` print it; the metrics endpoint exports it. With several
// loops the counters are summed over them, and loop.N.RxFrames and
// loop.N.TxFrames give loop N's frames, loop.NeighboursShared and
// loop.NeighbourDrops the ARP entries passed between them (Stats). The
// link driver's own counters follow (appendLinkCounters), one set per loop.
func (s *Stack) Snapshot() (observe.Snapshot, error) {
	var snap observe.Snapshot
	var each []observe.Counter // with several loops: each loop's frames
	for i, sh := range s.shards {
		ls := sh.loop.Stats() // it takes the loop's lock, which Do holds
		s.readStack(sh, func(now time.Time, st *stack.Stack) {
			one := observe.Take(st, &ls, now)
			for k := range one.Sockets {
				one.Sockets[k].Loop = i
			}
			if i == 0 {
				snap = one
			} else {
				mergeSnapshot(&snap, &one)
			}
		})
		each = appendLinkCounters(each, sh.loop.Link(), i, len(s.shards) > 1)
		if len(s.shards) > 1 {
			for _, c := range [...]struct {
				what string
				v    uint64
			}{{"RxFrames", ls.RxFrames}, {"TxFrames", ls.TxFrames}} {
				name := "loop." + strconv.Itoa(i) + "." + c.what
				each = append(each, observe.Counter{Name: name, Group: observe.Group(name), Value: c.v})
			}
		}
	}
	if s.nb != nil {
		for _, c := range [...]struct {
			name string
			v    uint64
		}{{"loop.NeighboursShared", s.nb.shared.Load()}, {"loop.NeighbourDrops", s.nb.dropped.Load()}} {
			each = append(each, observe.Counter{Name: c.name, Group: observe.Group(c.name), Value: c.v})
		}
	}
	snap.Counters = append(snap.Counters, each...)
	snap.Addr = s.prefix.String()
	snap.Counters = appendRuntime(snap.Counters)
	return snap, nil
}

// appendLinkCounters appends the counters of link, loop i's, and of the
// links it wraps (driver.Unwrap: a capture, a fault injector), for each
// that keeps some: afpacket.* (what the kernel dropped before the stack
// saw a frame, ring frames skipped as bad, ring freezes, our own frames
// looped back), tap.*, or faults.* (what --faults did to the frames), named
// afpacket.N.* with several loops.
func appendLinkCounters(cs []observe.Counter, link driver.Link, i int, several bool) []observe.Counter {
	for _, l := range driver.Unwrap(link) {
		var prefix string
		var stats any
		switch l := l.(type) {
		case *afpacket.Link:
			prefix, stats = "afpacket.", l.Stats()
		case *tap.Link:
			prefix, stats = "tap.", l.Stats()
		case *pipe.FaultLink:
			prefix, stats = "faults.", l.Stats()
		default:
			continue // a capture (its frames are in Stats) or a link of the caller's
		}
		if several {
			prefix += strconv.Itoa(i) + "."
		}
		cs = observe.AppendFields(cs, prefix, stats)
	}
	return cs
}

// mergeSnapshot adds another loop's snapshot to snap: counters and rule
// hits summed (levels too: connections now, over all loops), sockets
// listed after snap's (a listener once per loop).
func mergeSnapshot(snap, one *observe.Snapshot) {
	at := make(map[string]int, len(snap.Counters))
	for i, c := range snap.Counters {
		at[c.Name] = i
	}
	for _, c := range one.Counters {
		if i, ok := at[c.Name]; ok {
			snap.Counters[i].Value += c.Value
		} else {
			snap.Counters = append(snap.Counters, c)
		}
	}
	for i := range min(len(snap.Rules), len(one.Rules)) {
		snap.Rules[i].Hits += one.Rules[i].Hits
	}
	snap.Sockets = append(snap.Sockets, one.Sockets...)
}

// runtimeGauges are the Go runtime's figures a snapshot carries (group
// Runtime, all gauges), read with runtime/metrics, which does not stop the
// world: what a soak samples to see that memory and goroutines stay flat.
var runtimeGauges = []struct{ name, metric string }{
	{"go.Goroutines", "/sched/goroutines:goroutines"},
	{"go.HeapBytes", "/memory/classes/heap/objects:bytes"}, // live and not yet swept
	{"go.HeapObjects", "/gc/heap/objects:objects"},
	{"go.MappedBytes", "/memory/classes/total:bytes"},           // all the runtime mapped
	{"go.ReleasedBytes", "/memory/classes/heap/released:bytes"}, // of it, given back to the OS
}

// appendRuntime appends the runtimeGauges to cs.
func appendRuntime(cs []observe.Counter) []observe.Counter {
	samples := make([]metrics.Sample, len(runtimeGauges))
	for i, g := range runtimeGauges {
		samples[i].Name = g.metric
	}
	metrics.Read(samples)
	for i, g := range runtimeGauges {
		var v uint64
		if samples[i].Value.Kind() == metrics.KindUint64 {
			v = samples[i].Value.Uint64()
		}
		cs = append(cs, observe.Counter{Name: g.name, Group: observe.Group(g.name), Value: v, Gauge: observe.IsGauge(g.name)})
	}
	return cs
}

// observers are the servers that show the stack from outside (Options
// Metrics, MetricsListen, Control); Close stops them before the stack.
type observers struct {
	http    []*http.Server
	control *observe.Control
	wg      sync.WaitGroup // the http servers' Serve goroutines
}

// startObservers starts what o asks for. On failure it stops what it
// started and returns the error.
func (s *Stack) startObservers(o *Options) (err error) {
	defer func() {
		if err != nil {
			s.obs.stop()
		}
	}()
	if o.Metrics != 0 {
		ln, err := s.Listen("tcp", ":"+strconv.Itoa(int(o.Metrics)))
		if err != nil {
			return fmt.Errorf("netspec: metrics: %w", err)
		}
		s.serveMetrics(ln)
	}
	if o.MetricsListen != "" {
		ln, err := net.Listen("tcp", o.MetricsListen)
		if err != nil {
			return fmt.Errorf("netspec: metrics-listen: %w", err)
		}
		s.serveMetrics(ln)
	}
	if o.Control != "" {
		c, err := observe.Listen(o.Control, s.Snapshot)
		if err != nil {
			return fmt.Errorf("netspec: %w", err)
		}
		s.obs.control = c
	}
	return nil
}

// serveMetrics serves /metrics on ln until stop.
func (s *Stack) serveMetrics(ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", observe.Handler(s.Snapshot))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.obs.http = append(s.obs.http, srv)
	s.obs.wg.Add(1)
	go func() {
		defer s.obs.wg.Done()
		srv.Serve(ln) // returns http.ErrServerClosed after stop
	}()
}

// stop closes the servers and waits for them.
func (o *observers) stop() error {
	var errs []error
	for _, srv := range o.http {
		errs = append(errs, srv.Close())
	}
	o.wg.Wait()
	if o.control != nil {
		errs = append(errs, o.control.Close())
	}
	return errors.Join(errs...)
}
