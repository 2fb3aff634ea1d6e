package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/signing"
)

func emulatorCommand() *command {
	return &command{
		name:    "emulator",
		summary: "run a local Gemini API that registers webhooks, runs jobs and delivers signed events",
		usage:   "geminihooks emulator [--addr HOST:PORT] [flags]\n  geminihooks emulator jobs batch|video|interaction [flags]",
		help: `Runs the emulator: a local stand-in for the parts of the Gemini API that
webhooks touch (WebhookService, batches, video generation, interactions and
the JWKS), delivering signed events like the real service. It prints its
URL, API key and JWKS URL, then runs until interrupted (Ctrl-C).

Point genai at it with HTTPOptions.BaseURL, or the CLI with
'geminihooks webhooks --base-url URL'. Every call needs the printed API
key in x-goog-api-key. Delivery attempts are listed at
URL/emulator/v1/deliveries.

Unlike the real service it accepts http:// webhook URIs on loopback, for
local listeners; --https-only turns that off.

'geminihooks emulator jobs KIND' starts a batch, video or interaction on a
running emulator, which delivers its events when it ends; see its --help.`,
		example: `geminihooks emulator --addr 127.0.0.1:8686 --api-key dev-key
# in another terminal:
GEMINI_API_KEY=dev-key geminihooks webhooks --base-url http://127.0.0.1:8686 list
GEMINI_API_KEY=dev-key geminihooks emulator jobs batch --outcome failed`,
		runner: func() runner { return &emulatorCmd{} },
		group: func() *group {
			return &group{shared: noShared{}, subs: []*command{emulatorJobsCommand()}}
		},
	}
}

// emulatorCmd is `geminihooks emulator`.
type emulatorCmd struct {
	addr, apiKey, dynamic                   string
	httpsOnly, verbose                      bool
	timeScale, dupRate                      float64
	pending, running, retryWindow, delay    time.Duration
	threshold, reorder, failFirst, failNext int
	cut                                     int
}

func (c *emulatorCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8686", "listen `address`; port 0 picks a free one")
	fs.StringVar(&c.apiKey, "api-key", "", "API `key` to require (default: a random one, printed at start)")
	fs.BoolVar(&c.httpsOnly, "https-only", false, "reject http:// webhook URIs even on loopback, as the real service does")
	fs.Float64Var(&c.timeScale, "time-scale", 1, "compress job durations and the retry schedule by this `factor` (3600 runs 24h of retries in 24s)")
	fs.DurationVar(&c.pending, "pending", 200*time.Millisecond, "how long a job stays pending")
	fs.DurationVar(&c.running, "running", 800*time.Millisecond, "how long a job runs before its outcome")
	fs.StringVar(&c.dynamic, "dynamic-signing", "v1a", "`SCHEME` per-request callbacks are signed with: v1a (Ed25519) or jwt (RS256)")
	fs.IntVar(&c.threshold, "failure-threshold", 20, "consecutive failed attempts that disable a registered webhook")
	fs.DurationVar(&c.retryWindow, "retry-window", 24*time.Hour, "how long a delivery is retried")
	fs.Float64Var(&c.dupRate, "duplicate-rate", 0, "fault: probability in [0,1] of sending a delivery twice")
	fs.DurationVar(&c.delay, "delay", 0, "fault: hold every attempt this long")
	fs.IntVar(&c.reorder, "reorder", 0, "fault: shuffle deliveries in groups of `N` (2 or more)")
	fs.IntVar(&c.failFirst, "fail-first", 0, "fault: fail the first `N` attempts of every delivery with a 503")
	fs.IntVar(&c.failNext, "fail-next", 0, "fault: fail the next `N` attempts overall with a 503, once (on top of --fail-first)")
	fs.IntVar(&c.cut, "cut-connection", 0, "fault: cut the connection mid-body on the next `N` attempts of every delivery")
	fs.BoolVar(&c.verbose, "v", false, "log API calls and delivery attempts to stderr")
}

// validate checks what the emulator checks too, so that a bad flag is a
// usage error (exit 2) rather than a failure to start.
func (c *emulatorCmd) validate(_ *env, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	switch {
	case !(c.timeScale > 0):
		return usagef("--time-scale must be positive")
	case c.pending < 0 || c.running < 0 || c.delay < 0:
		return usagef("--pending, --running and --delay must not be negative")
	case c.threshold < 1:
		return usagef("--failure-threshold must be at least 1")
	case c.retryWindow <= 0:
		return usagef("--retry-window must be positive")
	case !(c.dupRate >= 0 && c.dupRate <= 1):
		return usagef("--duplicate-rate must be between 0 and 1")
	case c.reorder < 0 || c.failFirst < 0 || c.failNext < 0 || c.cut < 0:
		return usagef("--reorder, --fail-first, --fail-next and --cut-connection must not be negative")
	case c.dynamic != "v1a" && c.dynamic != "jwt":
		return usagef("--dynamic-signing must be v1a or jwt")
	}
	return nil
}

func (c *emulatorCmd) config(e *env) *emulator.Config {
	cfg := &emulator.Config{
		Addr:                      c.addr,
		APIKey:                    c.apiKey,
		InsecureAllowHTTPLoopback: !c.httpsOnly,
		TimeScale:                 c.timeScale,
		Pending:                   c.pending,
		Running:                   c.running,
		FailureThreshold:          c.threshold,
		RetryWindow:               c.retryWindow,
		DynamicSigning:            signing.Scheme(c.dynamic),
		Faults: emulator.Faults{
			DuplicateRate: c.dupRate,
			Delay:         c.delay,
			Reorder:       c.reorder,
			FailFirst:     c.failFirst,
			FailNext:      c.failNext,
			CutConnection: c.cut,
		},
	}
	if c.verbose {
		cfg.Logger = e.logger(slog.LevelInfo)
	}
	return cfg
}

// run serves until ctx is done (Ctrl-C).
func (c *emulatorCmd) run(ctx context.Context, e *env) error {
	srv, err := emulator.NewServer(c.config(e))
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(e.stdout, "emulator listening on %s\n", srv.URL)
	fmt.Fprintf(e.stdout, "  API key:    %s\n", srv.APIKey)
	fmt.Fprintf(e.stdout, "  JWKS:       %s\n", srv.JWKSURL())
	fmt.Fprintf(e.stdout, "  deliveries: %s/emulator/v1/deliveries\n", srv.URL)
	fmt.Fprintf(e.stdout, "Try: GEMINI_API_KEY=%s geminihooks webhooks --base-url %s list\n", srv.APIKey, srv.URL)
	fmt.Fprintln(e.stdout, "Press Ctrl-C to stop.")
	<-ctx.Done()
	e.status("emulator: stopping")
	return nil
}
