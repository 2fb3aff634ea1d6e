package pginbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/geminihooks/geminihooks/inbox"
)

const (
	// One runner each: claims and acks are off the request path, so the
	// fewer and larger their batches, the more WAL flushes and CPU are left
	// for Puts (measured: two each was slower). The next batch forms while
	// a statement runs.
	claimers, ackers = 1, 1
	maxClaimBatch    = 64
	maxAckBatch      = 256
	// batchTimeout bounds one shared statement. Callers stop waiting when
	// their own context ends; see the runners for what then happens to
	// the outcome.
	batchTimeout = 30 * time.Second
)

// planEach makes PostgreSQL plan a statement that joins the inbox table
// (claims, acks, hand-backs, prunes, settles) each time it runs, for the
// table as it is then. A prepared statement's cached generic plan is made
// once, typically while the table is new and nearly empty, and then kept:
// for an ack, a hash join over a sequential scan of the whole table; for a
// claim, a sort of every open row. Both are cheap only while the table is
// small. Planning each batch costs far less.
const planEach = pgx.QueryExecModeExec

type claimReq struct {
	n     int
	lease time.Duration
	now   time.Time
}

type ackReq struct {
	id, lease string
	now       time.Time
}

type (
	claimCall = call[claimReq, []*inbox.Message]
	ackCall   = call[ackReq, struct{}]
)

// claimAckSQL returns the shared Ack and the hand-back of claims nobody
// received; see newStatements for the single-message forms.
func claimAckSQL(t string) (ackShared, release string) {
	// One element per Ack, in arrival order (k). RETURNING names the Acks
	// whose update happened; the final SELECT sees the rows as they were
	// before it, to tell a repeated ack from a lost lease.
	ackShared = `WITH ` + noSync + `, a AS (
	SELECT * FROM unnest($1::bytea[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS a (id, lease, now, k)),
u AS (
	UPDATE ` + t + ` m SET state = 'done', finished_at = a.now, lease_until = NULL, body = ''
	FROM a, nosync WHERE m.id = a.id AND m.lease = a.lease AND m.state = 'claimed' AND m.lease_until > a.now
	RETURNING a.k)
SELECT a.k, EXISTS (SELECT 1 FROM u WHERE u.k = a.k), m.state, m.lease
FROM a LEFT JOIN ` + t + ` m ON m.id = a.id`
	// Claims made for a caller that stopped waiting go back as they were,
	// so they need not wait out the lease; the claim did not count.
	release = `UPDATE ` + t + ` m SET state = 'pending', attempts = m.attempts - 1, lease = '', lease_until = NULL
FROM unnest($1::bytea[], $2::text[]) AS r (id, lease)
WHERE m.id = r.id AND m.lease = r.lease AND m.state = 'claimed'`
	return ackShared, release
}

// claimBatch claims for every call with one statement per lease duration
// (the listener uses one) and hands out the rows oldest first, in arrival
// order: each call gets its n, or what is left.
func (i *store) claimBatch(batch []*claimCall) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	for len(batch) > 0 {
		lease := batch[0].q.lease
		var same, rest []*claimCall
		total := 0
		var now time.Time
		for _, c := range batch {
			if c.q.lease != lease {
				rest = append(rest, c)
				continue
			}
			same = append(same, c)
			total += c.q.n
			// The claim happens after every call in it was made.
			if c.q.now.After(now) {
				now = c.q.now
			}
		}
		got, err := i.claimRows(ctx, now, total, lease)
		var lost []*inbox.Message
		for _, c := range same {
			if err != nil {
				c.answer(nil, err)
				continue
			}
			take := got[:min(c.q.n, len(got))]
			got = got[len(take):]
			if !c.answer(take, nil) {
				lost = append(lost, take...)
			}
		}
		i.release(ctx, lost)
		batch = rest
	}
}

