package geminihooks

import (
	"context"
	"encoding/json"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
)

// This file is the client's whole use of the job ledger (Config.Tracker),
// apart from the field that holds it.

// jobKind is the kind of a launched job, as the ledger records it.
type jobKind = inbox.JobKind

// The kinds of job the client launches.
const (
	batchJob       = inbox.KindBatch
	videoJob       = inbox.KindVideo
	interactionJob = inbox.KindInteraction
)

// firstCheckAfter is how long after launch a recorded job is first due for a
// reconciler's look (its TrackedJob.NextCheck). The reconciler decides
// everything after that from the job's real state.
const firstCheckAfter = 15 * time.Minute

// expected lists the event types a job of each kind may end with.
var expected = map[jobKind][]event.Type{
	batchJob:       {event.TypeBatchSucceeded, event.TypeBatchFailed, event.TypeBatchExpired, event.TypeBatchCancelled},
	videoJob:       {event.TypeVideoGenerated},
	interactionJob: {event.TypeInteractionCompleted, event.TypeInteractionFailed, event.TypeInteractionCancelled, event.TypeInteractionRequiresAction, event.TypeVideoGenerated},
}

// track records a launched job when the client has a tracker and the job is
// one it records: one with a callback (wc, as sent), or any with
// Config.TrackStatic.
func (c *client) track(ctx context.Context, kind jobKind, name string, wc *wireWebhookConfig) {
	if c.tracker == nil || (wc == nil && !c.trackStatic) || name == "" {
		return
	}
	now := c.now()
	j := &inbox.TrackedJob{Name: name, Kind: kind, LaunchedAt: now, NextCheck: now.Add(firstCheckAfter)}
	for _, t := range expected[kind] {
		j.Events = append(j.Events, string(t))
	}
	if wc != nil && wc.UserMetadata != nil {
		// It encoded when the callback was prepared, so it encodes again.
		j.UserMetadata, _ = json.Marshal(wc.UserMetadata)
	}
	// The job runs whether or not the caller is still waiting: record it.
	if err := c.tracker.Track(context.WithoutCancel(ctx), j); err != nil {
		c.logger.ErrorContext(ctx, "geminihooks: recording launched job failed; it will not be reconciled", "name", name, "kind", string(kind), "error", err)
	}
}
