package pginbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/internal/backend"
)

// listChunk is how many rows one List query reads while it fills a page
// that a filter on Type or JobID thins out.
const listChunk = 200

// listSQL selects rows older than a seq (0: from the newest), newest first,
// narrowed in SQL by what indexes and columns can answer: a finished state
// and a webhook-id substring. Pending and claimed are told apart in Go, as
// Get tells them apart (a claim whose lease ran out reads as pending).
func (i *store) listSQL() string {
	return `SELECT ` + columns + ` FROM ` + i.names.qualified + `
WHERE ($1::bigint = 0 OR seq < $1)
	AND ($2::text = '' OR ($2 IN ('pending', 'claimed') AND state IN ('pending', 'claimed')) OR state = $2)
	AND (length($3::bytea) = 0 OR position($3::bytea IN id) > 0)
ORDER BY seq DESC
LIMIT $4`
}

// List implements inbox.Admin. Pages follow the seq index; a filter on Type
// or JobID reads older rows in chunks until the page is full.
func (i *store) List(ctx context.Context, f inbox.Filter, cursor string, limit int) (*inbox.Page, error) {
	if err := i.check(ctx); err != nil {
		return nil, err
	}
	before, err := backend.ParseSeqCursor(cursor)
	if err != nil {
		return nil, err
	}
	if before > 1<<63-1 {
		return nil, fmt.Errorf("%w: %q", inbox.ErrBadCursor, cursor)
	}
	limit = backend.PageLimit(limit)
	now := i.clock()
	p := &inbox.Page{Messages: []*inbox.Message{}}
	from, last := int64(before), int64(0)
	query := i.listSQL()
	for {
		rows, err := i.pool.Query(ctx, query, from, string(f.State), []byte(f.ID), max(listChunk, limit+1))
		if err != nil {
			return nil, fmt.Errorf("pginbox: list: %w", err)
		}
		n := 0
		full := false
		for rows.Next() {
			m, seq, err := scanMessage(rows, now)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("pginbox: list: %w", err)
			}
			n++
			from = seq
			if full || !f.Match(m) {
				continue
			}
			if len(p.Messages) == limit {
				p.Next = backend.SeqCursor(uint64(last))
				full = true
				continue
			}
			p.Messages = append(p.Messages, m)
			last = seq
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("pginbox: list: %w", err)
		}
		if full || n < max(listChunk, limit+1) {
			return p, nil
		}
	}
}

// Count implements inbox.Admin. Claims whose lease ran out count as
// claimed until a Claim takes them back.
func (i *store) Count(ctx context.Context) (inbox.Counts, error) {
	var c inbox.Counts
	if err := i.check(ctx); err != nil {
		return c, err
	}
	rows, err := i.pool.Query(ctx, `SELECT state, count(*) FROM `+i.names.qualified+` GROUP BY state`)
	if err != nil {
		return c, fmt.Errorf("pginbox: count: %w", err)
	}
	var state string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&state, &n}, func() error {
		switch inbox.State(state) {
		case inbox.StatePending:
			c.Pending = n
		case inbox.StateClaimed:
			c.Claimed = n
		case inbox.StateDone:
			c.Done = n
		case inbox.StateDead:
			c.Dead = n
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("pginbox: count: %w", err)
	}
	return c, nil
}

// Requeue implements inbox.Admin.
func (i *store) Requeue(ctx context.Context, id string, body []byte) error {
	if err := i.check(ctx); err != nil {
		return err
	}
	if body == nil {
		body = []byte{}
	}
	tag, err := i.pool.Exec(ctx, `UPDATE `+i.names.qualified+`
SET state = 'pending', attempts = 0, not_before = $2, finished_at = NULL, lease = '', lease_until = NULL,
	body = CASE WHEN length(body) = 0 THEN $3::bytea ELSE body END
WHERE id = $1 AND state IN ('done', 'dead') AND (length(body) > 0 OR length($3::bytea) > 0)`, []byte(id), i.clock(), body)
	if err != nil {
		return fmt.Errorf("pginbox: requeue: %w", err)
	}
	if tag.RowsAffected() == 1 {
		i.announce()
		return nil
	}
	var state string
	err = i.pool.QueryRow(ctx, i.sql.lookup, []byte(id)).Scan(&state, new(string))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("pginbox: message %q: %w", id, inbox.ErrNotFound)
	case err != nil:
		return fmt.Errorf("pginbox: requeue: %w", err)
	case state == string(inbox.StateDone) || state == string(inbox.StateDead):
		return fmt.Errorf("pginbox: message %q: %w", id, inbox.ErrNoBody)
	}
	return fmt.Errorf("pginbox: message %q is %s: %w", id, state, inbox.ErrNotFinished)
}