// claimRows leases up to n rows with one statement, oldest first.
func (i *store) claimRows(ctx context.Context, now time.Time, n int, lease time.Duration) ([]*inbox.Message, error) {
	rows, err := i.pool.Query(ctx, i.sql.claim, planEach, now, n, now.Add(lease))
	if err != nil {
		return nil, fmt.Errorf("pginbox: claim: %w", err)
	}
	type claimed struct {
		m   *inbox.Message
		seq int64
	}
	var got []claimed
	for rows.Next() {
		m, seq, err := scanMessage(rows, now)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("pginbox: claim: %w", err)
		}
		got = append(got, claimed{m, seq})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pginbox: claim: %w", err)
	}
	// RETURNING does not keep the subquery's order.
	slices.SortFunc(got, func(a, b claimed) int {
		if c := a.m.ReceivedAt.Compare(b.m.ReceivedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out := make([]*inbox.Message, len(got))
	for k, c := range got {
		out[k] = c.m
	}
	return out, nil
}

// release hands back claims nobody received. If it fails, the messages
// return when their leases end, as a crashed worker's do.
func (i *store) release(ctx context.Context, ms []*inbox.Message) {
	if len(ms) == 0 {
		return
	}
	ids, leases := make([][]byte, len(ms)), make([]string, len(ms))
	for k, m := range ms {
		ids[k], leases[k] = []byte(m.ID), m.Lease
	}
	if _, err := i.pool.Exec(ctx, i.sql.release, planEach, ids, leases); err != nil {
		i.logger.Warn("pginbox: handing back unreceived claims failed; they return when their leases end", "error", err, "count", len(ms))
		return
	}
	i.announce()
}

// ackBatch acks every call with one statement and answers each as a lone
// Ack would have been answered.
func (i *store) ackBatch(batch []*ackCall) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	// In id order, so two batches acking the same messages (repeated Acks)
	// lock them in one order; a deadlock is still retried below.
	slices.SortStableFunc(batch, func(a, b *ackCall) int { return cmp.Compare(a.q.id, b.q.id) })
	ids, leases, nows := make([][]byte, len(batch)), make([]string, len(batch)), make([]time.Time, len(batch))
	for k, c := range batch {
		ids[k], leases[k], nows[k] = []byte(c.q.id), c.q.lease, c.q.now
	}
	type outcome struct {
		updated, found bool
		state, stored  string
	}
	out := make([]outcome, len(batch))
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		clear(out)
		var rows pgx.Rows
		rows, err = i.pool.Query(ctx, i.sql.ackShared, planEach, ids, leases, nows)
		if err == nil {
			var (
				k             int64
				updated       bool
				state, stored *string
			)
			_, err = pgx.ForEachRow(rows, []any{&k, &updated, &state, &stored}, func() error {
				if k < 1 || int(k) > len(out) {
					return fmt.Errorf("ack row %d out of range", k)
				}
				o := &out[k-1]
				o.updated, o.found = updated, state != nil
				if o.found {
					o.state, o.stored = *state, *stored
				}
				return nil
			})
		}
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != deadlockDetected {
			break
		}
	}
	for k, c := range batch {
		o := out[k]
		switch {
		case err != nil:
			c.answer(struct{}{}, fmt.Errorf("pginbox: ack: %w", err))
		case o.updated:
			c.answer(struct{}{}, nil)
		case !o.found:
			c.answer(struct{}{}, fmt.Errorf("pginbox: message %q: %w", c.q.id, inbox.ErrNotFound))
		case o.state == string(inbox.StateClaimed) && o.stored == c.q.lease && c.q.lease != "":
			// The row matched as the statement began, yet this Ack did not
			// update it: another Ack of it in this batch did, or a
			// transaction (a transactional handler) changed it meanwhile.
			// Look again at the row as it is now.
			c.answer(struct{}{}, i.ended(ctx, i.pool, c.q.id, c.q.lease, true))
		case o.state == string(inbox.StateDone) && o.stored == c.q.lease && c.q.lease != "":
			c.answer(struct{}{}, nil)
		default:
			c.answer(struct{}{}, fmt.Errorf("pginbox: message %q: %w", c.q.id, inbox.ErrLeaseLost))
		}
	}
}
