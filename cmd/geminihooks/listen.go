package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/inbox/boltinbox"
	"github.com/geminihooks/geminihooks/ledger"
	"github.com/geminihooks/geminihooks/listener"
	"github.com/geminihooks/geminihooks/signing"
)

const defaultInboxFile = "geminihooks-inbox.db"

// defaultReadTimeout is --read-timeout's default: the listener's own.
const defaultReadTimeout = 10 * time.Second

// doublingFrom is a listener Backoff: base before the first retry, doubling
// with each further one, at most an hour; zero retries at once.
func doublingFrom(base time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < time.Hour; i++ {
			d *= 2
		}
		return min(d, max(base, time.Hour))
	}
}

// The HTTP server's limits, named in listen's help and the README.
const (
	// defaultMaxConns caps open connections: well under a default limit
	// of 1024 file descriptors, with room left for the inbox and forwards.
	defaultMaxConns = 512
	// headerTimeout bounds reading a request's headers.
	headerTimeout = 5 * time.Second
	// answerTimeout is how long, after the body's own time, a request may
	// take to be verified, stored and answered.
	answerTimeout = 20 * time.Second
	// idleTimeout closes keep-alive connections with no request.
	idleTimeout = time.Minute
	// maxHeaderBytes bounds a request's headers.
	maxHeaderBytes = 64 << 10
)

// newServer is an http.Server whose every timeout is set: no phase of a
// request, and no idle connection, can hold a connection open for long.
// bodyTimeout is the listener's own bound on a body (Config.ReadTimeout).
func newServer(h http.Handler, bodyTimeout time.Duration, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: headerTimeout,
		// Headers and body together. Looser than the listener's bound on
		// the body, which it then sets itself, so its 408 is what a slow
		// body gets.
		ReadTimeout:    headerTimeout + bodyTimeout,
		WriteTimeout:   bodyTimeout + answerTimeout,
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       errorLog,
	}
}

// connCap counts open connections and refuses requests on those beyond max
// with a quick 503, so a flood of idle or slow connections makes genuine
// deliveries fail fast, and be retried, rather than wait.
type connCap struct {
	max      int64
	open     atomic.Int64
	refused  atomic.Uint64          // requests answered 503 for the cap
	onRefuse func(webhookID string) // told of each, when set
}

type overCapKey struct{}

// listener counts ln's connections.
func (c *connCap) listener(ln net.Listener) net.Listener { return &cappedListener{ln, c} }

// connContext marks the context of a connection accepted beyond the cap.
func (c *connCap) connContext(ctx context.Context, conn net.Conn) context.Context {
	if cc, ok := conn.(*cappedConn); ok && cc.over {
		return context.WithValue(ctx, overCapKey{}, true)
	}
	return ctx
}

// handler answers 503 on a connection beyond the cap, and closes it.
func (c *connCap) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(overCapKey{}) == nil {
			next.ServeHTTP(w, r)
			return
		}
		c.refused.Add(1)
		if c.onRefuse != nil {
			c.onRefuse(r.Header.Get(signing.HeaderID))
		}
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
	})
}

type cappedListener struct {
	net.Listener
	cap *connCap
}

func (l *cappedListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &cappedConn{Conn: conn, cap: l.cap, over: l.cap.open.Add(1) > l.cap.max}, nil
}

type cappedConn struct {
	net.Conn
	cap    *connCap
	over   bool
	closed sync.Once
}

func (c *cappedConn) Close() error {
	c.closed.Do(func() { c.cap.open.Add(-1) })
	return c.Conn.Close()
}

