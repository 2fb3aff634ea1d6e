package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/geminihooks/geminihooks/emulator"
	"github.com/geminihooks/geminihooks/signing"
)

func emulatorCommand() *command {
	c := &command{
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
	}
	c.run = func(ctx context.Context, e *env, args []string) int {
		if len(args) > 0 && args[0] == "jobs" {
			return emulatorJobsCommand().run(ctx, e, args[1:])
		}
		fs := c.newFlagSet()
		addr := fs.String("addr", "127.0.0.1:8686", "listen `address`; port 0 picks a free one")
		apiKey := fs.String("api-key", "", "API `key` to require (default: a random one, printed at start)")
		httpsOnly := fs.Bool("https-only", false, "reject http:// webhook URIs even on loopback, as the real service does")
		timeScale := fs.Float64("time-scale", 1, "compress job durations and the retry schedule by this `factor` (3600 runs 24h of retries in 24s)")
		pending := fs.Duration("pending", 200*time.Millisecond, "how long a job stays pending")
		running := fs.Duration("running", 800*time.Millisecond, "how long a job runs before its outcome")
		dynamic := fs.String("dynamic-signing", "v1a", "`SCHEME` per-request callbacks are signed with: v1a (Ed25519) or jwt (RS256)")
		threshold := fs.Int("failure-threshold", 20, "consecutive failed attempts that disable a registered webhook")
		retryWindow := fs.Duration("retry-window", 24*time.Hour, "how long a delivery is retried")
		dupRate := fs.Float64("duplicate-rate", 0, "fault: probability in [0,1] of sending a delivery twice")
		delay := fs.Duration("delay", 0, "fault: hold every attempt this long")
		reorder := fs.Int("reorder", 0, "fault: shuffle deliveries in groups of `N` (2 or more)")
		failFirst := fs.Int("fail-first", 0, "fault: fail the first `N` attempts of every delivery with a 503")
		failNext := fs.Int("fail-next", 0, "fault: fail the next `N` attempts overall with a 503, once (on top of --fail-first)")
		cut := fs.Int("cut-connection", 0, "fault: cut the connection mid-body on the next `N` attempts of every delivery")
		verbose := fs.Bool("v", false, "log API calls and delivery attempts to stderr")
		pos, code, stop := c.parse(e, fs, args)
		if stop {
			return code
		}
		if len(pos) > 0 {
			return c.usageError(e, "unexpected argument %q", printable(pos[0]))
		}
		// The emulator validates these too; checking here makes a bad flag
		// a usage error (exit 2) rather than a failure to start.
		switch {
		case !(*timeScale > 0):
			return c.usageError(e, "--time-scale must be positive")
		case *pending < 0 || *running < 0 || *delay < 0:
			return c.usageError(e, "--pending, --running and --delay must not be negative")
		case *threshold < 1:
			return c.usageError(e, "--failure-threshold must be at least 1")
		case *retryWindow <= 0:
			return c.usageError(e, "--retry-window must be positive")
		case !(*dupRate >= 0 && *dupRate <= 1):
			return c.usageError(e, "--duplicate-rate must be between 0 and 1")
		case *reorder < 0 || *failFirst < 0 || *failNext < 0 || *cut < 0:
			return c.usageError(e, "--reorder, --fail-first, --fail-next and --cut-connection must not be negative")
		case *dynamic != "v1a" && *dynamic != "jwt":
			return c.usageError(e, "--dynamic-signing must be v1a or jwt")
		}
		cfg := &emulator.Config{
			Addr:                      *addr,
			APIKey:                    *apiKey,
			InsecureAllowHTTPLoopback: !*httpsOnly,
			TimeScale:                 *timeScale,
			Pending:                   *pending,
			Running:                   *running,
			FailureThreshold:          *threshold,
			RetryWindow:               *retryWindow,
			DynamicSigning:            signing.Scheme(*dynamic),
			Faults: emulator.Faults{
				DuplicateRate: *dupRate,
				Delay:         *delay,
				Reorder:       *reorder,
				FailFirst:     *failFirst,
				FailNext:      *failNext,
				CutConnection: *cut,
			},
		}
		if *verbose {
			cfg.Logger = e.logger(slog.LevelInfo)
		}
		srv, err := emulator.NewServer(cfg)
		if err != nil {
			return c.fail(e, err)
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
		return exitOK
	}
	return c
}
