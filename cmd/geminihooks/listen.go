package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

const defaultInboxFile = "geminihooks-inbox.db"

func listenCommand() *command {
	c := &command{
		name:    "listen",
		summary: "receive webhooks: verify, dedupe, store, then print or forward each event",
		usage:   "geminihooks listen [--addr HOST:PORT] [--path PATH] [--secret SECRET]... [flags]",
		help: `Runs a webhook receiver at http://ADDR/PATH. Each delivery is verified (v1
HMAC with --secret; v1a and JWT with the JWKS at --jwks-url), deduplicated
on its webhook-id, and stored in the inbox before the 2xx. Then each event
is printed once, and with --forward-to passed on to a local app with its
original body and headers, retried with backoff until the app answers 2xx.

The inbox is a bbolt file by default, so events acknowledged to Gemini
survive a crash or Ctrl-C and are handled on the next start; --inbox
memory keeps them in memory only.

--json prints one JSON object per handled event instead:
  {"webhook_id", "type", "job_id", "scheme", "attempt", "received_at",
   "forwarded_status" (with --forward-to), "event" (the body as received)}
Status lines go to stderr, so stdout holds only events.

The listen address also serves /metrics (Prometheus; --no-metrics to
omit), /healthz (the process is up) and /readyz (the inbox answers and,
with dynamic signatures, keys are loaded). --console ADDR serves the web
console there: every delivery live, why each rejected one failed, the
stored events, replay and re-delivery. A bare port binds 127.0.0.1; the
access token is printed once unless given with --console-token or
$GEMINIHOOKS_CONSOLE_TOKEN.`,
		example: `export GEMINI_WEBHOOK_SECRET=whsec_...
geminihooks listen --addr 127.0.0.1:8080 --forward-to http://127.0.0.1:3000/hook
# with a JWKS made by 'trigger --dynamic v1a --jwks-out dev-jwks.json':
geminihooks listen --inbox memory --jwks-file dev-jwks.json --json
geminihooks listen --console 8081   # then open the printed console address`,
	}
	c.run = func(ctx context.Context, e *env, args []string) int {
		fs := c.newFlagSet()
		addr := fs.String("addr", "127.0.0.1:8080", "listen `address`; port 0 picks a free one")
		path := fs.String("path", "/webhooks/gemini", "URL `path` deliveries are posted to")
		var secrets secretsFlag
		fs.Var(&secrets, "secret", "signing secret `whsec_...` of a registered webhook; repeatable (default $GEMINI_WEBHOOK_SECRET, comma-separated)")
		jwksURL := fs.String("jwks-url", signing.GeminiJWKSURL, "JWKS `URL` for per-request callbacks (v1a and JWT)")
		jwksFile := fs.String("jwks-file", "", "read the JWKS from `FILE` instead of --jwks-url")
		noDynamic := fs.Bool("no-dynamic", false, "accept v1 (registered webhook) signatures only")
		audience := fs.String("audience", "", "require JWT signatures to name this audience: the endpoint `URL` given in webhook_config")
		inboxFlag := fs.String("inbox", defaultInboxFile, "`memory`, or the bbolt file that keeps events across restarts")
		forwardTo := fs.String("forward-to", "", "pass each verified event to this `URL`, with the original body and headers")
		forwardTimeout := fs.Duration("forward-timeout", 10*time.Second, "how long one forward attempt may take")
		attempts := fs.Int("attempts", 8, "how many times an event is tried before it is dead-lettered")
		backoff := fs.Duration("backoff", time.Second, "delay before the first retry; doubles after each")
		workers := fs.Int("workers", 4, "events handled at once")
		jsonOut := fs.Bool("json", false, "print JSON lines instead of the pretty form")
		verbose := fs.Bool("v", false, "log every request and retry to stderr")
		obs := addObserveFlags(fs)
		pos, code, stop := c.parse(e, fs, args)
		if stop {
			return code
		}
		if len(pos) > 0 {
			return c.usageError(e, "unexpected argument %q", printable(pos[0]))
		}
		if !strings.HasPrefix(*path, "/") {
			return c.usageError(e, "--path must start with /")
		}
		if *attempts < 1 || *backoff < 0 || *workers < 1 || *forwardTimeout <= 0 {
			return c.usageError(e, "--attempts and --workers must be at least 1, --backoff not negative, --forward-timeout positive")
		}
		var fwd *forwarder
		if *forwardTo != "" {
			u, err := url.Parse(*forwardTo)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return c.usageError(e, "--forward-to must be an absolute http or https URL")
			}
			fwd = &forwarder{url: u.String(), shown: u.Redacted(), client: &http.Client{Timeout: *forwardTimeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}, headers: newHeaderCache(10000)}
		}
		if len(secrets) == 0 {
			secrets = secretsFromEnv(e.getenv("GEMINI_WEBHOOK_SECRET"))
		}
		if err := obs.init(); err != nil {
			return c.fail(e, err)
		}
		var keys signing.KeySet
		if !*noDynamic {
			jurl := *jwksURL
			if *jwksFile != "" {
				jurl = ""
			}
			ks, err := loadKeySet(jurl, *jwksFile, obs.keySetOptions()...)
			if err != nil {
				return c.usageError(e, "%v", err)
			}
			keys = ks
		}
		if len(secrets) == 0 && keys == nil {
			return c.usageError(e, "nothing to verify with: give --secret (or GEMINI_WEBHOOK_SECRET), or allow dynamic signatures")
		}
		var vopts []signing.Option
		if *audience != "" {
			vopts = append(vopts, signing.WithAudience(*audience))
		}
		verifier, err := signing.NewVerifier(signing.Config{Secrets: secrets, KeySet: keys, Options: vopts})
		if err != nil {
			return c.usageError(e, "%v", err)
		}

		logger := slog.New(slog.DiscardHandler)
		if *verbose {
			logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		var ib inbox.Inbox
		inboxDesc := "memory (events queued at exit are lost)"
		if *inboxFlag == "memory" {
			ib = inbox.NewMemory()
		} else {
			b, err := boltinbox.Open(*inboxFlag, boltinbox.WithLogger(logger))
			if err != nil {
				return c.fail(e, fmt.Errorf("opening the inbox: %w", err))
			}
			ib, inboxDesc = b, *inboxFlag
		}
		defer ib.Close()

		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return c.fail(e, err)
		}
		l := listener.New(verifier,
			listener.WithInbox(ib),
			listener.WithWorkers(*workers),
			listener.WithRetry(*attempts, *backoff),
			listener.WithLogger(logger),
			obs.listenerOption(),
		)
		out := &eventPrinter{w: e.stdout, json: *jsonOut, now: e.now}
		handle := func(ctx context.Context, ev *event.Event) error {
			m, _ := inbox.ClaimFrom(ctx)
			rec := handled{ev: ev, receivedAt: e.now()}
			if m != nil {
				rec.scheme, rec.attempt, rec.receivedAt = m.Scheme, m.Attempts, m.ReceivedAt
			}
			if fwd != nil {
				status, err := fwd.forward(ctx, ev)
				if err != nil {
					next := "will retry"
					if rec.attempt >= *attempts {
						next = "giving up: the event is dead-lettered in the inbox"
					}
					fmt.Fprintf(e.stderr, "forward of %s (webhook-id %s, attempt %d of %d) failed: %v; %s\n",
						printable(string(ev.Type)), printable(ev.ID), rec.attempt, *attempts, err, next)
					return err
				}
				rec.forwarded = status
			}
			out.print(rec)
			return nil
		}
		registerAll(l, handle)
		if err := obs.start(e, ib, keys, logger); err != nil {
			return c.fail(e, err)
		}
		defer obs.stop()

		var mux http.ServeMux
		var h http.Handler = l
		if fwd != nil {
			h = fwd.headers.middleware(l)
		}
		mux.Handle("POST "+*path, h)
		mux.Handle(*path, l) // other methods get the listener's 405
		obs.mount(&mux)
		srv := &http.Server{Handler: &mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}

		runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
		defer cancelRun()
		runDone := make(chan error, 1)
		go func() { runDone <- l.Run(runCtx) }()
		serveDone := make(chan error, 1)
		go func() { serveDone <- srv.Serve(ln) }()

		fmt.Fprintf(e.stderr, "listening on http://%s%s\n", ln.Addr(), *path)
		fmt.Fprintf(e.stderr, "  verifying: %s\n", describeTrust(secrets, keys, *jwksURL, *jwksFile))
		fmt.Fprintf(e.stderr, "  inbox:     %s\n", inboxDesc)
		if fwd != nil {
			fmt.Fprintf(e.stderr, "  forwarding to %s\n", printable(fwd.shown))
		}

		code = exitOK
		obs.serve(e)
		select {
		case <-ctx.Done():
		case err := <-serveDone:
			fmt.Fprintf(e.stderr, "geminihooks listen: %v\n", err)
			code = exitFailure
		}
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(shutdownCtx)
		cancel()
		cancelRun()
		if err := <-runDone; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(e.stderr, "geminihooks listen: %v\n", err)
		}
		st := l.Stats()
		rejected := st.Rejected.MethodNotAllowed + st.Rejected.TooLarge + st.Rejected.Unauthorized +
			st.Rejected.KeysUnavailable + st.Rejected.BadRequest + st.Rejected.StoreFailed + st.Rejected.Full
		fmt.Fprintf(e.stderr, "stopped: %d received, %d stored, %d duplicates, %d rejected (%d unauthorized), %d handled, %d retried, %d dead-lettered, %d left in the inbox\n",
			st.Received, st.Stored, st.Duplicates, rejected, st.Rejected.Unauthorized, st.Processed+st.Unhandled, st.Retried, st.Dead, max(st.QueueDepth, 0))
		return code
	}
	return c
}

