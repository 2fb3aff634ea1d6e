package inboxtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/geminihooks/geminihooks/inbox"
)

// RunTracker runs the conformance suite for an [inbox.Tracker]. Each subtest
// calls open for a new, empty tracker and registers its own cleanup. A
// tracker reads no clock, so the suite passes every time in; it checks the
// contract written on [inbox.Tracker], and that a tracker keeps no
// reference to the jobs it is given or returns. A tracker that also
// implements [inbox.TrackerPruner] is checked for that too.
func RunTracker(t *testing.T, open func(t *testing.T) inbox.Tracker) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, tr inbox.Tracker)
	}{
		{"TrackGetSettle", testTrackGetSettle},
		{"DueOrderAndLimit", testDueOrder},
		{"Reschedule", testReschedule},
		{"TrackReplaces", testTrackReplaces},
		{"Lease", testLease},
		{"Canceled", testTrackerCanceled},
		{"PruneTracked", testPruneTracked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var trackerCmp = []cmp.Option{cmpopts.EquateEmpty(), cmpopts.EquateApproxTime(0)}

func job(name string, next time.Time) *inbox.TrackedJob {
	return &inbox.TrackedJob{
		Name: name, Kind: inbox.KindBatch, Events: []string{"batch.succeeded", "batch.failed"},
		UserMetadata: []byte(`{"k":"v"}`), LaunchedAt: Start, NextCheck: next,
	}
}

func names(js []*inbox.TrackedJob) []string {
	out := make([]string, 0, len(js))
	for _, j := range js {
		out = append(out, j.Name)
	}
	return out
}

func testTrackGetSettle(t *testing.T, tr inbox.Tracker) {
	ctx := t.Context()
	j := job("batches/a", Start.Add(time.Minute))
	if err := tr.Track(ctx, j); err != nil {
		t.Fatalf("Track: %v", err)
	}
	want := j.Clone()
	j.Events[0], j.UserMetadata[0] = "changed", 'X' // the tracker must have copied
	got, err := tr.TrackedJob(ctx, "batches/a")
	if err != nil {
		t.Fatalf("TrackedJob: %v", err)
	}
	if d := cmp.Diff(want, got, trackerCmp...); d != "" {
		t.Errorf("TrackedJob (-want +got):\n%s", d)
	}
	if err := tr.Track(ctx, &inbox.TrackedJob{Kind: inbox.KindBatch}); err == nil {
		t.Error("Track without a name succeeded")
	}
	if _, err := tr.TrackedJob(ctx, "batches/none"); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("TrackedJob(unknown) = %v, want ErrNotFound", err)
	}
	if err := tr.Settle(ctx, "batches/none", Start); err != nil {
		t.Errorf("Settle(unknown) = %v, want nil", err)
	}
	at := Start.Add(2 * time.Minute)
	if err := tr.Settle(ctx, "batches/a", at); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if err := tr.Settle(ctx, "batches/a", at.Add(time.Hour)); err != nil {
		t.Fatalf("second Settle: %v", err)
	}
	got, err = tr.TrackedJob(ctx, "batches/a")
	if err != nil {
		t.Fatal(err)
	}
	want.Settled, want.SettledAt = true, at
	if d := cmp.Diff(want, got, trackerCmp...); d != "" {
		t.Errorf("after Settle (-want +got):\n%s", d)
	}
	due, err := tr.Due(ctx, Start.Add(24*time.Hour), 10)
	if err != nil || len(due) != 0 {
		t.Errorf("Due after Settle = %v, %v; want none", names(due), err)
	}
}

func testDueOrder(t *testing.T, tr inbox.Tracker) {
	ctx := t.Context()
	for i, name := range []string{"c", "a", "b", "d"} {
		if err := tr.Track(ctx, job(name, Start.Add(time.Duration(3-i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	// NextCheck: c +3m, a +2m, b +1m, d +0m.
	tests := []struct {
		now   time.Time
		limit int
		want  []string
	}{
		{Start.Add(-time.Second), 10, nil},
		{Start, 10, []string{"d"}},
		{Start.Add(2 * time.Minute), 10, []string{"d", "b", "a"}},
		{Start.Add(time.Hour), 2, []string{"d", "b"}},
		{Start.Add(time.Hour), 10, []string{"d", "b", "a", "c"}},
	}
	for _, tc := range tests {
		due, err := tr.Due(ctx, tc.now, tc.limit)
		if err != nil {
			t.Fatalf("Due: %v", err)
		}
		if d := cmp.Diff(tc.want, names(due), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("Due(%v, %d) (-want +got):\n%s", tc.now.Sub(Start), tc.limit, d)
		}
	}
}

func testReschedule(t *testing.T, tr inbox.Tracker) {
	ctx := t.Context()
	if err := tr.Track(ctx, job("v", Start)); err != nil {
		t.Fatal(err)
	}
	next, ended := Start.Add(time.Hour), Start.Add(30*time.Minute)
	if err := tr.Reschedule(ctx, "v", next, ended); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	if due, _ := tr.Due(ctx, next.Add(-time.Second), 10); len(due) != 0 {
		t.Errorf("Due before the new NextCheck = %v", names(due))
	}
	due, err := tr.Due(ctx, next, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("Due at the new NextCheck = %v, %v", names(due), err)
	}
	want := job("v", next)
	want.EndedAt, want.Checks = ended, 1
	if d := cmp.Diff(want, due[0], trackerCmp...); d != "" {
		t.Errorf("rescheduled job (-want +got):\n%s", d)
	}
	if err := tr.Settle(ctx, "v", next); err != nil {
		t.Fatal(err)
	}
	if err := tr.Reschedule(ctx, "v", next.Add(time.Hour), ended); err != nil {
		t.Fatalf("Reschedule of a settled job: %v", err)
	}
	if got, _ := tr.TrackedJob(ctx, "v"); got == nil || got.Checks != 1 || !got.Settled {
		t.Errorf("Reschedule changed a settled job: %+v", got)
	}
	if err := tr.Reschedule(ctx, "none", next, ended); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("Reschedule(unknown) = %v, want ErrNotFound", err)
	}
}

func testTrackReplaces(t *testing.T, tr inbox.Tracker) {
	ctx := t.Context()
	if err := tr.Track(ctx, job("p", Start)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Reschedule(ctx, "p", Start, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Settle(ctx, "p", Start); err != nil {
		t.Fatal(err)
	}
	again := job("p", Start.Add(time.Minute))
	again.Kind = inbox.KindPing
	if err := tr.Track(ctx, again); err != nil {
		t.Fatal(err)
	}
	got, err := tr.TrackedJob(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(again, got, trackerCmp...); d != "" {
		t.Errorf("re-tracked job (-want +got):\n%s", d)
	}
}

func testLease(t *testing.T, tr inbox.Tracker) {
	ctx := t.Context()
	const ttl = time.Minute
	steps := []struct {
		op    string // acquire or release
		lease string
		owner string
		at    time.Duration
		held  bool // want ErrLeaseHeld
	}{
		{"acquire", "r", "A", 0, false},
		{"acquire", "r", "B", 30 * time.Second, true},
		{"acquire", "other", "B", 30 * time.Second, false}, // leases are independent
		{"acquire", "r", "A", 50 * time.Second, false},     // renewal: now until 1m50s
		{"acquire", "r", "B", 100 * time.Second, true},
		{"acquire", "r", "B", 110 * time.Second, false}, // expired at 1m50s
		{"release", "r", "A", 111 * time.Second, false}, // not A's: no effect
		{"acquire", "r", "A", 112 * time.Second, true},
		{"release", "r", "B", 113 * time.Second, false},
		{"acquire", "r", "A", 114 * time.Second, false},
	}
	for i, s := range steps {
		var err error
		if s.op == "acquire" {
			err = tr.AcquireLease(ctx, s.lease, s.owner, Start.Add(s.at), ttl)
		} else {
			err = tr.ReleaseLease(ctx, s.lease, s.owner)
		}
		if s.held && !errors.Is(err, inbox.ErrLeaseHeld) || !s.held && err != nil {
			t.Errorf("step %d: %s(%s, %s) at %v = %v; want held=%v", i, s.op, s.lease, s.owner, s.at, err, s.held)
		}
	}
}

func testTrackerCanceled(t *testing.T, tr inbox.Tracker) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := tr.Track(ctx, job("x", Start)); !errors.Is(err, context.Canceled) {
		t.Errorf("Track with a canceled context = %v", err)
	}
	if _, err := tr.TrackedJob(t.Context(), "x"); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("a canceled Track stored the job: %v", err)
	}
	if _, err := tr.Due(ctx, Start, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Due with a canceled context = %v", err)
	}
}

func testPruneTracked(t *testing.T, tr inbox.Tracker) {
	p, ok := tr.(inbox.TrackerPruner)
	if !ok {
		t.Skip("not an inbox.TrackerPruner")
	}
	ctx := t.Context()
	for _, name := range []string{"old", "new", "open"} {
		if err := tr.Track(ctx, job(name, Start)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Settle(ctx, "old", Start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Settle(ctx, "new", Start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.PruneTracked(canceled, Start.Add(48*time.Hour)); !errors.Is(err, context.Canceled) {
		t.Errorf("PruneTracked with a canceled context = %v", err)
	}
	if _, err := tr.TrackedJob(ctx, "old"); err != nil {
		t.Errorf("a canceled PruneTracked deleted a job: %v", err)
	}
	// The cutoff is exclusive: a job settled at it stays.
	n, err := p.PruneTracked(ctx, Start.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneTracked = %d, %v; want 1", n, err)
	}
	if _, err := tr.TrackedJob(ctx, "old"); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("pruned job still there: %v", err)
	}
	for _, name := range []string{"new", "open"} {
		if _, err := tr.TrackedJob(ctx, name); err != nil {
			t.Errorf("%s: %v; want kept", name, err)
		}
	}
	// A pruned name tracked again starts over, unsettled, and stays.
	if err := tr.Track(ctx, job("old", Start)); err != nil {
		t.Fatal(err)
	}
	if n, err := p.PruneTracked(ctx, Start.Add(48*time.Hour)); err != nil || n != 1 {
		t.Errorf("second PruneTracked = %d, %v; want 1 (the open jobs stay)", n, err)
	}
	due, err := tr.Due(ctx, Start, 10)
	if d := cmp.Diff([]string{"old", "open"}, names(due)); err != nil || d != "" {
		t.Errorf("Due after pruning = %v (-want +got):\n%s", err, d)
	}
	if _, err := tr.TrackedJob(ctx, "new"); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("job settled before the second cutoff still there: %v", err)
	}
}
