package pginbox

import (
	"context"
	"fmt"
	"time"
)

// The listener settles the job of every event it stores, tracked or not,
// on the request path after the Put: a statement per delivery. Settles
// waiting together share one statement instead (see group.go).
const (
	// Two runners: Settle is on the request path, where a second statement
	// in flight cuts the wait more than larger batches save (measured: one
	// was slower, four no faster).
	settlers       = 2
	maxSettleBatch = 256
)

type settleReq struct {
	name string
	at   time.Time
}

type settleCall = call[settleReq, struct{}]

func settleSQL(jobs string) string {
	return `UPDATE ` + jobs + ` j SET settled = true, settled_at = s.at
FROM unnest($1::text[], $2::timestamptz[]) AS s (name, at)
WHERE j.name = s.name AND NOT j.settled`
}

// settleBatch settles every call's job with one statement. Of several
// Settles of one job, the first to arrive sets the time, as it would alone.
func (i *store) settleBatch(batch []*settleCall) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	var names []string
	var ats []time.Time
	seen := map[string]bool{}
	for _, c := range batch {
		if !seen[c.q.name] {
			seen[c.q.name] = true
			names = append(names, c.q.name)
			ats = append(ats, c.q.at)
		}
	}
	_, err := i.pool.Exec(ctx, i.sql.settle, planEach, names, ats)
	if err != nil {
		err = fmt.Errorf("pginbox: settle: %w", err)
	}
	for _, c := range batch {
		c.answer(struct{}{}, err)
	}
}
