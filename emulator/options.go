package emulator

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/geminihooks/geminihooks/signing"
)

// Option configures a Server. Options validate their arguments and NewServer
// returns the first error.
type Option func(*config) error

type config struct {
	addr              string
	apiKey            string
	clock             func() time.Time
	logger            *slog.Logger
	httpClient        *http.Client
	allowHTTPLoopback bool
	timeScale         float64 // compression factor: schedules are divided by it
	pending, running  time.Duration
	manual            bool
	outcome           func(Job) Outcome
	dynamicScheme     signing.Scheme
	failureThreshold  int
	retryWindow       time.Duration
	backoffBase       time.Duration
	backoffMax        time.Duration
	attemptTimeout    time.Duration
	faults            Faults
}

func defaultConfig() config {
	return config{
		addr:             "127.0.0.1:0",
		clock:            time.Now,
		logger:           slog.New(slog.DiscardHandler),
		timeScale:        1,
		pending:          200 * time.Millisecond,
		running:          800 * time.Millisecond,
		dynamicScheme:    signing.SchemeEd25519,
		failureThreshold: 20,
	}
}

// WithAddr sets the listen address, for example "127.0.0.1:8686" for a
// standalone emulator. The default, "127.0.0.1:0", picks a free port.
func WithAddr(addr string) Option {
	return func(c *config) error {
		if addr == "" {
			return errors.New("emulator: empty listen address")
		}
		c.addr = addr
		return nil
	}
}

// WithAPIKey fixes the API key every call must send in x-goog-api-key. By
// default the server makes up a random one, exposed as Server.APIKey.
func WithAPIKey(key string) Option {
	return func(c *config) error {
		if key == "" {
			return errors.New("emulator: empty API key")
		}
		c.apiKey = key
		return nil
	}
}

// WithClock sets the clock used for resource timestamps, event timestamps,
// webhook-timestamp headers, the retry window's deadline and secret expiry.
// Timers (job steps, retry backoff) still run on real time, scaled by
// WithTimeScale; a clock that stands still therefore never closes the retry
// window.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("emulator: nil clock")
		}
		c.clock = now
		return nil
	}
}

// WithLogger sets the logger. The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("emulator: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithHTTPClient sets the client deliveries are sent with, for example one
// that trusts an httptest TLS server. It should not follow redirects.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("emulator: nil HTTP client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithAllowHTTPLoopback lets webhooks and webhook_config URIs use plain http
// when the host is a loopback address (127.0.0.0/8, ::1 or localhost), for
// local work. The real service accepts only https.
func WithAllowHTTPLoopback() Option {
	return func(c *config) error {
		c.allowHTTPLoopback = true
		return nil
	}
}

// WithTimeScale compresses every schedule by factor: job durations and the
// delivery engine's backoff and retry window are divided by it (attempt
// timeouts and fault delays are not). A factor of 3600 runs the 24-hour retry
// window in 24 seconds. The default is 1.
func WithTimeScale(factor float64) Option {
	return func(c *config) error {
		if !(factor > 0) || math.IsInf(factor, 0) {
			return fmt.Errorf("emulator: time scale must be a positive finite factor, got %v", factor)
		}
		c.timeScale = factor
		return nil
	}
}

// WithJobDurations sets how long a job stays pending and then running before
// it reaches its outcome (before time scaling). Zero makes a step immediate.
// The defaults are 200ms and 800ms.
func WithJobDurations(pending, running time.Duration) Option {
	return func(c *config) error {
		if pending < 0 || running < 0 {
			return errors.New("emulator: negative job duration")
		}
		c.pending, c.running = pending, running
		return nil
	}
}

// WithManualJobs keeps every job running until Server.Finish moves it on, or
// a client cancels it.
func WithManualJobs() Option {
	return func(c *config) error {
		c.manual = true
		return nil
	}
}

// WithOutcome chooses each job's outcome when it is created, from a snapshot
// of the new job. It runs on the request's goroutine, possibly concurrently
// with itself. Returning "" keeps the default (OutcomeSucceeded), and so does
// an outcome the job's kind cannot have (logged). A create request's
// x-emulator-outcome header, when present, takes precedence.
func WithOutcome(choose func(Job) Outcome) Option {
	return func(c *config) error {
		if choose == nil {
			return errors.New("emulator: nil outcome chooser")
		}
		c.outcome = choose
		return nil
	}
}

// WithDynamicSigning selects how deliveries to webhook_config URIs are signed:
// signing.SchemeEd25519 ("v1a", the default, as observed on live deliveries)
// or signing.SchemeJWT (an RS256 JWT, as documented). A create request's
// x-emulator-signing header (SigningHeader) overrides it for that job.
func WithDynamicSigning(s signing.Scheme) Option {
	return func(c *config) error {
		if s != signing.SchemeEd25519 && s != signing.SchemeJWT {
			return fmt.Errorf("emulator: dynamic signing scheme must be v1a or jwt, got %q", s)
		}
		c.dynamicScheme = s
		return nil
	}
}

// WithFailureThreshold sets how many consecutive failed delivery attempts
// (retries included) move a registered webhook to
// disabled_due_to_failed_deliveries, which also drops its pending deliveries.
// The default is 20, about 14 hours of retries on the default schedule.
func WithFailureThreshold(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("emulator: failure threshold must be at least 1, got %d", n)
		}
		c.failureThreshold = n
		return nil
	}
}

// WithRetryWindow sets how long a delivery is retried (before time scaling).
// The default is 24 hours.
func WithRetryWindow(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("emulator: retry window must be positive")
		}
		c.retryWindow = d
		return nil
	}
}

// WithRetryBackoff sets the first retry delay and the cap on later ones
// (before time scaling and jitter).
func WithRetryBackoff(base, max time.Duration) Option {
	return func(c *config) error {
		if base <= 0 || max < base {
			return errors.New("emulator: retry backoff needs 0 < base <= max")
		}
		c.backoffBase, c.backoffMax = base, max
		return nil
	}
}

// WithAttemptTimeout bounds each delivery attempt.
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("emulator: attempt timeout must be positive")
		}
		c.attemptTimeout = d
		return nil
	}
}

// WithFaults starts the server with delivery faults injected; see
// Server.SetFaults to change them later.
func WithFaults(f Faults) Option {
	return func(c *config) error {
		if err := f.validate(); err != nil {
			return err
		}
		c.faults = f
		return nil
	}
}
