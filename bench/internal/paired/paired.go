// Package paired runs two functions alternately inside one benchmark and reports their times and
// their ratio. On a shared or noisy machine, two separate benchmarks see different load; alternating
// short batches exposes both to the same load, and the median of the per-batch ratios ignores the
// batches a burst of load hit harder on one side.
package paired

import (
	"slices"
	"testing"
	"time"
)

// Run calls a and b batch times each per benchmark iteration, alternating which goes first, and
// reports "<nameA>-ns/op" and "<nameB>-ns/op" (medians over iterations) and "<nameA>/<nameB>" (the
// median of the per-iteration ratios). Pick batch so that one batch takes some microseconds, which
// makes the cost of reading the clock negligible. Setup belongs before Run.
func Run(tb *testing.B, batch int, nameA string, a func(), nameB string, b func()) {
	tb.Helper()
	var ta, tbs, ratios []float64
	timeBatch := func(f func()) float64 {
		t0 := time.Now()
		for range batch {
			f()
		}
		return float64(time.Since(t0).Nanoseconds()) / float64(batch)
	}
	odd := false
	for tb.Loop() {
		var da, db float64
		if odd {
			db = timeBatch(b)
			da = timeBatch(a)
		} else {
			da = timeBatch(a)
			db = timeBatch(b)
		}
		odd = !odd
		ta, tbs = append(ta, da), append(tbs, db)
		if db > 0 {
			ratios = append(ratios, da/db)
		}
	}
	if len(ratios) == 0 {
		return
	}
	tb.ReportMetric(median(ta), nameA+"-ns/op")
	tb.ReportMetric(median(tbs), nameB+"-ns/op")
	tb.ReportMetric(median(ratios), nameA+"/"+nameB)
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}