func listenCommand() *command {
	return &command{
		name:    "listen",
		summary: "receive webhooks: verify, dedupe, store, then print or forward each event",
		usage:   "geminihooks listen [--addr HOST:PORT] [--path PATH] [--secret SECRET]... [flags]",
		help: `Runs a webhook receiver at http://ADDR/PATH. Each delivery is verified (v1
HMAC with --secret; v1a and JWT with the JWKS at --jwks-url), deduplicated
on its webhook-id, and stored in the inbox before the 2xx. Then each event
is printed once, and with --forward-to passed on to a local app, retried
with backoff until the app answers 2xx.

Every request gets one line on stdout, with its verdict: handled (once the
event was handled or forwarded), duplicate (already stored, answered 200,
not handled again), rejected (with the status answered and why: a bad
signature, a stale timestamp, an unknown key, too large, ...) or dead (the
event was dead-lettered after --attempts, with the last error and how to
replay it):
  15:04:05  handled    batch.succeeded  v1  job batches/x  (webhook-id msg_1)
  15:04:06  rejected   -                -   job -  (webhook-id msg_2)  401 bad_signature: ...

A forward carries the original body, byte for byte, and only headers the
listener writes itself: Content-Type, webhook-id, a fresh webhook-timestamp
and a v1 webhook-signature made with --forward-secret (by default the first
--secret). None of the delivery's own headers are passed on, so the app
verifies every forward the same way, as it would verify a registered
webhook's delivery, whatever scheme Gemini signed it with and however long
ago it arrived, also after a restart.

The inbox is a bbolt file by default, so events acknowledged to Gemini
survive a crash or Ctrl-C and are handled on the next start: events that
were being handled when the process died run again at once. --inbox
memory keeps them in memory only.

The server closes slow and idle connections: headers must arrive within
5s, a body within --read-timeout (408 after that), the answer within 20s
more, and a keep-alive connection idle for 1 minute is closed. Headers are
limited to 64 KiB and bodies to 1 MiB. At most --max-conns connections are
open at once; a request on a connection beyond that is answered 503 at
once, with Retry-After, and its connection closed.

--json prints one JSON object per line instead:
  {"verdict", "webhook_id", "type", "job_id", "scheme", "attempt",
   "status" and "reason" (duplicates, rejections, dead letters),
   "received_at", "forwarded_status" (with --forward-to) and "event" (the
   body as received; handled events)}
A rejected request's webhook-id is as sent, unverified. Status lines go to
stderr, so stdout holds only these lines. The summary at exit counts every
request once: stored, duplicate, or rejected.

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
		runner: func() runner { return &listenCmd{} },
	}
}

// listenCmd is `geminihooks listen`.
type listenCmd struct {
	addr, path                  string
	secrets                     secretsFlag
	jwksURL, jwksFile, audience string
	noDynamic                   bool
	inbox                       string
	forwardTo, forwardSecret    string
	forwardTimeout, backoff     time.Duration
	readTimeout                 time.Duration
	attempts, workers, maxConns int
	json, verbose               bool
	obs                         observe
	fwd                         *forwarder // with --forward-to
}

func (c *listenCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen `address`; port 0 picks a free one")
	fs.StringVar(&c.path, "path", "/webhooks/gemini", "URL `path` deliveries are posted to")
	fs.Var(&c.secrets, "secret", "signing `SECRET` (whsec_...) of a registered webhook; repeatable (default $GEMINI_WEBHOOK_SECRET, comma-separated)")
	fs.StringVar(&c.jwksURL, "jwks-url", signing.GeminiJWKSURL, "JWKS `URL` for per-request callbacks (v1a and JWT)")
	fs.StringVar(&c.jwksFile, "jwks-file", "", "read the JWKS from `FILE` instead of --jwks-url")
	fs.BoolVar(&c.noDynamic, "no-dynamic", false, "accept v1 (registered webhook) signatures only")
	fs.StringVar(&c.audience, "audience", "", "require JWT signatures to name this audience: the endpoint `URL` given in webhook_config")
	fs.StringVar(&c.inbox, "inbox", defaultInboxFile, "the bbolt `FILE` that keeps events across restarts, or memory to keep them in memory only")
	fs.StringVar(&c.forwardTo, "forward-to", "", "pass each verified event to this `URL`: the original body, re-signed with --forward-secret")
	fs.StringVar(&c.forwardSecret, "forward-secret", "", "signing `SECRET` (whsec_...) for forwards (default $GEMINIHOOKS_FORWARD_SECRET, else the first --secret)")
	fs.DurationVar(&c.forwardTimeout, "forward-timeout", 10*time.Second, "how long one forward attempt may take")
	fs.IntVar(&c.attempts, "attempts", 8, "how many times an event is tried before it is dead-lettered")
	fs.DurationVar(&c.backoff, "backoff", time.Second, "delay before the first retry; doubles after each")
	fs.IntVar(&c.workers, "workers", 4, "events handled at once")
	fs.DurationVar(&c.readTimeout, "read-timeout", defaultReadTimeout, "how long one delivery's body may take to arrive (408 after)")
	fs.IntVar(&c.maxConns, "max-conns", defaultMaxConns, "connections open at once; requests on further ones get 503")
	fs.BoolVar(&c.json, "json", false, "print JSON lines instead of the pretty form")
	fs.BoolVar(&c.verbose, "v", false, "log every request and retry to stderr")
	c.obs.flags(fs)
}

func (c *listenCmd) validate(e *env, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	if !strings.HasPrefix(c.path, "/") {
		return usagef("--path must start with /")
	}
	if c.attempts < 1 || c.backoff < 0 || c.workers < 1 || c.forwardTimeout <= 0 || c.readTimeout <= 0 || c.maxConns < 1 {
		return usagef("--attempts, --workers and --max-conns must be at least 1, --backoff not negative, --forward-timeout and --read-timeout positive")
	}
	if len(c.secrets) == 0 {
		c.secrets = secretsFromEnv(e.getenv("GEMINI_WEBHOOK_SECRET"))
	}
	if c.forwardTo == "" {
		return nil
	}
	var err error
	c.fwd, err = c.newForwarder(e)
	return err
}

// newForwarder checks --forward-to and finds the secret forwards are
// signed with.
func (c *listenCmd) newForwarder(e *env) (*forwarder, error) {
	u, err := url.Parse(c.forwardTo)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--forward-to must be an absolute http or https URL")
	}
	secret := cmp.Or(c.forwardSecret, e.getenv("GEMINIHOOKS_FORWARD_SECRET"))
	if secret == "" && len(c.secrets) > 0 {
		secret = c.secrets[0]
	}
	if secret == "" {
		return nil, usagef("--forward-to needs a secret to sign forwards with: give --forward-secret (or GEMINIHOOKS_FORWARD_SECRET, or a --secret)")
	}
	if _, err := signing.NewVerifier(&signing.Config{Secrets: []string{secret}}); err != nil {
		return nil, usagef("--forward-secret: %v", err)
	}
	return &forwarder{url: u.String(), shown: u.Redacted(), secret: secret, now: e.now,
		client: &http.Client{Timeout: c.forwardTimeout, Transport: http.DefaultTransport.(*http.Transport).Clone()}}, nil
}

// verifier makes the key set for dynamic signatures, unless --no-dynamic,
// and the verifier; what is wrong with them is a usage error.
func (c *listenCmd) verifier() (signing.KeySet, *signing.Verifier, error) {
	var keys signing.KeySet
	if !c.noDynamic {
		jwksURL := c.jwksURL
		if c.jwksFile != "" {
			jwksURL = ""
		}
		ks, err := loadKeySet(jwksURL, c.jwksFile, c.obs.keySetConfig())
		if err != nil {
			return nil, nil, usagef("%v", err)
		}
		keys = ks
	}
	if len(c.secrets) == 0 && keys == nil {
		return nil, nil, usagef("nothing to verify with: give --secret (or GEMINI_WEBHOOK_SECRET), or allow dynamic signatures")
	}
	cfg := &signing.Config{Secrets: c.secrets, Keys: keys}
	if c.audience != "" {
		cfg.Audience = []string{c.audience}
	}
	v, err := signing.NewVerifier(cfg)
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	return keys, v, nil
}

// openInbox opens --inbox and says what it is, for the status lines. A
// bbolt file also holds a ledger: jobs an app recorded in it are settled as
// their events arrive.
func (c *listenCmd) openInbox(logger *slog.Logger) (inbox.Store, ledger.Ledger, string, error) {
	if c.inbox == "memory" {
		ib, err := inbox.NewMemory(nil)
		return ib, nil, "memory (events queued at exit are lost)", err
	}
	db, err := boltinbox.Open(c.inbox, &boltinbox.Config{Logger: logger})
	if err != nil {
		return nil, nil, "", err
	}
	return db, db.Ledger, c.inbox, nil
}

// run serves until ctx is done (Ctrl-C), then prints a summary.
func (c *listenCmd) run(ctx context.Context, e *env) error {
	if err := c.obs.init(); err != nil {
		return err
	}
	keys, verifier, err := c.verifier()
	if err != nil {
		return err
	}
	logger := slog.New(slog.DiscardHandler)
	if c.verbose {
		logger = e.logger(slog.LevelDebug)
	}
	// Bound before the inbox is opened, so a busy port leaves no file.
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	ib, lg, inboxDesc, err := c.openInbox(logger)
	if err != nil {
		return fmt.Errorf("opening the inbox: %w", err)
	}
	defer ib.Close()

	out := &eventPrinter{w: e.stdout, json: c.json, now: e.now}
	l, err := listener.New(verifier, &listener.Config{
		Inbox:       ib,
		Ledger:      lg,
		Workers:     c.workers,
		MaxAttempts: c.attempts,
		Backoff:     doublingFrom(c.backoff),
		Logger:      logger,
		ReadTimeout: c.readTimeout,
		Observer:    listener.Observers{&c.obs, out},
	})
	if err != nil {
		return err
	}
	registerAll(l, (&listenHandler{e: e, out: out, fwd: c.fwd, attempts: c.attempts}).handle)
	if err := c.obs.start(e, ib, keys, logger); err != nil {
		return err
	}
	defer c.obs.stop()

	capped := &connCap{max: int64(c.maxConns), onRefuse: out.overCap}
	served := c.serve(ctx, l, capped, ln, logger)
	c.printStart(e, fmt.Sprintf("http://%s%s", ln.Addr(), c.path), describeTrust(c.secrets, keys, c.jwksURL, c.jwksFile), inboxDesc)
	c.obs.serve(e)
	// Serve stops the HTTP server before the workers, so nothing is
	// answered 2xx that no worker will handle.
	err = <-served
	if err != nil {
		fmt.Fprintf(e.stderr, "geminihooks listen: %v\n", err)
	}
	printSummary(e, l.Stats(), capped.refused.Load())
	if err != nil && ctx.Err() == nil { // the server failed; a drain's error is only reported
		return exitCode(exitFailure)
	}
	return nil
}

// serve serves l at --path on ln, with /metrics and the health checks,
// until ctx is done; the channel gets what l.Serve returns.
func (c *listenCmd) serve(ctx context.Context, l *listener.Listener, capped *connCap, ln net.Listener, logger *slog.Logger) <-chan error {
	var mux http.ServeMux
	mux.Handle(c.path, l) // methods other than POST get the listener's 405
	c.obs.mount(&mux)
	// The cap covers every request on the address, /metrics and the
	// health checks too: a connection over it serves nothing.
	srv := newServer(capped.handler(&mux), c.readTimeout, slog.NewLogLogger(logger.Handler(), slog.LevelWarn))
	srv.ConnContext = capped.connContext
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx, srv, capped.listener(ln)) }()
	return served
}

// printStart writes the status lines that say where listen listens, how it
// verifies and where it keeps events.
func (c *listenCmd) printStart(e *env, listenURL, trust, inboxDesc string) {
	e.status("listening on "+listenURL, "url", listenURL)
	e.status("  verifying: "+trust, "verifying", trust)
	e.status("  inbox:     "+inboxDesc, "inbox", inboxDesc)
	if c.fwd != nil {
		e.status("  forwarding to "+printable(c.fwd.shown), "forward_to", c.fwd.shown)
	}
}

// printSummary writes the status line listen ends with. Requests refused
// at the connection cap never reach the listener: they are received and
// rejected here, so the buckets add up.
func printSummary(e *env, st listener.Stats, overCap uint64) {
	received, rejected, handled, left := st.Received+overCap, st.Rejected+overCap, st.Processed+st.Unhandled, max(st.QueueDepth, 0)
	e.status(fmt.Sprintf("stopped: %d received, %d stored, %s, %d rejected (%s), %d handled, %d retried, %d dead-lettered, %d left in the inbox",
		received, st.Stored, plural(int(st.Duplicates), "duplicate", "duplicates"), rejected, describeRejected(st, overCap), handled, st.Retried, st.Dead, left),
		"received", received, "stored", st.Stored, "duplicates", st.Duplicates, "rejected", rejected,
		"unauthorized", st.Unauthorized, "handled", handled, "retried", st.Retried,
		"dead_lettered", st.Dead, "left", left)
}

// listenHandler is listen's handler for every event: it forwards the
// event, with --forward-to, and prints its line once handled.
type listenHandler struct {
	e        *env
	out      *eventPrinter
	fwd      *forwarder
	attempts int // --attempts, to say when a failed forward is the last
}

func (h *listenHandler) handle(ctx context.Context, ev *event.Event) error {
	m, _ := inbox.ClaimFrom(ctx)
	rec := handled{ev: ev, receivedAt: h.e.now()}
	if m != nil {
		rec.scheme, rec.attempt, rec.receivedAt = m.Scheme, m.Attempts, m.ReceivedAt
	}
	if h.fwd != nil {
		status, err := h.fwd.forward(ctx, ev)
		if err != nil {
			next := "will retry"
			if rec.attempt >= h.attempts {
				next = "giving up: the event is dead-lettered in the inbox"
			}
			fmt.Fprintf(h.e.stderr, "forward of %s (webhook-id %s, attempt %d of %d) failed: %v; %s\n",
				printable(string(ev.Type)), printable(ev.ID), rec.attempt, h.attempts, err, next)
			return err
		}
		rec.forwarded = status
	}
	h.out.print(rec)
	return nil
}

// registerAll sends every event, known or not, to h exactly once.
func registerAll(l *listener.Listener, h func(context.Context, *event.Event) error) {
	for ti := range event.Types() {
		if ti.Canonical == ti.Type { // On covers the alias with its canonical type
			l.On(ti.Type, h)
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

// eventPrinter writes one line per delivery and per event outcome, in one
// format: a handled event, a duplicate, a rejected request (with its status
// and reason) and a dead letter. Workers and requests call it at once.
//
// It is a listener.Observer for duplicates, rejections and dead letters; a
// stored delivery gets its line when it is handled (or dead-lettered), not
// when it is stored, so each event is one line.
type eventPrinter struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
	now  func() time.Time
}

// The verdicts a line carries.
const (
	verdictHandled   = "handled"
	verdictDuplicate = "duplicate"
	verdictRejected  = "rejected"
	verdictDead      = "dead"
)

// eventLine is the --json form of a line.
type eventLine struct {
	Verdict         string          `json:"verdict"`
	WebhookID       string          `json:"webhook_id"`
	Type            event.Type      `json:"type,omitempty"`
	JobID           string          `json:"job_id,omitempty"`
	Scheme          string          `json:"scheme,omitempty"`
	Attempt         int             `json:"attempt,omitempty"`
	Status          int             `json:"status,omitempty"`
	Reason          string          `json:"reason,omitempty"`
	ReceivedAt      *time.Time      `json:"received_at,omitempty"`
	ForwardedStatus int             `json:"forwarded_status,omitempty"`
	Event           json.RawMessage `json:"event,omitempty"`
}

// maxShownID bounds a webhook-id in output: a rejected request's is
// unverified, so it can be anything up to the header limit.
const maxShownID = 100

func shownID(id string) string {
	if len(id) > maxShownID {
		id = id[:maxShownID] + "..."
	}
	return id
}

// print writes a handled event's line.
func (p *eventPrinter) print(h handled) {
	at := h.receivedAt.UTC()
	line := eventLine{
		Verdict: verdictHandled, WebhookID: h.ev.ID, Type: h.ev.Type, JobID: h.ev.JobID, Scheme: h.scheme,
		Attempt: h.attempt, ReceivedAt: &at, ForwardedStatus: h.forwarded, Event: h.ev.Raw,
	}
	var detail []string
	if len(h.ev.UserMetadata) > 0 {
		detail = append(detail, "metadata "+formatMetadata(h.ev.UserMetadata))
	}
	if h.forwarded != 0 {
		detail = append(detail, fmt.Sprintf("-> forwarded, %d", h.forwarded))
	}
	p.write(line, strings.Join(detail, "  "))
}

// Delivered implements listener.Observer: a line for each duplicate and
// each rejected request.
func (p *eventPrinter) Delivered(d listener.Delivery) {
	switch {
	case d.Outcome == listener.OutcomeStored:
		return
	case d.Outcome == listener.OutcomeDuplicate:
		p.write(eventLine{Verdict: verdictDuplicate, WebhookID: d.WebhookID, Type: d.Type, JobID: d.JobID,
			Scheme: string(d.Scheme), Status: d.Status, Reason: "already stored; handler not run again"}, "")
	default:
		reason := string(d.Outcome)
		if d.Err != nil {
			reason += ": " + d.Err.Error()
		}
		p.write(eventLine{Verdict: verdictRejected, WebhookID: shownID(d.WebhookID), Type: d.Type, JobID: d.JobID,
			Scheme: string(d.Scheme), Status: d.Status, Reason: reason}, "")
	}
}

// Ran implements listener.Observer: a line for each dead letter. (Handled
// events get theirs from the handler, which knows the forward's status.)
func (p *eventPrinter) Ran(r listener.Run) {
	if r.Outcome != listener.RunDead {
		return
	}
	reason := "dead-lettered"
	if r.Err != nil {
		reason += ": " + r.Err.Error()
	}
	reason += "; replay with: geminihooks inbox replay " + r.WebhookID
	p.write(eventLine{Verdict: verdictDead, WebhookID: r.WebhookID, Type: r.Type, JobID: r.JobID, Attempt: r.Attempt, Reason: reason}, "")
}

// overCap writes the line of a request refused at the connection cap,
// before the listener saw it.
func (p *eventPrinter) overCap(webhookID string) {
	p.write(eventLine{Verdict: verdictRejected, WebhookID: shownID(webhookID), Status: http.StatusServiceUnavailable,
		Reason: "too_many_connections: over --max-conns"}, "")
}

// write prints line, as JSON or as text:
//
//	TIME  VERDICT    TYPE  SCHEME  job JOB  (webhook-id ID, attempt N)  [STATUS] REASON  DETAIL
func (p *eventPrinter) write(line eventLine, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		b, err := json.Marshal(line)
		if err == nil {
			_, _ = p.w.Write(append(b, '\n'))
		}
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-9s  %-27s %-4s job %s  (webhook-id %s", p.now().Format("15:04:05"), line.Verdict,
		printable(orDash(string(line.Type))), schemeOrDash(line.Scheme), printable(orDash(line.JobID)), printable(orDash(line.WebhookID)))
	if line.Attempt > 1 || line.Verdict == verdictDead {
		fmt.Fprintf(&b, ", attempt %d", line.Attempt)
	}
	b.WriteString(")")
	if line.Reason != "" {
		b.WriteString("  ")
		if line.Status != 0 {
			fmt.Fprintf(&b, "%d ", line.Status)
		}
		b.WriteString(printable(line.Reason))
	}
	if detail != "" {
		b.WriteString("  ")
		b.WriteString(detail)
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
	url    string
	shown  string // url without any password, for output
	secret string // signs each forward
	now    func() time.Time
	client *http.Client
}

// forward POSTs the event's body as stored, the one that was verified, with
// headers of its own: a fresh v1 signature over the webhook-id and body.
// Nothing of the request it arrived in is passed on, so an unverified header
// can never ride along, and a forward made after a restart, or long after
// the delivery, verifies like any other.
func (f *forwarder) forward(ctx context.Context, ev *event.Event) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(ev.Raw))
	if err != nil {
		return 0, err
	}
	if err := (signing.Signer{Secrets: []string{f.secret}}).Sign(req.Header, ev.ID, f.now(), ev.Raw); err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, unwrapURLError(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%s answered %s", f.shown, resp.Status)
	}
	return resp.StatusCode, nil
}

// describeRejected breaks the rejected count down by the reasons worth
// reading at exit.
func describeRejected(r listener.Stats, overCap uint64) string {
	parts := []string{fmt.Sprintf("%d unauthorized", r.Unauthorized)}
	for _, p := range []struct {
		n         uint64
		one, many string
	}{
		{r.ReadTimeout, "read timeout", "read timeouts"},
		{r.StoreFailed + r.Full + r.KeysUnavailable, "unavailable", "unavailable"},
		{overCap, "over the connection cap", "over the connection cap"},
	} {
		if p.n > 0 {
			parts = append(parts, plural(int(p.n), p.one, p.many))
		}
	}
	return strings.Join(parts, ", ")
}
