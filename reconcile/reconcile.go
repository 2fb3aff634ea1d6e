package reconcile

import (
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
)

// Defaults for the options.
const (
	DefaultGrace       = 15 * time.Minute
	DefaultInterval    = time.Minute
	DefaultBackoffBase = time.Minute
	DefaultBackoffMax  = time.Hour
	DefaultBatch       = 100
	DefaultPingWait    = 5 * time.Minute
	DefaultRetention   = 48 * time.Hour
)

// pruneEvery is how often a reconciler holding the lease prunes settled jobs.
const pruneEvery = time.Hour

// LeaseName is the tracker lease reconcilers sharing a store take turns on.
const LeaseName = "geminihooks/reconciler"

// Option configures New. Options validate their arguments, so New can fail
// on a bad one.
type Option func(*config) error

type config struct {
	grace     time.Duration
	interval  time.Duration
	base, max time.Duration
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

// WithGrace sets how long after a job ended its event may still arrive
// before the reconciler synthesizes it. The end is the time the API reports
// (a batch's end time, an interaction's last update) or, for a video
// operation, which reports none, when the reconciler first saw it done.
// The default is DefaultGrace.
func WithGrace(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("reconcile: WithGrace(%v): negative", d)
		}
		c.grace = d
		return nil
	}
}

// WithInterval sets how often Run looks for due jobs. The default is
// DefaultInterval.
func WithInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("reconcile: WithInterval(%v): not positive", d)
		}
		c.interval = d
		return nil
	}
}

// WithBackoff sets how long to wait before looking again at a job that is
// still running (or whose state could not be read): base after the first
// look, doubling up to max. The defaults are one minute and one hour.
func WithBackoff(base, max time.Duration) Option {
	return func(c *config) error {
		if base <= 0 || max < base {
			return fmt.Errorf("reconcile: WithBackoff(%v, %v): want 0 < base <= max", base, max)
		}
		c.base, c.max = base, max
		return nil
	}
}

// WithBatch sets how many due jobs one pass looks at. The default is
// DefaultBatch.
func WithBatch(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("reconcile: WithBatch(%d): not positive", n)
		}
		c.batch = n
		return nil
	}
}

// WithOwner names this reconciler in the shared lease (default: random).
func WithOwner(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("reconcile: WithOwner: empty name")
		}
		c.owner = name
		return nil
	}
}

// WithLeaseTTL sets how long a pass holds the lease; another reconciler
// takes over once it lapses without renewal. It must be longer than the
// interval, since each pass renews it. The default is three intervals.
func WithLeaseTTL(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("reconcile: WithLeaseTTL(%v): not positive", d)
		}
		c.leaseTTL = d
		return nil
	}
}

// WithRetention sets how long settled jobs are kept before a pass deletes
// them, when the tracker implements inbox.TrackerPruner. The default is
// DefaultRetention.
func WithRetention(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("reconcile: WithRetention(%v): not positive", d)
		}
		c.retention = d
		return nil
	}
}

// WithWatchWebhooks makes each pass list the registered webhooks and log
// and count those the API disabled after failed deliveries. With revive
// set, it also asks the API to ping each one and, once the ping has reached
// the listener (which settles it in the shared tracker), enables it again.
func WithWatchWebhooks(revive bool) Option {
	return func(c *config) error {
		c.watch, c.revive = true, revive
		return nil
	}
}

// WithPingWait sets how long a revival waits for its ping before it pings
// again. The default is DefaultPingWait.
func WithPingWait(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("reconcile: WithPingWait(%v): not positive", d)
		}
		c.pingWait = d
		return nil
	}
}

// WithClock sets the clock every decision reads. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("reconcile: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithLogger sets the logger. The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("reconcile: WithLogger: nil logger")
		}
		c.log = l
		return nil
	}
}

// Reconciler finds tracked jobs whose event never arrived and puts the
// event they would have carried into the inbox. It is safe for concurrent
// use; reconcilers sharing a store take turns through a lease, so a fleet
// may run one in every replica.
type Reconciler struct {
	config
	client  *geminihooks.Client
	inbox   inbox.Inbox
	tracker inbox.Tracker
	stats   counters

	mu         sync.Mutex // one pass at a time in this process
	lastPruned time.Time  // guarded by mu
}

