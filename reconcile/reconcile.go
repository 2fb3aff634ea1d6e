package reconcile

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geminihooks/geminihooks"
	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/ledger"
)

// The defaults of Config's fields.
const (
	defaultGrace       = 15 * time.Minute
	defaultInterval    = time.Minute
	defaultBackoffBase = time.Minute
	defaultBackoffMax  = time.Hour
	defaultBatch       = 100
	defaultPingWait    = 5 * time.Minute
	defaultRetention   = 48 * time.Hour
)

// pruneEvery is how often a reconciler holding the lease prunes settled jobs.
const pruneEvery = time.Hour

// LeaseName is the ledger lease reconcilers sharing a store take turns on.
const LeaseName = "geminihooks/reconciler"

// Config configures New. A nil *Config gives every default; New copies it,
// so later changes have no effect. A value out of range makes New fail with
// an error naming the field.
type Config struct {
	// Grace is how long after a job ended its event may still arrive
	// before the reconciler synthesizes it. The end is the time the API
	// reports (a batch's end time, an interaction's last update) or, for a
	// video operation, which reports none, when the reconciler first saw it
	// done. Default 15 minutes.
	Grace time.Duration
	// Interval is how often Run looks for due jobs. Default one minute.
	Interval time.Duration
	// Backoff gives the wait before the next look at a job that is still
	// running (or whose state could not be read), given how many looks it
	// has had. Default nil: one minute, doubling with each look, at most an
	// hour.
	Backoff func(checks int) time.Duration
	// Batch is how many due jobs one pass looks at. Default 100.
	Batch int
	// Owner names this reconciler in the shared lease. Default: a random
	// name.
	Owner string
	// LeaseTTL is how long a pass holds the lease; another reconciler takes
	// over once it lapses without renewal. Each pass renews it, so it must
	// be longer than Interval. Default three intervals.
	LeaseTTL time.Duration
	// Retention is how long settled jobs are kept before a pass deletes
	// them from the ledger. Default 48 hours.
	Retention time.Duration
	// WatchWebhooks makes each pass list the registered webhooks and log
	// and count those the API disabled after failed deliveries. Default
	// false.
	WatchWebhooks bool
	// ReviveWebhooks watches the webhooks as WatchWebhooks does and also
	// asks the API to ping each disabled one and, once the ping has reached
	// the listener (which settles it in the shared ledger), enables it
	// again. Default false.
	ReviveWebhooks bool
	// PingWait is how long a revival waits for its ping before it pings
	// again. Default five minutes.
	PingWait time.Duration
	// Now is the clock every decision reads. Default nil: time.Now.
	Now func() time.Time
	// Logger receives failed passes, synthesized events and disabled
	// webhooks. Default nil: discard.
	Logger *slog.Logger
}

// config is a Config with its defaults filled in.
type config struct {
	grace     time.Duration
	interval  time.Duration
	backoff   func(checks int) time.Duration
	batch     int
	pingWait  time.Duration
	leaseTTL  time.Duration
	owner     string
	retention time.Duration
	watch     bool
	revive    bool
	now       func() time.Time
	log       *slog.Logger
}

