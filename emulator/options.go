package emulator

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/geminihooks/geminihooks/emulator/internal/delivery"
	"github.com/geminihooks/geminihooks/signing"
)

// Config configures NewServer. A nil *Config means every default, and the
// zero value of each field selects its default.
type Config struct {
	// Addr is the listen address, for example "127.0.0.1:8686" for a
	// standalone emulator. Default: "127.0.0.1:0", a free port on
	// loopback.
	Addr string
	// APIKey is the key every call must send in x-goog-api-key. Default: a
	// random one, in Server.APIKey.
	APIKey string
	// Now is the clock of resource timestamps, event timestamps,
	// webhook-timestamp headers, the retry window's deadline and secret
	// expiry. Timers (job steps, retry backoff) still run on real time,
	// scaled by TimeScale; a clock that stands still therefore never closes
	// the retry window. Default: nil, time.Now.
	Now func() time.Time
	// Logger receives the server's log. Default: nil, discard.
	Logger *slog.Logger
	// HTTPClient sends deliveries, for example one that trusts an httptest
	// TLS server. It should not follow redirects. Default: a client of the
	// emulator's own that does not follow them.
	HTTPClient *http.Client
	// InsecureAllowHTTPLoopback lets webhooks and webhook_config URIs use
	// plain http when the host is a loopback address (127.0.0.0/8, ::1 or
	// localhost), for local work. The real service accepts only https.
	// Default: false.
	InsecureAllowHTTPLoopback bool
	// TimeScale compresses every schedule by its factor: job durations and
	// the delivery engine's backoff and retry window are divided by it
	// (attempt timeouts and fault delays are not). 3600 runs the 24-hour
	// retry window in 24 seconds. It must be finite and not negative.
	// Default: 1.
	TimeScale float64
	// Pending and Running are how long a job stays pending and then
	// running before it reaches its outcome (before TimeScale). Default:
	// 0, each step at once (though still after the create call returns).
	Pending, Running time.Duration
	// ManualJobs keeps every job running until Server.Finish moves it on,
	// or a client cancels it. Default: false, jobs finish on their own.
	ManualJobs bool
	// Outcome chooses each job's outcome when it is created, from a
	// snapshot of the new job. It runs on the request's goroutine,
	// possibly concurrently with itself. Returning "" keeps the default
	// ("succeeded"), and so does an outcome the job's kind cannot have
	// (logged). A create request's x-emulator-outcome header (OutcomeHeader)
	// takes precedence. Default: nil, every job succeeds.
	Outcome func(Job) Outcome
	// DynamicSigning is how deliveries to webhook_config URIs are signed:
	// signing.SchemeEd25519 ("v1a", as observed on live deliveries) or
	// signing.SchemeJWT (an RS256 JWT, as documented). A create request's
	// x-emulator-signing header (SigningHeader) overrides it for that job.
	// Default: signing.SchemeEd25519.
	DynamicSigning signing.Scheme
	// FailureThreshold is how many consecutive failed delivery attempts
	// (retries included) move a registered webhook to
	// disabled_due_to_failed_deliveries, which also drops its pending
	// deliveries. Default: 20, about 14 hours of retries on the default
	// schedule.
	FailureThreshold int
	// RetryWindow is how long a delivery is retried (before TimeScale).
	// Default: 24 hours.
	RetryWindow time.Duration
	// RetryBackoff is the delay after a delivery's first failed attempt,
	// doubled after each further failure up to RetryBackoffMax (before
	// TimeScale and ±20% jitter). Defaults: 5 seconds and 1 hour.
	RetryBackoff, RetryBackoffMax time.Duration
	// AttemptTimeout bounds each delivery attempt. Default: 10 seconds.
	AttemptTimeout time.Duration
	// Faults are delivery faults injected from the start; Server.SetFaults
	// changes them later. Default: none.
	Faults Faults
}

// Defaults of the Config fields that the delivery engine does not default
// itself.
const (
	defaultAddr             = "127.0.0.1:0"
	defaultFailureThreshold = 20
)

// withDefaults returns c with its defaults applied, or an error naming the
// first invalid field.
func (c Config) withDefaults() (Config, error) {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Pending", c.Pending}, {"Running", c.Running}, {"RetryWindow", c.RetryWindow},
		{"RetryBackoff", c.RetryBackoff}, {"RetryBackoffMax", c.RetryBackoffMax}, {"AttemptTimeout", c.AttemptTimeout},
	} {
		if d.v < 0 {
			return c, fmt.Errorf("emulator: Config.%s is %v, need 0 (the default) or more", d.name, d.v)
		}
	}
	switch {
	case math.IsNaN(c.TimeScale) || math.IsInf(c.TimeScale, 0) || c.TimeScale < 0:
		return c, fmt.Errorf("emulator: Config.TimeScale is %v, need a positive finite factor (0: 1)", c.TimeScale)
	case c.TimeScale == 0:
		c.TimeScale = 1
	}
	b, m := c.RetryBackoff, c.RetryBackoffMax
	if b == 0 {
		b = delivery.DefaultBackoffBase
	}
	if m == 0 {
		m = delivery.DefaultBackoffMax
	}
	if m < b {
		return c, fmt.Errorf("emulator: Config.RetryBackoffMax is %v, need at least RetryBackoff (%v)", m, b)
	}
	switch {
	case c.FailureThreshold < 0:
		return c, fmt.Errorf("emulator: Config.FailureThreshold is %d, need at least 1", c.FailureThreshold)
	case c.FailureThreshold == 0:
		c.FailureThreshold = defaultFailureThreshold
	}
	switch c.DynamicSigning {
	case "":
		c.DynamicSigning = signing.SchemeEd25519
	case signing.SchemeEd25519, signing.SchemeJWT:
	default:
		return c, fmt.Errorf("emulator: Config.DynamicSigning is %q, need v1a or jwt", c.DynamicSigning)
	}
	if err := c.Faults.validate(); err != nil {
		return c, fmt.Errorf("emulator: Config.Faults: %w", err)
	}
	if c.Addr == "" {
		c.Addr = defaultAddr
	}
	if c.APIKey == "" {
		c.APIKey = "emu-" + randomString(32)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
