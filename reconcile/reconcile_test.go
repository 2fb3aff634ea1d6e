package reconcile_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/ledger"
	"github.com/geminihooks/geminihooks/reconcile"
)

// outcomes cycles through the outcomes with an event, by kind.
var outcomes = map[ledger.Kind][]emulator.Outcome{
	ledger.KindBatch: {"succeeded", "failed", "expired", "cancelled"},
	ledger.KindVideo: {"succeeded"},
	ledger.KindInteraction: {"succeeded", "failed", "cancelled", "requires_action",
		"incomplete", "budget_exceeded"},
	kindVideoInteraction: {"succeeded"},
}

// Every delivery of a random 30% of the jobs is lost. Each job still
// reaches its handler exactly once: the delivered ones by their delivery,
// the lost ones by the event the reconciler synthesizes, with the data and
// user metadata the delivery would have carried.
func TestLostDeliveriesReachHandlersOnce(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	e := newEnv(t, nil, &emulator.Config{ManualJobs: true})
	l := e.start()
	r := e.reconciler(reconcile.Config{})

	const n = 40
	kinds := []ledger.Kind{ledger.KindBatch, ledger.KindVideo, ledger.KindInteraction, kindVideoInteraction}
	names := make([]string, n)
	outcome := make(map[string]emulator.Outcome, n)
	for i := range n {
		kind := kinds[i%len(kinds)]
		names[i] = e.launch(kind, e.callback(map[string]any{"n": fmt.Sprint(i)}))
		os := outcomes[kind]
		outcome[names[i]] = os[(i/len(kinds))%len(os)]
	}
	lost := map[string]bool{}
	for _, i := range rng.Perm(n)[:n*3/10] {
		lost[names[i]] = true
		e.dropJob(names[i])
	}
	// A failed video has no event at all: the reconciler settles it.
	failedVideo := e.launch(ledger.KindVideo, e.callback(nil))
	for _, name := range append(names, failedVideo) {
		o := outcome[name]
		if name == failedVideo {
			o = "failed"
		}
		if err := e.emu.Finish(name, o); err != nil {
			t.Fatalf("Finish(%s): %v", name, err)
		}
	}
	e.idle()
	waitFor(t, "handlers of the delivered jobs", func() bool {
		jobs, _ := e.runCount()
		return jobs == n-len(lost)
	})

	// Within the grace period nothing is synthesized.
	e.clock.Advance(10 * time.Minute)
	if err := r.Reconcile(t.Context()); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if st := r.Stats(); st.Synthesized != 0 || st.Checks != 0 {
		t.Fatalf("before the first check: %+v", st)
	}
	// Batches and interactions report when they ended: past the grace
	// period, their events are synthesized now. A video operation does not
	// say, so its grace period starts when it is first seen done.
	e.clock.Advance(10 * time.Minute)
	if err := r.Reconcile(t.Context()); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	e.clock.Advance(15 * time.Minute)
	if err := r.Reconcile(t.Context()); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	waitFor(t, "a handler run for every job", func() bool {
		jobs, _ := e.runCount()
		return jobs == n
	})
	waitFor(t, "the listener to be idle", func() bool { return l.Stats().QueueDepth == 0 })

	e.mu.Lock()
	defer e.mu.Unlock()
	for _, name := range names {
		if runs := e.runs[name]; len(runs) != 1 || runs[0] != lost[name] {
			t.Errorf("%s: runs (synthesized?) %v; want one, synthesized=%v", name, runs, lost[name])
		}
		if !lost[name] {
			continue
		}
		real, err := event.Parse(e.dropped[name][0].body)
		if err != nil {
			t.Fatal(err)
		}
		want, err := real.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if vs, ok := want.(*event.Batch); ok {
			// The emulator names a results file even for inlined
			// requests; the batch resource, which the reconciler reads,
			// has inlined responses and no file.
			vs.OutputFileURI = ""
		}
		if d := cmp.Diff(want, e.data[name]); d != "" {
			t.Errorf("%s: synthesized data (-delivered +synthesized):\n%s", name, d)
		}
		if d := cmp.Diff(real.UserMetadata, e.meta[name]); d != "" {
			t.Errorf("%s: synthesized user metadata (-delivered +synthesized):\n%s", name, d)
		}
	}
	if runs := e.runs[failedVideo]; len(runs) != 0 {
		t.Errorf("failed video ran handlers: %v", runs)
	}
	st := r.Stats()
	if st.Synthesized != uint64(len(lost)) || st.NoEvent != 1 || st.Errors != 0 || !st.Leader {
		t.Errorf("Stats = %+v; want %d synthesized, 1 without event, no errors, leader", st, len(lost))
	}
}