func newConfig(c *Config) (config, error) {
	var in Config
	if c != nil {
		in = *c
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"Grace", in.Grace}, {"Interval", in.Interval}, {"LeaseTTL", in.LeaseTTL}, {"Retention", in.Retention}, {"PingWait", in.PingWait}} {
		if f.v < 0 {
			return config{}, fmt.Errorf("reconcile: Config.%s is %v, need a positive duration", f.name, f.v)
		}
	}
	if in.Batch < 0 {
		return config{}, fmt.Errorf("reconcile: Config.Batch is %d, need at least 1", in.Batch)
	}
	cfg := config{
		grace: cmp.Or(in.Grace, defaultGrace), interval: cmp.Or(in.Interval, defaultInterval), backoff: in.Backoff,
		batch: cmp.Or(in.Batch, defaultBatch), pingWait: cmp.Or(in.PingWait, defaultPingWait), leaseTTL: in.LeaseTTL,
		owner: in.Owner, retention: cmp.Or(in.Retention, defaultRetention), watch: in.WatchWebhooks || in.ReviveWebhooks,
		revive: in.ReviveWebhooks, now: in.Now, log: in.Logger,
	}
	if cfg.leaseTTL == 0 {
		cfg.leaseTTL = 3 * cfg.interval
	}
	if cfg.leaseTTL <= cfg.interval {
		return config{}, fmt.Errorf("reconcile: Config.LeaseTTL is %v, need more than Config.Interval, %v", cfg.leaseTTL, cfg.interval)
	}
	if cfg.backoff == nil {
		cfg.backoff = doubling
	}
	if cfg.owner == "" {
		var b [8]byte
		rand.Read(b[:])
		cfg.owner = "reconciler-" + hex.EncodeToString(b[:])
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// doubling is the default Backoff: one minute after the first look,
// doubling with each further look, at most an hour.
func doubling(checks int) time.Duration {
	d := defaultBackoffBase
	for i := 0; i < checks && d < defaultBackoffMax; i++ {
		d *= 2
	}
	return min(d, defaultBackoffMax)
}

// Reconciler finds tracked jobs whose event never arrived and puts the
// event they would have carried into the inbox. It is safe for concurrent
// use; reconcilers sharing a ledger take turns through its lease, so a
// fleet may run one in every replica.
//
// A synthesized event carries what the job's resource says: for a batch
// that succeeded, output_file_uri is the download URI of its responses file,
// and empty when the responses were inlined (read them with Batches.Get); a
// video's file name and id come from its video URI; a failed video has no
// event, and is only settled.
type Reconciler struct {
	config
	client *geminihooks.Client
	inbox  inbox.Inbox
	ledger ledger.Ledger
	stats  counters

	mu         sync.Mutex // one pass at a time in this process
	lastPruned time.Time  // guarded by mu
}

// New returns a Reconciler that reads job states with c, finds the jobs to
// look at in lg and puts synthesized events into ib. Pass the listener's
// inbox and the ledger beside it (a boltinbox or pginbox DB and its Ledger),
// and the same ledger to the client, which records the jobs it launches
// there. It fails on a nil argument or a Config value out of range.
func New(c *geminihooks.Client, ib inbox.Inbox, lg ledger.Ledger, cfg *Config) (*Reconciler, error) {
	switch {
	case c == nil:
		return nil, errors.New("reconcile: nil client")
	case ib == nil:
		return nil, errors.New("reconcile: nil inbox")
	case lg == nil:
		return nil, errors.New("reconcile: nil ledger")
	}
	conf, err := newConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Reconciler{config: conf, client: c, inbox: ib, ledger: lg}, nil
}

// Run reconciles every interval until ctx ends, then releases the lease
// and returns nil. A failed pass is logged and counted, not returned: the
// next one tries again.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		if err := r.Reconcile(ctx); err != nil && ctx.Err() == nil {
			r.log.ErrorContext(ctx, "reconcile: pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.ledger.ReleaseLease(rctx, LeaseName, r.owner); err != nil {
				r.log.WarnContext(ctx, "reconcile: releasing the lease failed", "error", err)
			}
			return nil
		case <-t.C:
		}
	}
}

