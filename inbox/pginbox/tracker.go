package pginbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/geminihooks/geminihooks/ledger"
)

// jobLedger is a DB's ledger: its store, seen as a ledger.Ledger.
type jobLedger struct{ *store }

var _ ledger.Ledger = jobLedger{}

const jobColumns = `name, kind, events, user_metadata, launched_at, next_check, ended_at, checks, settled, settled_at`

func scanJob(row pgx.Row) (*ledger.Job, error) {
	var (
		j    ledger.Job
		kind string
	)
	err := row.Scan(&j.Name, &kind, &j.Events, &j.UserMetadata, &j.LaunchedAt, &j.NextCheck, &j.EndedAt, &j.Checks, &j.Settled, &j.SettledAt)
	if err != nil {
		return nil, err
	}
	j.Kind = ledger.Kind(kind)
	return &j, nil
}

// Track implements ledger.Ledger.
func (i jobLedger) Track(ctx context.Context, j *ledger.Job) error {
	if err := i.check(ctx); err != nil {
		return err
	}
	if j == nil || j.Name == "" {
		return errors.New("pginbox: tracked job without a name")
	}
	events := j.Events
	if events == nil {
		events = []string{}
	}
	_, err := i.pool.Exec(ctx, `INSERT INTO `+i.names.jobs+` (`+jobColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, events = EXCLUDED.events,
	user_metadata = EXCLUDED.user_metadata, launched_at = EXCLUDED.launched_at,
	next_check = EXCLUDED.next_check, ended_at = EXCLUDED.ended_at, checks = EXCLUDED.checks,
	settled = EXCLUDED.settled, settled_at = EXCLUDED.settled_at`,
		text(j.Name), text(string(j.Kind)), events, j.UserMetadata, j.LaunchedAt, j.NextCheck, j.EndedAt, j.Checks, j.Settled, j.SettledAt)
	if err != nil {
		return fmt.Errorf("pginbox: track: %w", err)
	}
	return nil
}

// Settle implements ledger.Ledger.
func (i jobLedger) Settle(ctx context.Context, name string, at time.Time) error {
	if err := i.check(ctx); err != nil {
		return err
	}
	_, err := submit(ctx, i.store, i.settles, settleReq{name: text(name), at: at})
	return err
}

// Due implements ledger.Ledger.
func (i jobLedger) Due(ctx context.Context, now time.Time, limit int) ([]*ledger.Job, error) {
	if err := i.check(ctx); err != nil {
		return nil, err
	}
	out := []*ledger.Job{}
	if limit <= 0 {
		return out, nil
	}
	rows, err := i.pool.Query(ctx, `SELECT `+jobColumns+` FROM `+i.names.jobs+`
WHERE NOT settled AND next_check <= $1 ORDER BY next_check, name LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("pginbox: due: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("pginbox: due: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pginbox: due: %w", err)
	}
	return out, nil
}

// Reschedule implements ledger.Ledger.
func (i jobLedger) Reschedule(ctx context.Context, name string, next, endedAt time.Time) error {
	if err := i.check(ctx); err != nil {
		return err
	}
	// The outer SELECT sees the row as it was: it tells an unknown job
	// from a settled one, which the update leaves alone.
	var exists bool
	err := i.pool.QueryRow(ctx, `WITH u AS (
	UPDATE `+i.names.jobs+` SET next_check = $2, ended_at = $3, checks = checks + 1 WHERE name = $1 AND NOT settled
	RETURNING 1)
SELECT true FROM `+i.names.jobs+` WHERE name = $1`, text(name), next, endedAt).Scan(&exists)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("pginbox: tracked job %q: %w", name, ledger.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("pginbox: reschedule: %w", err)
	}
	return nil
}

// Job implements ledger.Ledger.
func (i jobLedger) Job(ctx context.Context, name string) (*ledger.Job, error) {
	if err := i.check(ctx); err != nil {
		return nil, err
	}
	j, err := scanJob(i.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM `+i.names.jobs+` WHERE name = $1`, text(name)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pginbox: tracked job %q: %w", name, ledger.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pginbox: tracked job: %w", err)
	}
	return j, nil
}

// AcquireLease implements ledger.Ledger. The row lock of the upsert makes
// concurrent acquisitions from several replicas take turns.
func (i jobLedger) AcquireLease(ctx context.Context, lease, owner string, now time.Time, ttl time.Duration) error {
	if err := i.check(ctx); err != nil {
		return err
	}
	tag, err := i.pool.Exec(ctx, `INSERT INTO `+i.names.leases+` AS l (name, owner, until) VALUES ($1, $2, $4)
ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until
WHERE l.owner = EXCLUDED.owner OR l.until <= $3`, text(lease), text(owner), now, now.Add(ttl))
	if err != nil {
		return fmt.Errorf("pginbox: acquire lease: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pginbox: lease %q: %w", lease, ledger.ErrLeaseHeld)
	}
	return nil
}

// ReleaseLease implements ledger.Ledger.
func (i jobLedger) ReleaseLease(ctx context.Context, lease, owner string) error {
	if err := i.check(ctx); err != nil {
		return err
	}
	if _, err := i.pool.Exec(ctx, `DELETE FROM `+i.names.leases+` WHERE name = $1 AND owner = $2`, text(lease), text(owner)); err != nil {
		return fmt.Errorf("pginbox: release lease: %w", err)
	}
	return nil
}
