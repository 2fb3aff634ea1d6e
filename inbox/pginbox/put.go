package pginbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Group commit for Put. Each Put is a commit, and every commit waits for a
// WAL flush; at the request rates of a listener the commits, not the rows,
// are the cost. So Puts go to a few putter goroutines, and each takes every
// Put that is waiting and stores them with one INSERT: concurrent Puts share
// a round trip and a commit, while a lone Put still goes at once.
const (
	putters     = 4
	maxPutBatch = 256
	// putTimeout bounds one shared INSERT. Callers stop waiting when their
	// own context ends; the INSERT may still commit, which a retried
	// delivery then finds as a duplicate.
	putTimeout = 30 * time.Second
)

// deadlockDetected is PostgreSQL's SQLSTATE for a broken deadlock.
const deadlockDetected = "40P01"

type putReq struct {
	ctx         context.Context
	id, jobKey  []byte
	body        []byte
	scheme      string
	synthesized bool
	receivedAt  time.Time
	now         time.Time
	done        chan putResult
}

type putResult struct {
	stored bool
	err    error
}

func (i *store) putShared(ctx context.Context, r *putReq) (bool, error) {
	r.done = make(chan putResult, 1)
	i.mu.Lock()
	if i.closed.Load() {
		i.mu.Unlock()
		return false, errClosed
	}
	// Holding mu keeps Close from finishing while r is being queued, so a
	// putter is there to answer it.
	select {
	case i.puts <- r:
		i.mu.Unlock()
	case <-ctx.Done():
		i.mu.Unlock()
		return false, ctx.Err()
	}
	select {
	case res := <-r.done:
		return res.stored, res.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (i *store) putter() {
	defer i.wg.Done()
	batch := make([]*putReq, 0, maxPutBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-i.puts:
			batch = append(batch, r)
		case <-i.closing:
			// Close has set closed under mu, so nothing more is queued.
			for {
				select {
				case r := <-i.puts:
					r.done <- putResult{err: errClosed}
					continue
				default:
				}
				return
			}
		}
	fill:
		for len(batch) < maxPutBatch {
			select {
			case r := <-i.puts:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		i.putBatch(batch)
	}
}

// putBatch stores a batch with one INSERT and answers each Put. When the
// server refuses the INSERT, each Put is tried alone. Every Put
// goes into the statement, duplicates within the batch included, so that
// PostgreSQL decides each conflict exactly as it would for separate
// statements in this order. RETURNING names the rows inserted by (id,
// job_key), which identifies the Put: two Puts with the same pair conflict,
// so at most one of them was inserted, and it is the earlier one.
func (i *store) putBatch(batch []*putReq) {
	var (
		ids, jobKeys, bodies [][]byte
		schemes              []string
		synthesized          []bool
		receivedAt, now      []time.Time
		send                 []*putReq
	)
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- putResult{err: err}
			continue
		}
		send = append(send, r)
	}
	// Rows in key order: two statements inserting the same keys then wait
	// for each other in one order, not in a cycle (a deadlock PostgreSQL
	// would break by failing one of them; see the retry below).
	slices.SortStableFunc(send, func(a, b *putReq) int {
		if c := bytes.Compare(a.id, b.id); c != 0 {
			return c
		}
		return bytes.Compare(a.jobKey, b.jobKey)
	})
	for _, r := range send {
		ids = append(ids, r.id)
		jobKeys = append(jobKeys, r.jobKey)
		bodies = append(bodies, r.body)
		schemes = append(schemes, r.scheme)
		synthesized = append(synthesized, r.synthesized)
		receivedAt = append(receivedAt, r.receivedAt)
		now = append(now, r.now)
	}
	if len(send) == 0 {
		return
	}
	type key struct{ id, jobKey string }
	inserted := map[key]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), putTimeout)
	defer cancel()
	var err error
	// Sorting orders conflicts on id; two batches can still wait on each
	// other through the job_key index, rarely. PostgreSQL then fails one
	// with a deadlock, which is safe to run again.
	for attempt := 0; attempt < 5; attempt++ {
		clear(inserted)
		var rows pgx.Rows
		rows, err = i.pool.Query(ctx, i.sql.put, ids, jobKeys, bodies, schemes, synthesized, receivedAt, now)
		if err == nil {
			var id, jobKey []byte
			_, err = pgx.ForEachRow(rows, []any{&id, &jobKey}, func() error {
				inserted[key{string(id), string(jobKey)}] = true
				return nil
			})
		}
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != deadlockDetected {
			break
		}
	}
	if _, refused := errors.AsType[*pgconn.PgError](err); refused && len(send) > 1 {
		// The server refused the statement, perhaps for one row's sake
		// (a value it cannot store or index): store each row alone, so a
		// bad row fails its own Put and no other.
		for _, r := range send {
			i.putBatch([]*putReq{r})
		}
		return
	}
	if err != nil {
		err = fmt.Errorf("pginbox: put: %w", err)
	}
	if len(inserted) > 0 {
		i.announce()
		i.stored(len(inserted))
	}
	for _, r := range send {
		k := key{string(r.id), string(r.jobKey)}
		stored := err == nil && inserted[k]
		delete(inserted, k) // a later Put with the same pair was the duplicate
		r.done <- putResult{stored: stored, err: err}
	}
}
