package listener

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/ledger"
)

// The defaults of Config's fields.
const (
	defaultWorkers        = 8
	defaultHandlerTimeout = time.Minute
	defaultMaxAttempts    = 10
	defaultBackoff        = time.Second
	defaultMaxBodyBytes   = 1 << 20
	defaultDedupeWindow   = 48 * time.Hour
	defaultStoreTimeout   = 2 * time.Second
	defaultGracePeriod    = 10 * time.Second
	defaultPollInterval   = time.Second
	defaultReadTimeout    = 10 * time.Second
	defaultLeaseMargin    = 30 * time.Second
)

// minDedupeWindow is the shortest dedupe window New accepts: Gemini retries
// for 24 hours, and a retry's timestamp may be up to the signature
// tolerance (5 minutes) off either way, so a webhook-id must be remembered
// at least 24h10m after it was stored.
const minDedupeWindow = 24*time.Hour + 10*time.Minute

// maxBackoff caps the default exponential retry delay.
const maxBackoff = time.Hour

// Config configures a Listener. A nil *Config gives every default; New
// copies it, so later changes have no effect. A value out of range makes
// New fail with an error naming the field.
type Config struct {
	// Inbox is where deliveries wait between the 2xx and the handler run.
	// Default nil: an in-memory inbox of 10,000 messages (inbox.NewMemory),
	// which loses queued events when the process exits or crashes; pass a
	// durable store (inbox/boltinbox, inbox/pginbox) when that matters. The
	// Listener prunes it (see DedupeWindow) but does not close it.
	Inbox inbox.Inbox
	// Ledger is told, when a worker claims an event, that the job its
	// data.id names has its event (Settle), so a reconciler stops looking
	// for it. Pass the ledger kept beside the inbox (the
	// Ledger of a boltinbox or pginbox DB). Default nil: nothing is settled.
	Ledger ledger.Ledger
	// Observer is told about every answered request and every handler run
	// (for metrics and consoles); Observers feeds several. Default nil:
	// none, and the hook costs one nil check.
	Observer Observer

	// Workers is how many handlers run at once. Default 8.
	Workers int
	// HandlerTimeout bounds one handler run. When it passes, the handler's
	// context is cancelled; a handler that then returns an error is
	// retried. A claim's lease is the timeout plus LeaseMargin, so a handler
	// that ignores its context past that may run twice at once. Default one
	// minute.
	HandlerTimeout time.Duration
	// MaxAttempts is how many times a failing event is handled in all
	// before it is dead-lettered. Every claim counts as an attempt, so an
	// event claimed more often than that with no outcome recorded (a
	// handler that ends the process, at every restart) is dead-lettered
	// without running again. Default 10.
	MaxAttempts int
	// Backoff gives the delay before the retry that follows a failed
	// attempt (1 for the first run); a delay of zero or less retries at
	// once. Default nil: one second, doubling with each attempt, at most an
	// hour.
	Backoff func(attempt int) time.Duration
	// LeaseMargin is what is added to HandlerTimeout to make a claim's
	// lease: the time a worker has, after a handler's timeout, to record
	// its outcome. The lease is also how long the claims of a process that
	// died stay with it: with inbox/pginbox, another replica takes a dead
	// replica's events over once their leases end, by default 1m30s after
	// they were claimed, so shorten both to take over sooner.
	// inbox/boltinbox does not wait: a restart releases the dead process's
	// claims when it opens the file. Keep it above StoreTimeout. Default 30
	// seconds.
	LeaseMargin time.Duration
	// MaxBodyBytes bounds a delivery's body; larger ones get 413. Default
	// 1 MiB.
	MaxBodyBytes int64
	// ReadTimeout bounds how long reading one delivery's body may take, so
	// a client that trickles its body cannot hold a connection and a
	// goroutine open; a body not read in time gets 408. The Listener sets
	// the deadline itself through http.ResponseController, unless the
	// http.Server's ReadTimeout is already as strict (a deadline set by a
	// handler replaces the server's, so the stricter one is kept).
	// Middleware that wraps the ResponseWriter must keep that possible with
	// an Unwrap() http.ResponseWriter method; when it does not, the
	// Listener logs a warning once and bounds the read with a timer
	// instead: the request still ends with 408 in time, but the abandoned
	// read keeps the connection until the client sends or the server's own
	// timeouts end it. Set ReadHeaderTimeout (and ReadTimeout) on the
	// http.Server too: headers are read before any handler runs. Default
	// ten seconds.
	ReadTimeout time.Duration
	// DedupeWindow is how long a handled delivery's webhook-id is kept so
	// that a late retry is recognised as a duplicate; dead letters are
	// pruned after the same window. Gemini retries a delivery for 24 hours,
	// so it must be at least 24h10m (the retry horizon plus the signature
	// tolerance either way). Default 48 hours.
	DedupeWindow time.Duration
	// StoreTimeout bounds the inbox write on the request path; past it the
	// listener answers 503 so Gemini retries. It bounds the workers' inbox
	// calls too. Default two seconds.
	StoreTimeout time.Duration
	// GracePeriod is how long Run waits, once its context ends, for
	// in-flight handlers to finish before it cancels their contexts; Serve
	// gives in-flight requests as long to be answered. Default ten seconds.
	GracePeriod time.Duration
	// PollInterval is how often idle workers look for claimable messages
	// that no signal announced: retries that came due, expired leases, and
	// deliveries stored by other processes when the inbox's Notify cannot
	// tell. Default one second.
	PollInterval time.Duration

	// Logger receives rejected deliveries (at warn level), dead letters and
	// store failures (at error level) and, at debug level, every delivery
	// and handler run. Records carry the webhook-id, type and job ID, never
	// secrets, signatures or user metadata. Default nil: discard.
	Logger *slog.Logger
	// Now is the clock for ReceivedAt, retry times, settle times and
	// pruning, and for the default in-memory inbox. Pass the same clock to
	// the signing verifier in tests that move time. Default nil: time.Now.
	Now func() time.Time
}

