package delivery

import (
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"
)

// Defaults for the zero values of Options.
const (
	DefaultRetryWindow    = 24 * time.Hour
	DefaultBackoffBase    = 5 * time.Second
	DefaultBackoffMax     = time.Hour
	DefaultAttemptTimeout = 10 * time.Second
	DefaultWorkers        = 32
	DefaultLogLimit       = 10_000

	// JitterFraction is how far a retry delay may stray from its exponential
	// value, either way: 0.2 spreads a 10s delay over [8s, 12s].
	JitterFraction = 0.2
)

// Clock is the engine's source of time. Every schedule decision (timestamps,
// backoff timers, the retry window, the delay and reorder faults) goes
// through it, so tests can substitute a fake clock and assert the schedule
// without sleeping through it. Only AttemptTimeout runs on real time: it
// bounds real network I/O. The engine calls both methods with its lock held,
// so they must not call back into the engine.
type Clock interface {
	Now() time.Time
	// AfterFunc arranges for f to be called, in another goroutine or later
	// from the caller's (as a fake clock's Advance does), once d has elapsed,
	// unless the returned Timer is stopped first. It must not call f before
	// it returns.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call. *time.Timer satisfies it.
type Timer interface {
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Options configure an Engine. The zero value of every field selects its
// default.
type Options struct {
	// Client sends the POSTs. The default client has its own transport (no
	// proxy, idle connections sized to Workers) and does not follow redirects,
	// so a 3xx counts as a failed attempt, as it would for a webhook sender.
	// A Client given here is used as is; for https endpoints, the CutConnection
	// fault dials with its *http.Transport's dialer and TLS settings.
	Client *http.Client
	// Clock defaults to the system clock.
	Clock Clock
	// TimeScale multiplies every backoff delay and the retry window: 1e-4
	// turns the 24h window into about 8.6s. It does not scale AttemptTimeout
	// or the faults' durations, which stay as given. Zero or less means 1.
	TimeScale float64
	// RetryWindow bounds retries: no attempt starts later than RetryWindow
	// (scaled) after Enqueue. Default 24h, like Gemini.
	RetryWindow time.Duration
	// BackoffBase is the delay after the first failed attempt; each further
	// failure doubles it, up to BackoffMax, and jitter of ±JitterFraction
	// applies on top. Defaults 5s and 1h.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// AttemptTimeout bounds one attempt, from dialing to the end of the
	// answer, on real time: it bounds real network I/O. Default 10s. Not
	// scaled.
	AttemptTimeout time.Duration
	// Workers bounds how many attempts are in flight at once. Default 32.
	Workers int
	// Rand drives the jitter, the duplicate rate and the reorder shuffle.
	// Seed it for deterministic tests. The engine owns it after New: do not
	// use it elsewhere. Default: randomly seeded.
	Rand *rand.Rand
	// OnOutcome, if set, is called after every attempt of a delivery whose
	// WebhookID is set (static webhooks), with ok reporting a 2xx answer, so
	// the emulator can count consecutive failures. It runs on a worker
	// goroutine with no engine lock held, before any retry is scheduled, so
	// the calls for one delivery arrive in attempt order. Not reported:
	// injected duplicate copies, attempts interrupted by Close, and failures
	// of Delivery.Sign (the emulator's fault, not the endpoint's).
	OnOutcome func(webhookID string, ok bool)
	// Logger receives one debug line per attempt and a warning per give-up.
	// Signatures and bodies are never logged. Default: discard.
	Logger *slog.Logger
	// LogLimit caps the attempt log; the oldest attempts are dropped first.
	// Default 10,000.
	LogLimit int
}