// New returns a Reconciler that reads job states with c and puts
// synthesized events into ib, which must implement inbox.Tracker (Memory,
// boltinbox and pginbox do). Pass the listener's inbox, and the same one to
// the client's geminihooks.Config.Tracker.
func New(c *geminihooks.Client, ib inbox.Inbox, opts ...Option) (*Reconciler, error) {
	if c == nil {
		return nil, errors.New("reconcile: New: nil client")
	}
	tr, ok := ib.(inbox.Tracker)
	if !ok {
		return nil, fmt.Errorf("reconcile: New: inbox %T does not implement inbox.Tracker", ib)
	}
	cfg := config{
		grace: DefaultGrace, interval: DefaultInterval, base: DefaultBackoffBase, max: DefaultBackoffMax,
		batch: DefaultBatch, pingWait: DefaultPingWait, retention: DefaultRetention, now: time.Now, log: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("reconcile: New: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.owner == "" {
		var b [8]byte
		rand.Read(b[:])
		cfg.owner = "reconciler-" + hex.EncodeToString(b[:])
	}
	if cfg.leaseTTL == 0 {
		cfg.leaseTTL = 3 * cfg.interval
	}
	if cfg.leaseTTL <= cfg.interval {
		return nil, fmt.Errorf("reconcile: New: lease TTL %v is not longer than the interval %v", cfg.leaseTTL, cfg.interval)
	}
	return &Reconciler{config: cfg, client: c, inbox: ib, tracker: tr}, nil
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
			if err := r.tracker.ReleaseLease(rctx, LeaseName, r.owner); err != nil {
				r.log.WarnContext(ctx, "reconcile: releasing the lease failed", "error", err)
			}
			return nil
		case <-t.C:
		}
	}
}

// Reconcile runs one pass: when it holds the lease, it looks at up to the
// batch size of due jobs and, with WithWatchWebhooks, at the registered
// webhooks. Without the lease it does nothing and returns nil.
func (r *Reconciler) Reconcile(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if err := r.tracker.AcquireLease(ctx, LeaseName, r.owner, now, r.leaseTTL); err != nil {
		if errors.Is(err, inbox.ErrLeaseHeld) {
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
	due, err := r.tracker.Due(ctx, now, r.batch)
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
	if p, ok := r.tracker.(inbox.TrackerPruner); ok && now.Sub(r.lastPruned) >= pruneEvery {
		n, err := p.PruneTracked(ctx, now.Add(-r.retention))
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

// backoff is the wait before the next look at a job looked at n times.
func (r *Reconciler) backoff(n int) time.Duration {
	d := r.base
	for i := 0; i < n && d < r.max; i++ {
		d *= 2
	}
	return min(d, r.max)
}

// check looks at one due job.
func (r *Reconciler) check(ctx context.Context, j *inbox.TrackedJob, now time.Time) error {
	r.stats.checks.Add(1)
	if j.Kind == inbox.KindPing {
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
		if rerr := r.tracker.Reschedule(ctx, j.Name, now.Add(r.backoff(j.Checks)), j.EndedAt); rerr != nil {
			return errors.Join(err, rerr)
		}
		return fmt.Errorf("reconcile: job %s: %w", j.Name, err)
	case !st.Done:
		return r.tracker.Reschedule(ctx, j.Name, now.Add(r.backoff(j.Checks)), time.Time{})
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
		return r.tracker.Reschedule(ctx, j.Name, ended.Add(r.grace), ended)
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
		if rerr := r.tracker.Reschedule(ctx, j.Name, now.Add(r.backoff(j.Checks)), ended); rerr != nil {
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
func synthesizeJob(j *inbox.TrackedJob, d event.Data, ended, now time.Time) (*inbox.Message, error) {
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
	if err := r.tracker.Settle(ctx, name, now); err != nil {
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
