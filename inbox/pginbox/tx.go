package pginbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
)

// ErrNoClaim reports a transactional handler called without a claimed
// message in its context: it must run under a listener whose inbox is this
// one, which puts the claim there with inbox.WithClaim.
var ErrNoClaim = errors.New("pginbox: no claimed message in context")

// transactional is DB.Transactional.
func (i *store) transactional(fn func(ctx context.Context, tx pgx.Tx, e *event.Event) error) func(ctx context.Context, e *event.Event) error {
	return func(ctx context.Context, e *event.Event) error {
		m, ok := inbox.ClaimFrom(ctx)
		if !ok {
			return ErrNoClaim
		}
		if err := i.check(ctx); err != nil {
			return err
		}
		return pgx.BeginFunc(ctx, i.pool, func(tx pgx.Tx) error {
			now := i.clock()
			tag, err := tx.Exec(ctx, i.sql.lockClaim, []byte(m.ID), m.Lease, now)
			if err != nil {
				return fmt.Errorf("pginbox: lock message: %w", err)
			}
			if tag.RowsAffected() == 0 {
				// Already acked with this lease (a handler run twice for one
				// claim) means the work is done; anything else is a lost lease.
				return i.ended(ctx, tx, m.ID, m.Lease, true)
			}
			if err := fn(ctx, tx, e); err != nil {
				return err
			}
			tag, err = tx.Exec(ctx, i.sql.ack, []byte(m.ID), m.Lease, now)
			if err != nil {
				return fmt.Errorf("pginbox: ack: %w", err)
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("pginbox: message %q: %w", m.ID, inbox.ErrLeaseLost)
			}
			return nil
		})
	}
}
