package main

import (
	"math"
	"sort"
)

// summary is the median of a figure's rounds and their spread.
type summary struct {
	med, min, max float64
	n             int
}

// summarize ignores NaNs (a figure a round could not measure).
func summarize(v []float64) summary {
	var ok []float64
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			ok = append(ok, x)
		}
	}
	if len(ok) == 0 {
		return summary{med: math.NaN(), min: math.NaN(), max: math.NaN()}
	}
	sort.Float64s(ok)
	m := ok[len(ok)/2]
	if len(ok)%2 == 0 {
		m = (ok[len(ok)/2-1] + ok[len(ok)/2]) / 2
	}
	return summary{med: m, min: ok[0], max: ok[len(ok)-1], n: len(ok)}
}

// spread is half the range as a share of the median (±, in %).
func (s summary) spread() float64 {
	if s.n < 2 || s.med == 0 {
		return math.NaN()
	}
	return (s.max - s.min) / 2 / math.Abs(s.med) * 100
}