// registerAll sends every event, known or not, to h exactly once.
func registerAll(l *listener.Listener, h listener.HandlerFunc) {
	seen := map[event.Type]bool{}
	for _, t := range event.KnownTypes() {
		if c := t.Canonical(); !seen[c] {
			seen[c] = true
			l.On(c, h)
		}
	}
	l.OnUnknown(h)
}

func describeTrust(secrets []string, keys signing.KeySet, jwksURL, jwksFile string) string {
	var parts []string
	switch n := len(secrets); n {
	case 0:
		parts = append(parts, "no v1 secret (registered webhooks will get 401)")
	case 1:
		parts = append(parts, "v1 with 1 secret")
	default:
		parts = append(parts, fmt.Sprintf("v1 with %d secrets", n))
	}
	switch {
	case keys == nil:
		parts = append(parts, "no dynamic signatures")
	case jwksFile != "":
		parts = append(parts, "v1a and JWT with the keys in "+jwksFile)
	default:
		parts = append(parts, "v1a and JWT with the keys at "+jwksURL)
	}
	return strings.Join(parts, "; ")
}

// handled is one event as a handler saw it.
type handled struct {
	ev         *event.Event
	scheme     string
	attempt    int
	receivedAt time.Time
	forwarded  int // the forward target's status, 0 without --forward-to
}

