package reconcile_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/ledger"
	"github.com/geminihooks/geminihooks/reconcile"
)

// The process stops mid-way: after it launched jobs, after a reconciler
// pass found them running, and (for one job) after a pass stored the
// synthesized event but before it settled the job. Reopened, the bbolt
// file still has every tracked job with its progress, and each job's
// handler runs exactly once.
func TestRestartLosesNoTrackedJob(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inbox.db")
	ib1, err := boltinbox.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, &store{ib1, ib1.Ledger}, &emulator.Config{ManualJobs: true})
	kinds := []ledger.Kind{ledger.KindBatch, ledger.KindInteraction, ledger.KindBatch, ledger.KindInteraction}
	var names []string
	for _, k := range kinds {
		name := e.launch(k, e.callback(map[string]any{"run": "1"}))
		e.dropJob(name)
		names = append(names, name)
	}
	e.clock.Advance(20 * time.Minute)
	if err := e.reconciler(reconcile.Config{}).Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if err := e.emu.Finish(name, "succeeded"); err != nil {
			t.Fatal(err)
		}
	}
	e.idle()
	// The crash between Put and Settle, for names[0].
	m, err := reconcile.Synthesize(&event.Batch{Type: event.TypeBatchSucceeded, ID: names[0]}, e.clock.Now(), map[string]any{"run": "1"}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := ib1.Put(t.Context(), m); !ok || err != nil {
		t.Fatalf("Put = %v, %v", ok, err)
	}
	if err := ib1.Close(); err != nil {
		t.Fatal(err)
	}

	ib2, err := boltinbox.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ib2.Close() })
	e.ib, e.lg = ib2, ib2.Ledger
	e.client = e.newClient()
	for _, name := range names {
		j, err := ib2.Ledger.Job(t.Context(), name)
		if err != nil || j.Checks != 1 || j.Settled {
			t.Fatalf("%s after reopening: %+v, %v; want unsettled, looked at once", name, j, err)
		}
	}
	e.clock.Advance(time.Hour)
	r := e.reconciler(reconcile.Config{})
	if err := r.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The listener starts after the pass: its workers settle the job of
	// each event they claim, which would settle names[0] before the
	// reconciler could find its event already stored.
	e.start()
	waitFor(t, "every job's handler", func() bool { jobs, _ := e.runCount(); return jobs == len(names) })
	if st := r.Stats(); st.Synthesized != uint64(len(names)-1) || st.AlreadyStored != 1 {
		t.Errorf("Stats = %+v; want %d synthesized and 1 already stored", st, len(names)-1)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, name := range names {
		if runs := e.runs[name]; len(runs) != 1 || !runs[0] {
			t.Errorf("%s: runs %v; want one, synthesized", name, runs)
		}
	}
}
