package geminihooks

import (
	"context"
	"encoding/json"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/ledger"
)

// This file is the client's whole use of the job ledger (Config.Ledger),
// apart from the field that holds it.

// jobKind is the kind of a launched job, as the ledger records it.
type jobKind = ledger.Kind

// The kinds of job the client launches.
const (
	batchJob       = ledger.KindBatch
	videoJob       = ledger.KindVideo
	interactionJob = ledger.KindInteraction
)

// firstCheckAfter is how long after launch a recorded job is first due for a
// reconciler's look (its ledger.Job.NextCheck). The reconciler decides
// everything after that from the job's real state.
const firstCheckAfter = 15 * time.Minute

// expected lists the event types a job of kind may end with: the canonical
// types of that kind in event's table, and for an interaction also
// video.generated, which ends an interaction that generates a video.
func expected(kind jobKind) []string {
	var out []string
	for ti := range event.Types() {
		if ti.Canonical == ti.Type && (ti.Job == string(kind) || kind == interactionJob && ti.Type == event.TypeVideoGenerated) {
			out = append(out, string(ti.Type))
		}
	}
	return out
}

// track records a launched job when the client has a tracker and the job is
// one it records: one with a callback (wc, as sent), or any with
// Config.TrackStatic.
func (c *client) track(ctx context.Context, kind jobKind, name string, wc *wireWebhookConfig) {
	if c.tracker == nil || (wc == nil && !c.trackStatic) || name == "" {
		return
	}
	now := c.now()
	j := &ledger.Job{Name: name, Kind: kind, LaunchedAt: now, NextCheck: now.Add(firstCheckAfter)}
	j.Events = expected(kind)
	if wc != nil && wc.UserMetadata != nil {
		// It encoded when the callback was prepared, so it encodes again.
		j.UserMetadata, _ = json.Marshal(wc.UserMetadata)
	}
	// The job runs whether or not the caller is still waiting: record it.
	if err := c.tracker.Track(context.WithoutCancel(ctx), j); err != nil {
		c.logger.ErrorContext(ctx, "geminihooks: recording launched job failed; it will not be reconciled", "name", name, "kind", string(kind), "error", err)
	}
}