// A delivery that arrives after the reconciler synthesized its event is a
// duplicate: the handler does not run again.
func TestLateDeliveryAfterReconciliation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, &emulator.Config{ManualJobs: true})
	l := e.start()
	r := e.reconciler(reconcile.Config{})
	name := e.launch(ledger.KindBatch, e.callback(nil))
	e.dropJob(name)
	if err := e.emu.Finish(name, "succeeded"); err != nil {
		t.Fatal(err)
	}
	e.idle()
	e.clock.Advance(time.Hour)
	if err := r.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the synthesized event's handler", func() bool { _, runs := e.runCount(); return runs == 1 })
	waitFor(t, "the ack", func() bool { return l.Stats().Processed == 1 })

	late := e.dropped[name][0]
	req := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(late.body))
	req.Header = late.header
	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("late delivery answered %d; want 200 (duplicate)", rec.Code)
	}
	if st := l.Stats(); st.Duplicates != 1 || st.Stored != 0 || st.QueueDepth != 0 {
		t.Errorf("listener stats %+v; want the late delivery counted as a duplicate only", st)
	}
	if _, runs := e.runCount(); runs != 1 {
		t.Errorf("handler ran %d times; want 1", runs)
	}
}

// A job still running is looked at again with doubling backoff; once it
// ends, its event gets the grace period to arrive before it is synthesized.
func TestBackoffAndGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, &emulator.Config{ManualJobs: true})
	e.start()
	r := e.reconciler(reconcile.Config{Grace: time.Hour, Backoff: doublingFrom(time.Minute, 3*time.Minute)})
	start := e.clock.Now()
	name := e.launch(ledger.KindInteraction, e.callback(nil))
	e.dropJob(name)
	tr := e.lg
	pass := func(advance time.Duration) *ledger.Job {
		t.Helper()
		e.clock.Advance(advance)
		if err := r.Reconcile(t.Context()); err != nil {
			t.Fatal(err)
		}
		j, err := tr.Job(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	for i, step := range []struct {
		advance time.Duration
		next    time.Duration // want NextCheck - start
		checks  int
	}{
		{14 * time.Minute, 15 * time.Minute, 0}, // not yet due
		{time.Minute, 16 * time.Minute, 1},      // running: +1m
		{time.Minute, 18 * time.Minute, 2},      // +2m
		{time.Minute, 18 * time.Minute, 2},      // not yet due
		{time.Minute, 21 * time.Minute, 3},      // +3m: capped
		{3 * time.Minute, 24 * time.Minute, 4},
	} {
		j := pass(step.advance)
		if got := j.NextCheck.Sub(start); got != step.next || j.Checks != step.checks || j.Settled {
			t.Fatalf("step %d: NextCheck start+%v, checks %d, settled %v; want start+%v, %d, unsettled", i, got, j.Checks, j.Settled, step.next, step.checks)
		}
	}
	if err := e.emu.Finish(name, "succeeded"); err != nil {
		t.Fatal(err)
	}
	e.idle()
	ended, err := e.emu.Job(name)
	if err != nil {
		t.Fatal(err)
	}
	// Ended: rescheduled to the end of the grace period, not synthesized.
	j := pass(3 * time.Minute)
	if j.Settled || j.EndedAt.IsZero() || !j.NextCheck.Equal(j.EndedAt.Add(time.Hour)) {
		t.Fatalf("after the end: %+v; want unsettled, next check an hour after it ended", j)
	}
	if d := j.EndedAt.Sub(ended.EndTime); d < -time.Second || d > time.Second {
		t.Errorf("EndedAt %v; the emulator ended it at %v", j.EndedAt, ended.EndTime)
	}
	j = pass(time.Hour)
	if !j.Settled || r.Stats().Synthesized != 1 {
		t.Fatalf("after the grace period: %+v, %+v; want settled and synthesized", j, r.Stats())
	}
	waitFor(t, "the handler", func() bool { _, runs := e.runCount(); return runs == 1 })
}

func TestSynthesizeKeys(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		d       event.Data
		jobKey  string
		wantErr bool
	}{
		{&event.Batch{Type: event.TypeBatchSucceeded, ID: "batches/1"}, "batch.succeeded\x00batches/1", false},
		{&event.Video{ID: "models/veo/operations/1"}, "video.generated\x00models/veo/operations/1", false},
		{&event.Interaction{Type: event.TypeInteractionRequiresAction, ID: "v1_x"}, "interaction.requires_action\x00v1_x", false},
		{&event.Batch{Type: event.TypeBatchFailed}, "", true}, // no job id
	} {
		m, err := reconcile.Synthesize(tc.d, ts, map[string]any{"k": "v"}, ts)
		if tc.wantErr {
			if err == nil {
				t.Errorf("Synthesize(%T without id) succeeded", tc.d)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Synthesize(%T): %v", tc.d, err)
		}
		again, _ := reconcile.Synthesize(tc.d, ts.Add(time.Hour), nil, ts)
		if m.JobKey != tc.jobKey || !m.Synthesized || m.ID == "" || again.ID != m.ID {
			t.Errorf("Synthesize(%T) = ID %q (again %q), JobKey %q, synthesized %v", tc.d, m.ID, again.ID, m.JobKey, m.Synthesized)
		}
		e, err := event.Parse(m.Body)
		if typ, _, _ := strings.Cut(tc.jobKey, "\x00"); err != nil || string(e.Type) != typ || e.UserMetadata["k"] != "v" || !e.Timestamp.Equal(ts) {
			t.Errorf("body %s: %+v, %v", m.Body, e, err)
		}
	}
}

// Run reconciles on its own every interval and, when stopped, releases the
// lease so another reconciler takes over at once.
func TestRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, &emulator.Config{ManualJobs: true})
	e.start()
	name := e.launch(ledger.KindBatch, e.callback(nil))
	e.dropJob(name)
	if err := e.emu.Finish(name, "failed"); err != nil {
		t.Fatal(err)
	}
	e.idle()
	e.clock.Advance(time.Hour)
	r := e.reconciler(reconcile.Config{Interval: 5 * time.Millisecond, Owner: "a"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, "the synthesized event's handler", func() bool { _, runs := e.runCount(); return runs == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if st := r.Stats(); st.Synthesized != 1 || st.Passes == 0 || !st.Leader || !st.LastPass.Equal(e.clock.Now()) {
		t.Errorf("Stats = %+v", st)
	}
	other := e.reconciler(reconcile.Config{Owner: "b"})
	if err := other.Reconcile(t.Context()); err != nil || !other.Stats().Leader {
		t.Errorf("after Run stopped, another reconciler: %v, %+v; want it to hold the lease", err, other.Stats())
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	for _, tc := range []struct {
		name string
		lg   ledger.Ledger
		cfg  *reconcile.Config
		want string
	}{
		{"nil ledger", nil, nil, "reconcile: nil ledger"},
		{"negative grace", e.lg, &reconcile.Config{Grace: -time.Second}, "reconcile: Config.Grace is -1s, need a positive duration"},
		{"negative interval", e.lg, &reconcile.Config{Interval: -time.Second}, "reconcile: Config.Interval is -1s, need a positive duration"},
		{"negative batch", e.lg, &reconcile.Config{Batch: -1}, "reconcile: Config.Batch is -1, need at least 1"},
		{"lease not longer than interval", e.lg, &reconcile.Config{Interval: time.Minute, LeaseTTL: time.Minute}, "reconcile: Config.LeaseTTL is 1m0s, need more than Config.Interval, 1m0s"},
		{"lease not longer than the default interval", e.lg, &reconcile.Config{LeaseTTL: time.Second}, "reconcile: Config.LeaseTTL is 1s, need more than Config.Interval, 1m0s"},
		{"negative ping wait", e.lg, &reconcile.Config{PingWait: -time.Second}, "reconcile: Config.PingWait is -1s, need a positive duration"},
		{"negative retention", e.lg, &reconcile.Config{Retention: -time.Second}, "reconcile: Config.Retention is -1s, need a positive duration"},
	} {
		if _, err := reconcile.New(e.client, e.ib, tc.lg, tc.cfg); err == nil || err.Error() != tc.want {
			t.Errorf("%s: New = %v; want %q", tc.name, err, tc.want)
		}
	}
	if _, err := reconcile.New(nil, e.ib, e.lg, nil); err == nil {
		t.Error("New(nil client) succeeded")
	}
	if _, err := reconcile.New(e.client, nil, e.lg, nil); err == nil {
		t.Error("New(nil inbox) succeeded")
	}
	if _, err := reconcile.New(e.client, e.ib, e.lg, nil); err != nil {
		t.Errorf("New with every default = %v", err)
	}
}

// gatedTracker is a ledger whose Track waits for gate to close, so a
// job's event can be stored before the job is tracked.
type gatedTracker struct {
	ledger.Ledger
	gate chan struct{}
}

func (g gatedTracker) Track(ctx context.Context, j *ledger.Job) error {
	<-g.gate
	return g.Ledger.Track(ctx, j)
}

// A job so quick that its event is stored before the client has tracked it
// stays unsettled; the reconciler finds the event already in the inbox and
// settles the job without a second handler run.
func TestEventBeforeTrack(t *testing.T) {
	t.Parallel()
	g := gatedTracker{ledger.NewMemory(), make(chan struct{})}
	e := newEnv(t, &store{lg: g}, nil) // jobs finish as soon as they start
	e.start()
	release := sync.OnceFunc(func() { close(g.gate) })
	t.Cleanup(release) // a failed wait must not leave the launch blocked
	type result struct {
		job *genai.BatchJob
		err error
	}
	launched := make(chan result, 1)
	go func() {
		job, err := e.client.Batches.Create(t.Context(), "gemini-2.5-flash", &genai.BatchJobSource{
			InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("hi")}},
		}, nil, e.callback(nil))
		launched <- result{job, err}
	}()
	waitFor(t, "the handler", func() bool { _, runs := e.runCount(); return runs == 1 })
	release()
	res := <-launched
	if res.err != nil {
		t.Fatal(res.err)
	}
	name := res.job.Name
	if j, err := g.Job(t.Context(), name); err != nil || j.Settled {
		t.Fatalf("tracked after its event: %+v, %v; want unsettled", j, err)
	}
	e.clock.Advance(time.Hour)
	r := e.reconciler(reconcile.Config{})
	if err := r.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.AlreadyStored != 1 || st.Synthesized != 0 {
		t.Errorf("Stats = %+v; want the event found already stored", st)
	}
	if j, err := g.Job(t.Context(), name); err != nil || !j.Settled {
		t.Errorf("after the pass: %+v, %v; want settled", j, err)
	}
	if _, runs := e.runCount(); runs != 1 {
		t.Errorf("handler ran %d times; want 1", runs)
	}
}

// Settled jobs are deleted once the retention period has passed; unsettled
// ones stay however old they are.
func TestPrunesSettledJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, &emulator.Config{ManualJobs: true})
	e.start()
	delivered := e.launch(ledger.KindBatch, e.callback(nil))
	running := e.launch(ledger.KindBatch, e.callback(nil))
	if err := e.emu.Finish(delivered, "succeeded"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the handler", func() bool { _, runs := e.runCount(); return runs == 1 })
	tr := e.lg
	if j, err := tr.Job(t.Context(), delivered); err != nil || !j.Settled {
		t.Fatalf("delivered job %+v, %v; want settled", j, err)
	}
	r := e.reconciler(reconcile.Config{Retention: 24 * time.Hour})
	if err := r.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Pruned != 0 {
		t.Fatalf("pruned %d within the retention period", st.Pruned)
	}
	e.clock.Advance(25 * time.Hour)
	if err := r.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Pruned != 1 {
		t.Errorf("Pruned = %d; want 1", st.Pruned)
	}
	if _, err := tr.Job(t.Context(), delivered); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("settled job after the retention period: %v; want ErrNotFound", err)
	}
	if j, err := tr.Job(t.Context(), running); err != nil || j.Settled {
		t.Errorf("running job: %+v, %v; want kept, unsettled", j, err)
	}
}

