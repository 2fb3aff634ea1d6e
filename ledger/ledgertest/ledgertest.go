package ledgertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/geminihooks/geminihooks/ledger"
)

// start is the time the suite's jobs are launched at; every time it passes
// is an offset from it.
var start = time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)

// Run runs the conformance suite for a [ledger.Ledger]. Each subtest calls
// open for a new, empty ledger and registers its own cleanup. A ledger reads
// no clock, so the suite passes every time in; it checks the contract
// written on [ledger.Ledger], including that a ledger keeps no reference to
// the jobs it is given or returns.
func Run(t *testing.T, open func(t *testing.T) ledger.Ledger) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, tr ledger.Ledger)
	}{
		{"TrackGetSettle", testTrackGetSettle},
		{"DueOrderAndLimit", testDueOrder},
		{"Reschedule", testReschedule},
		{"TrackReplaces", testTrackReplaces},
		{"Lease", testLease},
		{"Canceled", testTrackerCanceled},
		{"Prune", testPrune},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var trackerCmp = []cmp.Option{cmpopts.EquateEmpty(), cmpopts.EquateApproxTime(0)}

func job(name string, next time.Time) *ledger.Job {
	return &ledger.Job{
		Name: name, Kind: ledger.KindBatch, Events: []string{"batch.succeeded", "batch.failed"},
		UserMetadata: []byte(`{"k":"v"}`), LaunchedAt: start, NextCheck: next,
	}
}

func names(js []*ledger.Job) []string {
	out := make([]string, 0, len(js))
	for _, j := range js {
		out = append(out, j.Name)
	}
	return out
}

func testTrackGetSettle(t *testing.T, tr ledger.Ledger) {
	ctx := t.Context()
	j := job("batches/a", start.Add(time.Minute))
	if err := tr.Track(ctx, j); err != nil {
		t.Fatalf("Track: %v", err)
	}
	want := *j
	want.Events = append([]string(nil), j.Events...)
	want.UserMetadata = append([]byte(nil), j.UserMetadata...)
	j.Events[0], j.UserMetadata[0] = "changed", 'X' // the tracker must have copied
	got, err := tr.Job(ctx, "batches/a")
	if err != nil {
		t.Fatalf("Job: %v", err)
	}
	if d := cmp.Diff(&want, got, trackerCmp...); d != "" {
		t.Errorf("Job (-want +got):\n%s", d)
	}
	if err := tr.Track(ctx, &ledger.Job{Kind: ledger.KindBatch}); err == nil {
		t.Error("Track without a name succeeded")
	}
	if _, err := tr.Job(ctx, "batches/none"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Job(unknown) = %v, want ErrNotFound", err)
	}
	if err := tr.Settle(ctx, "batches/none", start); err != nil {
		t.Errorf("Settle(unknown) = %v, want nil", err)
	}
	at := start.Add(2 * time.Minute)
	if err := tr.Settle(ctx, "batches/a", at); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if err := tr.Settle(ctx, "batches/a", at.Add(time.Hour)); err != nil {
		t.Fatalf("second Settle: %v", err)
	}
	got, err = tr.Job(ctx, "batches/a")
	if err != nil {
		t.Fatal(err)
	}
	want.Settled, want.SettledAt = true, at
	if d := cmp.Diff(&want, got, trackerCmp...); d != "" {
		t.Errorf("after Settle (-want +got):\n%s", d)
	}
	due, err := tr.Due(ctx, start.Add(24*time.Hour), 10)
	if err != nil || len(due) != 0 {
		t.Errorf("Due after Settle = %v, %v; want none", names(due), err)
	}
}

func testDueOrder(t *testing.T, tr ledger.Ledger) {
	ctx := t.Context()
	for i, name := range []string{"c", "a", "b", "d"} {
		if err := tr.Track(ctx, job(name, start.Add(time.Duration(3-i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	// NextCheck: c +3m, a +2m, b +1m, d +0m.
	tests := []struct {
		now   time.Time
		limit int
		want  []string
	}{
		{start.Add(-time.Second), 10, nil},
		{start, 10, []string{"d"}},
		{start.Add(2 * time.Minute), 10, []string{"d", "b", "a"}},
		{start.Add(time.Hour), 2, []string{"d", "b"}},
		{start.Add(time.Hour), 10, []string{"d", "b", "a", "c"}},
	}
	for _, tc := range tests {
		due, err := tr.Due(ctx, tc.now, tc.limit)
		if err != nil {
			t.Fatalf("Due: %v", err)
		}
		if d := cmp.Diff(tc.want, names(due), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("Due(%v, %d) (-want +got):\n%s", tc.now.Sub(start), tc.limit, d)
		}
	}
}

func testReschedule(t *testing.T, tr ledger.Ledger) {
	ctx := t.Context()
	if err := tr.Track(ctx, job("v", start)); err != nil {
		t.Fatal(err)
	}
	next, ended := start.Add(time.Hour), start.Add(30*time.Minute)
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
	if got, _ := tr.Job(ctx, "v"); got == nil || got.Checks != 1 || !got.Settled {
		t.Errorf("Reschedule changed a settled job: %+v", got)
	}
	if err := tr.Reschedule(ctx, "none", next, ended); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Reschedule(unknown) = %v, want ErrNotFound", err)
	}
}

func testTrackReplaces(t *testing.T, tr ledger.Ledger) {
	ctx := t.Context()
	if err := tr.Track(ctx, job("p", start)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Reschedule(ctx, "p", start, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Settle(ctx, "p", start); err != nil {
		t.Fatal(err)
	}
	again := job("p", start.Add(time.Minute))
	again.Kind = ledger.KindPing
	if err := tr.Track(ctx, again); err != nil {
		t.Fatal(err)
	}
	got, err := tr.Job(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(again, got, trackerCmp...); d != "" {
		t.Errorf("re-tracked job (-want +got):\n%s", d)
	}
}

func testLease(t *testing.T, tr ledger.Ledger) {
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
			err = tr.AcquireLease(ctx, s.lease, s.owner, start.Add(s.at), ttl)
		} else {
			err = tr.ReleaseLease(ctx, s.lease, s.owner)
		}
		if s.held && !errors.Is(err, ledger.ErrLeaseHeld) || !s.held && err != nil {
			t.Errorf("step %d: %s(%s, %s) at %v = %v; want held=%v", i, s.op, s.lease, s.owner, s.at, err, s.held)
		}
	}
}

func testTrackerCanceled(t *testing.T, tr ledger.Ledger) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := tr.Track(ctx, job("x", start)); !errors.Is(err, context.Canceled) {
		t.Errorf("Track with a canceled context = %v", err)
	}
	if _, err := tr.Job(t.Context(), "x"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("a canceled Track stored the job: %v", err)
	}
	if _, err := tr.Due(ctx, start, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Due with a canceled context = %v", err)
	}
}

func testPrune(t *testing.T, tr ledger.Ledger) {
	ctx := t.Context()
	for _, name := range []string{"old", "new", "open"} {
		if err := tr.Track(ctx, job(name, start)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Settle(ctx, "old", start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Settle(ctx, "new", start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tr.Prune(canceled, start.Add(48*time.Hour)); !errors.Is(err, context.Canceled) {
		t.Errorf("Prune with a canceled context = %v", err)
	}
	if _, err := tr.Job(ctx, "old"); err != nil {
		t.Errorf("a canceled Prune deleted a job: %v", err)
	}
	// The cutoff is exclusive: a job settled at it stays.
	n, err := tr.Prune(ctx, start.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if _, err := tr.Job(ctx, "old"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("pruned job still there: %v", err)
	}
	for _, name := range []string{"new", "open"} {
		if _, err := tr.Job(ctx, name); err != nil {
			t.Errorf("%s: %v; want kept", name, err)
		}
	}
	// A pruned name tracked again starts over, unsettled, and stays.
	if err := tr.Track(ctx, job("old", start)); err != nil {
		t.Fatal(err)
	}
	if n, err := tr.Prune(ctx, start.Add(48*time.Hour)); err != nil || n != 1 {
		t.Errorf("second Prune = %d, %v; want 1 (the open jobs stay)", n, err)
	}
	due, err := tr.Due(ctx, start, 10)
	if d := cmp.Diff([]string{"old", "open"}, names(due)); err != nil || d != "" {
		t.Errorf("Due after pruning = %v (-want +got):\n%s", err, d)
	}
	if _, err := tr.Job(ctx, "new"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("job settled before the second cutoff still there: %v", err)
	}
}