// config is a Config with its defaults filled in.
type config struct {
	inbox          inbox.Inbox
	ledger         ledger.Ledger
	observer       Observer
	workers        int
	handlerTimeout time.Duration
	maxAttempts    int
	backoff        func(attempt int) time.Duration
	maxBody        int64
	window         time.Duration
	storeTimeout   time.Duration
	grace          time.Duration
	poll           time.Duration
	readTimeout    time.Duration
	leaseMargin    time.Duration
	log            *slog.Logger
	now            func() time.Time
}

// newConfig checks c and fills in the defaults. It does not make the
// default inbox: New does, once it knows the config is good.
func newConfig(c *Config) (config, error) {
	var in Config
	if c != nil {
		in = *c
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"Workers", int64(in.Workers)}, {"MaxAttempts", int64(in.MaxAttempts)}, {"MaxBodyBytes", in.MaxBodyBytes}} {
		if f.v < 0 {
			return config{}, fmt.Errorf("listener: Config.%s is %d, need at least 1", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"HandlerTimeout", in.HandlerTimeout}, {"LeaseMargin", in.LeaseMargin}, {"ReadTimeout", in.ReadTimeout},
		{"StoreTimeout", in.StoreTimeout}, {"GracePeriod", in.GracePeriod}, {"PollInterval", in.PollInterval},
	} {
		if f.v < 0 {
			return config{}, fmt.Errorf("listener: Config.%s is %v, need a positive duration", f.name, f.v)
		}
	}
	if in.DedupeWindow != 0 && in.DedupeWindow < minDedupeWindow {
		return config{}, fmt.Errorf("listener: Config.DedupeWindow is %v, need at least %v, since Gemini retries a delivery for 24 hours", in.DedupeWindow, minDedupeWindow)
	}
	cfg := config{
		inbox:          in.Inbox,
		ledger:         in.Ledger,
		observer:       in.Observer,
		workers:        cmp.Or(in.Workers, defaultWorkers),
		handlerTimeout: cmp.Or(in.HandlerTimeout, defaultHandlerTimeout),
		maxAttempts:    cmp.Or(in.MaxAttempts, defaultMaxAttempts),
		backoff:        in.Backoff,
		maxBody:        cmp.Or(in.MaxBodyBytes, defaultMaxBodyBytes),
		window:         cmp.Or(in.DedupeWindow, defaultDedupeWindow),
		storeTimeout:   cmp.Or(in.StoreTimeout, defaultStoreTimeout),
		grace:          cmp.Or(in.GracePeriod, defaultGracePeriod),
		poll:           cmp.Or(in.PollInterval, defaultPollInterval),
		readTimeout:    cmp.Or(in.ReadTimeout, defaultReadTimeout),
		leaseMargin:    cmp.Or(in.LeaseMargin, defaultLeaseMargin),
		log:            in.Logger,
		now:            in.Now,
	}
	if cfg.backoff == nil {
		cfg.backoff = doubling
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	return cfg, nil
}

// doubling is the default Backoff: one second, doubling with each attempt,
// capped at maxBackoff.
func doubling(attempt int) time.Duration {
	d := defaultBackoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}