// Reconcile runs one pass: when it holds the lease, it looks at up to the
// batch size of due jobs and, with Config.WatchWebhooks, at the registered
// webhooks, and, hourly, prunes the settled jobs past the retention.
// Without the lease it does nothing and returns nil.
func (r *Reconciler) Reconcile(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if err := r.ledger.AcquireLease(ctx, LeaseName, r.owner, now, r.leaseTTL); err != nil {
		if errors.Is(err, ledger.ErrLeaseHeld) {
			r.stats.leader.Store(false)
			r.stats.skipped.Add(1)
			return nil
		}
		r.stats.errors.Add(1)
		return fmt.Errorf("reconcile: lease: %w", err)
	}
	r.stats.leader.Store(true)
	r.stats.passes.Add(1)
	r.stats.lastPass.Store(now.UnixNano())
	due, err := r.ledger.Due(ctx, now, r.batch)
	if err != nil {
		r.stats.errors.Add(1)
		return fmt.Errorf("reconcile: due jobs: %w", err)
	}
	var errs []error
	for _, j := range due {
		if err := r.check(ctx, j, now); err != nil {
			r.stats.errors.Add(1)
			errs = append(errs, err)
		}
	}
	if r.watch {
		if err := r.watchWebhooks(ctx, now); err != nil {
			r.stats.errors.Add(1)
			errs = append(errs, err)
		}
	}
	if now.Sub(r.lastPruned) >= pruneEvery {
		n, err := r.ledger.Prune(ctx, now.Add(-r.retention))
		if err != nil {
			r.stats.errors.Add(1)
			errs = append(errs, fmt.Errorf("reconcile: prune settled jobs: %w", err))
		} else {
			r.lastPruned = now
			r.stats.pruned.Add(uint64(n))
		}
	}
	return errors.Join(errs...)
}

