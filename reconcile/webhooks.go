package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/ledger"
)

// watchWebhooks counts and logs the registered webhooks the API disabled
// after failed deliveries and, with revive, brings them back: it tracks a
// ping job named after the webhook, asks the API for a ping, and enables the
// webhook once the listener has settled the ping (it stored the ping
// delivery, so the endpoint answers again). A ping record whose EndedAt is
// set has been used for a revival; the next disablement needs a new ping.
func (r *Reconciler) watchWebhooks(ctx context.Context, now time.Time) error {
	disabled := 0
	var errs []error
	for wh, err := range r.client.Webhooks.All(ctx, nil) {
		if err != nil {
			return fmt.Errorf("reconcile: list webhooks: %w", err)
		}
		if wh.State != geminihooks.StateDisabledDueToFailedDeliveries {
			continue
		}
		disabled++
		r.log.WarnContext(ctx, "reconcile: webhook disabled after failed deliveries", "webhook", wh.ID, "revive", r.revive)
		if r.revive {
			if err := r.revive1(ctx, wh.ID, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	r.stats.disabled.Store(int64(disabled))
	return errors.Join(errs...)
}

func (r *Reconciler) revive1(ctx context.Context, id string, now time.Time) error {
	p, err := r.ledger.Job(ctx, id)
	switch {
	case errors.Is(err, ledger.ErrNotFound) || err == nil && p.Kind == ledger.KindPing && !p.EndedAt.IsZero():
		return r.ping(ctx, id, now)
	case err != nil:
		return fmt.Errorf("reconcile: webhook %s: %w", id, err)
	case p.Kind != ledger.KindPing:
		return fmt.Errorf("reconcile: webhook %s: its id is tracked as a %s job", id, p.Kind)
	case !p.Settled:
		return nil // waiting for the ping; check repeats it if it is late
	}
	if _, err := r.client.Webhooks.Update(ctx, id, geminihooks.WebhookUpdate{State: new(geminihooks.StateEnabled)}); err != nil {
		return fmt.Errorf("reconcile: enable webhook %s: %w", id, err)
	}
	r.stats.revived.Add(1)
	r.log.InfoContext(ctx, "reconcile: webhook enabled again after its endpoint answered a ping", "webhook", id)
	p.EndedAt = now
	return r.ledger.Track(ctx, p)
}

// ping tracks a ping job for webhook id and asks the API to send the ping.
func (r *Reconciler) ping(ctx context.Context, id string, now time.Time) error {
	j := &ledger.Job{Name: id, Kind: ledger.KindPing, Events: []string{"webhook.ping"}, LaunchedAt: now, NextCheck: now.Add(r.pingWait)}
	if err := r.ledger.Track(ctx, j); err != nil {
		return fmt.Errorf("reconcile: track ping of webhook %s: %w", id, err)
	}
	return r.sendPing(ctx, id)
}

func (r *Reconciler) sendPing(ctx context.Context, id string) error {
	if err := r.client.Webhooks.Ping(ctx, id); err != nil {
		return fmt.Errorf("reconcile: ping webhook %s: %w", id, err)
	}
	r.stats.pings.Add(1)
	return nil
}

// repeatPing is check for a ping that has not arrived by its NextCheck.
func (r *Reconciler) repeatPing(ctx context.Context, j *ledger.Job, now time.Time) error {
	if err := r.ledger.Reschedule(ctx, j.Name, now.Add(r.pingWait), time.Time{}); err != nil {
		return err
	}
	err := r.sendPing(ctx, j.Name)
	if errors.Is(err, geminihooks.ErrNotFound) {
		// The webhook was deleted: nothing left to revive.
		return r.settle(ctx, j.Name, now)
	}
	return err
}
