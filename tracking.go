package geminihooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/ledger"
)

// FirstCheckAfter is how long after launch a tracked job is first due for a
// reconciler's look (its ledger.Job.NextCheck). The reconciler decides
// everything after that from the job's real state.
const FirstCheckAfter = 15 * time.Minute

// WithTracker records every job the client launches with a callback in t
// (usually the ledger beside the listener's inbox, which the listener
// settles the job in when its event arrives), so that a reconciler can find
// the ones whose event never came.
// See package reconcile.
//
// Recording happens after the API accepted the job. If it fails, the job is
// still returned without an error, since it is running and a retried launch
// would start a second one; the failure is logged at error level with the
// job's name. Such a job is not reconciled.
func WithTracker(t ledger.Ledger) Option {
	return func(s *settings) error {
		if t == nil {
			return errors.New("geminihooks: WithTracker: nil tracker")
		}
		s.tracker = t
		return nil
	}
}

// WithTrackStatic makes WithTracker also record jobs launched without a
// callback, whose events go to the project's registered webhooks. Use it
// when the listener that shares the tracker receives those webhooks.
func WithTrackStatic() Option {
	return func(s *settings) error {
		s.trackStatic = true
		return nil
	}
}

// WithClock sets the clock that launch times of tracked jobs are read from.
// The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *settings) error {
		if now == nil {
			return errors.New("geminihooks: WithClock: nil clock")
		}
		s.now = now
		return nil
	}
}

// expected lists the event types a job of each kind may end with.
var expected = map[ledger.Kind][]event.Type{
	ledger.KindBatch:       {event.TypeBatchSucceeded, event.TypeBatchFailed, event.TypeBatchExpired, event.TypeBatchCancelled},
	ledger.KindVideo:       {event.TypeVideoGenerated},
	ledger.KindInteraction: {event.TypeInteractionCompleted, event.TypeInteractionFailed, event.TypeInteractionCancelled, event.TypeInteractionRequiresAction, event.TypeVideoGenerated},
}

// track records a launched job when the client has a tracker and the job
// is one it tracks. metadata is the callback's user metadata as sent.
func (c *Client) track(ctx context.Context, kind ledger.Kind, name string, callback bool, metadata map[string]any) {
	if c.tracker == nil || (!callback && !c.trackStatic) || name == "" {
		return
	}
	now := c.now()
	j := &ledger.Job{Name: name, Kind: kind, LaunchedAt: now, NextCheck: now.Add(FirstCheckAfter)}
	for _, t := range expected[kind] {
		j.Events = append(j.Events, string(t))
	}
	if metadata != nil {
		// It encoded when the callback was prepared, so it encodes again.
		j.UserMetadata, _ = json.Marshal(metadata)
	}
	// The job runs whether or not the caller is still waiting: record it.
	if err := c.tracker.Track(context.WithoutCancel(ctx), j); err != nil {
		c.logger.ErrorContext(ctx, "geminihooks: recording launched job failed; it will not be reconciled", "name", name, "kind", string(kind), "error", err)
	}
}

// DownloadURI returns the URI the API serves a file's bytes at, for a file
// resource name such as a batch's responses file ("files/ID"): the form a
// delivered event's output_file_uri takes.
func (c *Client) DownloadURI(fileName string) string {
	base := strings.TrimSuffix(c.endpoint.String(), "/")
	i := strings.LastIndex(base, "/")
	return base[:i] + "/download" + base[i:] + "/" + fileName + ":download?alt=media"
}

// batchPath checks a batch name before it goes into a raw request path,
// which genai's own calls would have escaped: "batches/x/../../webhooks"
// must not reach another endpoint with the API key.
func batchPath(name string) (string, error) {
	id := strings.TrimPrefix(name, "batches/")
	if !validID(id) {
		return "", fmt.Errorf("geminihooks: invalid batch name %q", name)
	}
	return "batches/" + id, nil
}
