package listener

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/geminihooks/geminihooks/inbox"
)

// Defaults for the options below.
const (
	DefaultWorkers        = 8
	DefaultHandlerTimeout = time.Minute
	DefaultMaxAttempts    = 10
	DefaultBackoff        = time.Second
	DefaultMaxBodyBytes   = 1 << 20
	DefaultDedupeWindow   = 48 * time.Hour
	DefaultStoreTimeout   = 2 * time.Second
	DefaultGracePeriod    = 10 * time.Second
	DefaultPollInterval   = time.Second
	DefaultReadTimeout    = 10 * time.Second
	DefaultLeaseMargin    = 30 * time.Second
)

// MinDedupeWindow is the shortest dedupe window WithDedupeWindow accepts:
// Gemini retries for 24 hours, and a retry's timestamp may be up to the
// signature tolerance (5 minutes) off either way, so a webhook-id must be
// remembered at least 24h10m after it was stored.
const MinDedupeWindow = 24*time.Hour + 10*time.Minute

// maxBackoff caps the exponential retry delay.
const maxBackoff = time.Hour

// Option configures a Listener. New panics on an invalid value (see New).
type Option func(*config)

type config struct {
	inbox          inbox.Inbox
	workers        int
	handlerTimeout time.Duration
	maxAttempts    int
	backoff        time.Duration
	maxBody        int64
	window         time.Duration
	storeTimeout   time.Duration
	grace          time.Duration
	poll           time.Duration
	readTimeout    time.Duration
	leaseMargin    time.Duration
	log            *slog.Logger
	now            func() time.Time
	observer       Observer
	errs           []error
}

func (c *config) bad(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// WithInbox sets where deliveries wait between the 2xx and the handler run.
// The default is an [inbox.Memory] of [inbox.DefaultCapacity] messages,
// which loses queued events when the process exits or crashes; pass a
// durable store (inbox/boltinbox, inbox/pginbox) when that matters. The
// Listener does not close the inbox.
func WithInbox(ib inbox.Inbox) Option {
	return func(c *config) {
		if ib == nil {
			c.bad("WithInbox(nil)")
		}
		c.inbox = ib
	}
}

// WithWorkers sets how many handlers run at once (default 8).
func WithWorkers(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.bad("WithWorkers(%d): need at least one worker", n)
		}
		c.workers = n
	}
}

// WithHandlerTimeout bounds one handler run (default one minute). When it
// passes, the handler's context is cancelled; a handler that then returns
// an error is retried. A claim's lease is the timeout plus the lease margin
// (WithLeaseMargin), so a handler that ignores its context past that may run
// twice at once.
func WithHandlerTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.bad("WithHandlerTimeout(%v): must be positive", d)
		}
		c.handlerTimeout = d
	}
}

// WithRetry sets how many times a failing event is handled in all before it
// is dead-lettered, and the delay before the first retry, which doubles with
// each further attempt up to an hour. The default is 10 attempts from one
// second. A zero backoff retries at once. Every claim counts as an attempt,
// so an event claimed more often than that with no outcome recorded (a
// handler that ends the process, at every restart) is dead-lettered
// without running again.
func WithRetry(maxAttempts int, backoff time.Duration) Option {
	return func(c *config) {
		if maxAttempts < 1 || backoff < 0 {
			c.bad("WithRetry(%d, %v): need at least one attempt and a backoff of zero or more", maxAttempts, backoff)
		}
		c.maxAttempts, c.backoff = maxAttempts, backoff
	}
}

// WithLeaseMargin sets what is added to the handler timeout to make a
// claim's lease (default 30 seconds): the time a worker has, after a
// handler's timeout, to record its outcome. The lease is also how long the
// claims of a process that died stay with it: with inbox/pginbox, another
// replica takes a dead replica's events over once their leases end, by
// default 1m30s after they were claimed (a WithHandlerTimeout of one minute
// plus this margin), so shorten both to take over sooner. inbox/boltinbox
// does not wait: a restart releases the dead process's claims at Open. Keep
// the margin above the store timeout.
func WithLeaseMargin(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.bad("WithLeaseMargin(%v): must be positive", d)
		}
		c.leaseMargin = d
	}
}

// WithMaxBodyBytes bounds a delivery's body (default 1 MiB); larger ones
// get 413.
func WithMaxBodyBytes(n int64) Option {
	return func(c *config) {
		if n < 1 {
			c.bad("WithMaxBodyBytes(%d): must be positive", n)
		}
		c.maxBody = n
	}
}

// WithReadTimeout bounds how long reading one delivery's body may take
// (default ten seconds), so a client that trickles its body cannot hold a
// connection and a goroutine open; a body not read in time gets 408. The
// Listener sets the deadline itself through http.ResponseController, unless
// the http.Server's ReadTimeout is already as strict (a deadline set by a
// handler replaces the server's, so the stricter one is kept). Middleware
// that wraps the ResponseWriter must keep that possible with an
// Unwrap() http.ResponseWriter method; when it does not, the Listener logs a
// warning once and bounds the read with a timer instead: the request still
// ends with 408 in time, but the abandoned read keeps the connection until
// the client sends or the server's own timeouts end it. Zero leaves the
// server's own timeouts in charge. Set ReadHeaderTimeout (and ReadTimeout)
// on the http.Server too: headers are read before any handler runs.
func WithReadTimeout(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.bad("WithReadTimeout(%v): must be zero or more", d)
		}
		c.readTimeout = d
	}
}

// WithDedupeWindow sets how long a handled delivery's webhook-id is kept so
// that a late retry is recognised as a duplicate (default 48 hours). Dead
// letters are pruned after the same window. A window under
// [MinDedupeWindow] is refused.
func WithDedupeWindow(d time.Duration) Option {
	return func(c *config) {
		if d < MinDedupeWindow {
			c.bad("WithDedupeWindow(%v): below the minimum %v, since Gemini retries a delivery for 24 hours", d, MinDedupeWindow)
		}
		c.window = d
	}
}

// WithStoreTimeout bounds the inbox write on the request path (default two
// seconds); past it the listener answers 503 so Gemini retries.
func WithStoreTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.bad("WithStoreTimeout(%v): must be positive", d)
		}
		c.storeTimeout = d
	}
}

// WithGracePeriod sets how long Run waits, once its context ends, for
// in-flight handlers to finish before it cancels their contexts (default
// ten seconds).
func WithGracePeriod(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.bad("WithGracePeriod(%v): must not be negative", d)
		}
		c.grace = d
	}
}

// WithPollInterval sets how often idle workers look for claimable messages
// that no signal announced: retries that came due, expired leases, and,
// with a shared inbox that is not an [inbox.Notifier], deliveries stored by
// other processes (default one second).
func WithPollInterval(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.bad("WithPollInterval(%v): must be positive", d)
		}
		c.poll = d
	}
}

// WithLogger sets the logger; the default discards. Records carry the
// webhook-id, type and job ID, never secrets, signatures or user metadata.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithClock sets the clock for ReceivedAt, retry times and pruning, and for
// the default in-memory inbox. Pass the same clock to the signing
// verifier in tests that move time.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}