// eventPrinter writes one line per handled event; workers call it at once.
type eventPrinter struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
	now  func() time.Time
}

// eventLine is the --json form of a handled event.
type eventLine struct {
	WebhookID       string          `json:"webhook_id"`
	Type            event.Type      `json:"type"`
	JobID           string          `json:"job_id"`
	Scheme          string          `json:"scheme"`
	Attempt         int             `json:"attempt"`
	ReceivedAt      time.Time       `json:"received_at"`
	ForwardedStatus int             `json:"forwarded_status,omitempty"`
	Event           json.RawMessage `json:"event"`
}

func (p *eventPrinter) print(h handled) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		line, err := json.Marshal(eventLine{
			WebhookID: h.ev.ID, Type: h.ev.Type, JobID: h.ev.JobID, Scheme: h.scheme, Attempt: h.attempt,
			ReceivedAt: h.receivedAt.UTC(), ForwardedStatus: h.forwarded, Event: h.ev.Raw,
		})
		if err == nil {
			_, _ = p.w.Write(append(line, '\n'))
		}
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-27s %-4s job %s  (webhook-id %s", p.now().Format("15:04:05"), printable(string(h.ev.Type)),
		schemeOrDash(h.scheme), printable(orDash(h.ev.JobID)), printable(h.ev.ID))
	if h.attempt > 1 {
		fmt.Fprintf(&b, ", attempt %d", h.attempt)
	}
	b.WriteString(")")
	if len(h.ev.UserMetadata) > 0 {
		b.WriteString("  metadata ")
		b.WriteString(formatMetadata(h.ev.UserMetadata))
	}
	if h.forwarded != 0 {
		fmt.Fprintf(&b, "  -> forwarded, %d", h.forwarded)
	}
	b.WriteString("\n")
	_, _ = io.WriteString(p.w, b.String())
}

func schemeOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return printable(s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatMetadata renders user_metadata as sorted k=v pairs.
func formatMetadata(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		var s string
		if str, ok := v.(string); ok {
			s = str
		} else {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		parts = append(parts, printable(k)+"="+printable(s))
	}
	return strings.Join(parts, " ")
}

// forwarder passes verified events on to a local app.
type forwarder struct {
	url     string
	shown   string // url without any password, for output
	client  *http.Client
	headers *headerCache
}

// forward POSTs the event's original body, with the headers it arrived
// with when they are still known, and returns the app's status.
func (f *forwarder) forward(ctx context.Context, ev *event.Event) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(ev.Raw))
	if err != nil {
		return 0, err
	}
	if h, ok := f.headers.get(ev.ID); ok {
		for k, vs := range h {
			req.Header[k] = vs
		}
	} else {
		// Received before a restart: the inbox keeps the body, not the
		// headers, so the signature cannot be passed on.
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(signing.HeaderID, ev.ID)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, unwrapURLError(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%s answered %s", f.shown, resp.Status)
	}
	f.headers.forget(ev.ID)
	return resp.StatusCode, nil
}

// headerCache remembers the headers each stored delivery arrived with, by
// webhook-id, until its forward succeeds. It is bounded: past max entries
// the oldest go, and their events are forwarded without them.
type headerCache struct {
	mu    sync.Mutex
	max   int
	byID  map[string]http.Header
	order []string
}

func newHeaderCache(max int) *headerCache {
	return &headerCache{max: max, byID: map[string]http.Header{}}
}

// hopByHop are headers that describe one connection, not the delivery.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade", "Content-Length", "Accept-Encoding"}

// middleware records the request's headers before the listener stores the
// delivery (its worker may run at once), and drops them again unless the
// listener stored it (202): a rejected or duplicate delivery is never
// forwarded.
func (c *headerCache) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(signing.HeaderID)
		added := false
		if id != "" {
			h := r.Header.Clone()
			for _, k := range hopByHop {
				h.Del(k)
			}
			added = c.add(id, h)
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if added && sw.status != http.StatusAccepted {
			c.forget(id)
		}
	})
}

func (c *headerCache) add(id string, h http.Header) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[id]; ok {
		return false
	}
	for len(c.order) >= c.max {
		delete(c.byID, c.order[0])
		c.order = c.order[1:]
	}
	c.byID[id] = h
	c.order = append(c.order, id)
	return true
}

func (c *headerCache) get(id string) (http.Header, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.byID[id]
	return h, ok
}

func (c *headerCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[id]; !ok {
		return
	}
	delete(c.byID, id)
	for i, v := range c.order {
		if v == id {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
}

// statusWriter records the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
