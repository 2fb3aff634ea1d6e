package pginbox

import (
	"context"
	"fmt"
	"time"
)

// Prune implements ledger.Ledger. It deletes at most
// pruneBatch jobs per statement, like Prune. The outer WHERE repeats the
// subquery's test because PostgreSQL rechecks only the outer one against a
// row changed since the subquery read it: a job tracked again meanwhile is
// unsettled, and stays.
func (i jobLedger) Prune(ctx context.Context, before time.Time) (int, error) {
	q := `DELETE FROM ` + i.names.jobs + ` WHERE settled AND settled_at < $1
	AND name IN (SELECT name FROM ` + i.names.jobs + ` WHERE settled AND settled_at < $1 LIMIT $2)`
	total := 0
	for {
		if err := i.check(ctx); err != nil {
			return total, err
		}
		tag, err := i.pool.Exec(ctx, q, before, pruneBatch)
		if err != nil {
			return total, fmt.Errorf("pginbox: prune tracked jobs: %w", err)
		}
		total += int(tag.RowsAffected())
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}