// check looks at one due job.
func (r *Reconciler) check(ctx context.Context, j *ledger.Job, now time.Time) error {
	r.stats.checks.Add(1)
	if j.Kind == ledger.KindPing {
		return r.repeatPing(ctx, j, now)
	}
	st, err := r.jobState(ctx, j)
	switch {
	case errors.Is(err, geminihooks.ErrNotFound):
		// The job is gone (deleted, or expired from the API's records):
		// nothing can be synthesized, so stop looking.
		r.stats.vanished.Add(1)
		r.log.WarnContext(ctx, "reconcile: tracked job not found; no longer tracked", "job", j.Name)
		return r.settle(ctx, j.Name, now)
	case err != nil:
		r.log.WarnContext(ctx, "reconcile: reading job state failed", "job", j.Name, "error", err)
		if rerr := r.ledger.Reschedule(ctx, j.Name, now.Add(max(r.backoff(j.Checks), 0)), j.EndedAt); rerr != nil {
			return errors.Join(err, rerr)
		}
		return fmt.Errorf("reconcile: job %s: %w", j.Name, err)
	case !st.Done:
		return r.ledger.Reschedule(ctx, j.Name, now.Add(max(r.backoff(j.Checks), 0)), time.Time{})
	}
	ended := j.EndedAt
	if ended.IsZero() {
		ended = st.EndedAt
	}
	if ended.IsZero() || ended.After(now) {
		ended = now
	}
	if now.Before(ended.Add(r.grace)) {
		// Ended, but its event may still be on its way.
		return r.ledger.Reschedule(ctx, j.Name, ended.Add(r.grace), ended)
	}
	if st.Event == nil {
		// A failed video: there is no event to synthesize.
		r.stats.noEvent.Add(1)
		return r.settle(ctx, j.Name, now)
	}
	m, err := synthesizeJob(j, st.Event, ended, now)
	if err != nil {
		// Not transient: left due, the job would come first in every pass
		// and, with a batch of them, crowd out every other job.
		if rerr := r.ledger.Reschedule(ctx, j.Name, now.Add(max(r.backoff(j.Checks), 0)), ended); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	stored, err := r.inbox.Put(ctx, m)
	if err != nil {
		return fmt.Errorf("reconcile: job %s: storing the synthesized event: %w", j.Name, err)
	}
	if stored {
		r.stats.synthesized.Add(1)
		var typ event.Type
		if ev, err := event.Parse(m.Body); err == nil {
			typ = ev.Type
		}
		r.log.InfoContext(ctx, "reconcile: event synthesized for a job whose delivery never came", "job", j.Name, "type", string(typ))
	} else {
		r.stats.alreadyStored.Add(1)
	}
	return r.settle(ctx, j.Name, now)
}

// synthesizeJob returns the message for j's event d.
func synthesizeJob(j *ledger.Job, d event.Data, ended, now time.Time) (*inbox.Message, error) {
	var meta map[string]any
	if len(j.UserMetadata) > 0 {
		if err := json.Unmarshal(j.UserMetadata, &meta); err != nil {
			return nil, fmt.Errorf("reconcile: job %s: user metadata: %w", j.Name, err)
		}
	}
	m, err := Synthesize(d, ended, meta, now)
	if err != nil {
		return nil, fmt.Errorf("reconcile: job %s: %w", j.Name, err)
	}
	return m, nil
}

func (r *Reconciler) settle(ctx context.Context, name string, now time.Time) error {
	if err := r.ledger.Settle(ctx, name, now); err != nil {
		return fmt.Errorf("reconcile: settle %s: %w", name, err)
	}
	return nil
}

// Synthesize returns the inbox message a reconciler stores for a job whose
// event d never arrived: the body event.Marshal makes (as the API would
// send it, with ts and the callback's user metadata), marked Synthesized,
// with the JobKey a delivery of the same event gets (event.JobKey), and
// an ID derived from type and job, so either one stored first makes the
// other a duplicate.
func Synthesize(d event.Data, ts time.Time, userMetadata map[string]any, receivedAt time.Time) (*inbox.Message, error) {
	body, err := event.Marshal(d, ts, userMetadata)
	if err != nil {
		return nil, err
	}
	e, err := event.Parse(body)
	if err != nil {
		return nil, err
	}
	key := event.JobKey(e)
	if key == "" {
		return nil, fmt.Errorf("%s for job %q is not an event that happens once per job", e.Type, e.JobID)
	}
	sum := sha256.Sum256([]byte(key))
	return &inbox.Message{
		ID:          "synth_" + hex.EncodeToString(sum[:16]),
		JobKey:      key,
		Body:        body,
		Synthesized: true,
		ReceivedAt:  receivedAt,
	}, nil
}

// Stats are a reconciler's counters since New.
type Stats struct {
	Leader        bool      // the last pass held the lease
	Passes        uint64    // passes run with the lease
	Skipped       uint64    // passes skipped: another reconciler held the lease
	LastPass      time.Time // when the last pass with the lease started
	Checks        uint64    // looks at due jobs (and unanswered pings)
	Synthesized   uint64    // events put into the inbox for jobs whose delivery never came
	AlreadyStored uint64    // synthesized events the inbox already had (a delivery raced the pass)
	NoEvent       uint64    // jobs that ended without an event to deliver (a failed video)
	Vanished      uint64    // tracked jobs the API no longer knows
	Errors        uint64    // failed steps: reading a job, storing, the lease, listing webhooks
	// DisabledWebhooks is how many registered webhooks the last look found
	// in disabled_due_to_failed_deliveries.
	DisabledWebhooks int
	Pings            uint64 // pings requested to test a disabled webhook's endpoint
	Revived          uint64 // webhooks enabled again after their endpoint answered a ping
	Pruned           uint64 // settled jobs deleted after the retention period
}

type counters struct {
	leader                                              atomic.Bool
	passes, skipped, checks, synthesized, alreadyStored atomic.Uint64
	noEvent, vanished, errors, pings, revived, pruned   atomic.Uint64
	lastPass                                            atomic.Int64
	disabled                                            atomic.Int64
}

// Stats returns the counters.
func (r *Reconciler) Stats() Stats {
	s := &r.stats
	st := Stats{
		Leader: s.leader.Load(), Passes: s.passes.Load(), Skipped: s.skipped.Load(), Checks: s.checks.Load(),
		Synthesized: s.synthesized.Load(), AlreadyStored: s.alreadyStored.Load(), NoEvent: s.noEvent.Load(),
		Vanished: s.vanished.Load(), Errors: s.errors.Load(), DisabledWebhooks: int(s.disabled.Load()),
		Pings: s.pings.Load(), Revived: s.revived.Load(), Pruned: s.pruned.Load(),
	}
	if ns := s.lastPass.Load(); ns != 0 {
		st.LastPass = time.Unix(0, ns).UTC()
	}
	return st
}
