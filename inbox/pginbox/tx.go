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

// Transactional wraps fn as a handler whose writes commit together with the
// ack of the event it handles.
//
// The returned handler finds its claim with inbox.ClaimFrom, begins a
// transaction, locks the message row (so no other worker can claim it while
// fn runs, even if the lease runs out), runs fn, marks the message done and
// commits. If fn fails, everything rolls back and the listener retries as
// usual. If the lease was lost before the row was locked, fn does not run
// and the handler returns an error wrapping inbox.ErrLeaseLost. Either the
// user's writes and the ack both happen or neither does, so fn's effects
// happen once per message: effectively-once processing. The listener's own
// Ack afterwards is a no-op, since Ack is idempotent with the completing
// lease.
func (i *Inbox) Transactional(fn func(ctx context.Context, tx pgx.Tx, e *event.Event) error) func(ctx context.Context, e *event.Event) error {
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
