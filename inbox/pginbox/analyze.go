package pginbox

import (
	"context"
	"time"
)

// PostgreSQL plans a claim from the table's statistics, and a new table has
// none until autovacuum first analyzes it, up to a minute after it grows
// (its naptime; no table setting shortens that). Without them the planner
// takes "open messages" for a handful and claims by reading every open row
// and sorting them: each claim then costs as much as the backlog, and a
// backlog of 20,000 drained at 78 events a second with one worker. So the
// inbox analyzes its own table once enough rows arrived since the last
// time: analyzeAfter rows, or a tenth of all it has stored, whichever is
// more, and at most once every analyzeEvery.
const (
	analyzeAfter   = 1000
	analyzeEvery   = 10 * time.Second
	analyzeTimeout = time.Minute
)

// analyzer decides when the inbox table needs ANALYZE. The putters report
// to it; one ANALYZE runs at a time, in the background.
type analyzer struct {
	since, total int64 // rows stored since the last ANALYZE, and in all
	last         time.Time
	running      bool
}

// stored counts n rows stored, and starts an ANALYZE when they are enough.
func (i *store) stored(n int) {
	i.amu.Lock()
	a := &i.analyze
	a.since += int64(n)
	a.total += int64(n)
	due := !a.running && a.since >= max(analyzeAfter, a.total/10) && time.Since(a.last) >= analyzeEvery
	if due {
		a.running, a.since, a.last = true, 0, time.Now()
	}
	i.amu.Unlock()
	if !due {
		return
	}
	i.wg.Go(func() {
		defer func() {
			i.amu.Lock()
			i.analyze.running = false
			i.amu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(i.ctx, analyzeTimeout)
		defer cancel()
		if _, err := i.pool.Exec(ctx, `ANALYZE `+i.names.qualified); err != nil && ctx.Err() == nil {
			i.logger.Warn("pginbox: analyzing the inbox table failed; claims may be slow until autovacuum does", "error", err)
		}
	})
}