// A job whose event cannot be synthesized (its stored user metadata is not
// a JSON object) is looked at again only after a backoff, like a job whose
// state could not be read. Left due, it would come first in every pass and,
// with as many such jobs as the batch size, keep every other job from being
// looked at.
func TestUnsynthesizableJobBacksOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, &emulator.Config{ManualJobs: true})
	e.start()
	bad := e.launch(ledger.KindBatch, e.callback(nil))
	good := e.launch(ledger.KindBatch, e.callback(nil))
	e.dropJob(bad)
	e.dropJob(good)
	tr := e.lg
	j, err := tr.Job(t.Context(), bad)
	if err != nil {
		t.Fatal(err)
	}
	j.UserMetadata = []byte(`[1]`)
	j.NextCheck = j.NextCheck.Add(-time.Second) // due before the good job
	if err := tr.Track(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{bad, good} {
		if err := e.emu.Finish(name, "succeeded"); err != nil {
			t.Fatal(err)
		}
	}
	e.idle()
	e.clock.Advance(time.Hour)
	r := e.reconciler(reconcile.Config{Grace: time.Nanosecond, Batch: 1, Backoff: doublingFrom(time.Minute, time.Hour)})
	if err := r.Reconcile(t.Context()); err == nil {
		t.Fatal("Reconcile with a job whose metadata does not decode: nil error")
	}
	now := e.clock.Now()
	if j, err := tr.Job(t.Context(), bad); err != nil || j.Settled || !j.NextCheck.After(now) || j.Checks != 1 {
		t.Fatalf("bad job after a pass: %+v, %v; want unsettled, checked once, next check after %v", j, err, now)
	}
	// The next pass, with a batch of one, reaches the good job.
	if err := r.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if j, err := tr.Job(t.Context(), good); err != nil || !j.Settled {
		t.Errorf("good job after the second pass: %+v, %v; want settled", j, err)
	}
}

// A background interaction still queued is not over: the reconciler looks
// again later, and synthesizes its event once it has ended.
func TestQueuedInteraction(t *testing.T) {
	t.Parallel()
	// Jobs wait queued until finished by hand.
	e := newEnv(t, nil, &emulator.Config{Pending: time.Hour, Running: time.Hour})
	e.start()
	r := e.reconciler(reconcile.Config{})
	name := e.launch(ledger.KindInteraction, e.callback(nil))
	e.dropJob(name)
	e.clock.Advance(time.Hour)
	if err := r.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Checks != 1 || st.Synthesized != 0 {
		t.Fatalf("while queued: %+v; want one check, nothing synthesized", st)
	}
	if err := e.emu.Finish(name, "succeeded"); err != nil {
		t.Fatal(err)
	}
	e.idle()
	e.clock.Advance(2 * time.Hour)
	if err := r.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the synthesized event's handler", func() bool { _, runs := e.runCount(); return runs == 1 })
	e.mu.Lock()
	defer e.mu.Unlock()
	if d := cmp.Diff(&event.Interaction{Type: event.TypeInteractionCompleted, ID: name}, e.data[name]); d != "" {
		t.Errorf("synthesized data (-want +got):\n%s", d)
	}
}
