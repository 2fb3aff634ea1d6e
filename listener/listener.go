package listener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/internal/nonblocking"
	"github.com/geminihooks/geminihooks/signing"
)

// Errors of the request path, which ServeHTTP maps to status codes and
// reports in Delivery.Err. Verification and parse errors wrap the signing
// and event packages' sentinels.
var (
	// errMethodNotAllowed reports a request that is not a POST (405).
	errMethodNotAllowed = errors.New("listener: method not allowed")
	// errBodyTooLarge reports a body over Config.MaxBodyBytes (413).
	errBodyTooLarge = errors.New("listener: body too large")
	// errReadTimeout reports a body not read within Config.ReadTimeout (408).
	errReadTimeout = errors.New("listener: body read timed out")
	// errUnverified wraps a signature verification failure (401), or, with
	// signing.ErrKeySetUnavailable, keys that could not be had (503).
	errUnverified = errors.New("listener: delivery not verified")
	// errBadDelivery reports a verified delivery that cannot be handled:
	// a body that is not an event, or no webhook-id to dedupe on, or one
	// longer than inbox.MaxKeyBytes (400).
	errBadDelivery = errors.New("listener: bad delivery")
)

// retryAfter is the Retry-After value, in seconds, sent with 503 when the
// inbox is full.
const retryAfter = "5"

// Listener receives Gemini webhook deliveries: as an http.Handler it
// verifies, dedupes and stores each one before it answers 2xx, and Run's
// workers hand stored events to the registered handlers. It is safe for
// concurrent use; handlers may be registered while it runs.
type Listener struct {
	config
	verify func(ctx context.Context, h http.Header, body []byte) (signing.Scheme, error)
	notify <-chan struct{} // the inbox's Notify channel; nil blocks for ever
	// ownInbox is set when the inbox is the in-memory one New made, which
	// Serve sweeps at its end (see sweep).
	ownInbox bool
	// inMemory is set when the inbox is a memory inbox, New's or the
	// caller's, which never blocks: its calls skip the store timeout's
	// timer, workers ack it inline, and its own Notify wakes the
	// dispatcher.
	inMemory bool
	wake     chan struct{} // the dispatcher waits on it for new work
	running  atomic.Bool
	// noDeadline logs, once, that read deadlines cannot be set.
	noDeadline sync.Once

	mu      sync.RWMutex
	byType  map[event.Type][]handlerFunc // by canonical type
	typed   []typedHandler
	unknown []handlerFunc

	stats counters
}

// verifier checks a delivery's signature and reports the scheme that matched:
// a *signing.Verifier, or a fake in tests.
type verifier interface {
	Verify(ctx context.Context, h http.Header, body []byte) (signing.Scheme, error)
}

// New returns a Listener that verifies deliveries with v, usually a
// *signing.Verifier, configured by cfg (nil for every default). It fails
// when v is nil or a Config value is out of range, such as a DedupeWindow
// under 24h10m: these are fixed in code, so the mistake shows at startup
// rather than as lost events a day later.
func New(v verifier, cfg *Config) (*Listener, error) {
	if v == nil {
		return nil, errors.New("listener: nil verifier")
	}
	c, err := newConfig(cfg)
	if err != nil {
		return nil, err
	}
	own := c.inbox == nil
	if own {
		if c.inbox, err = inbox.NewMemory(&inbox.MemoryConfig{Now: c.now}); err != nil {
			return nil, err
		}
	}
	l := &Listener{
		config:   c,
		notify:   c.inbox.Notify(),
		ownInbox: own,
		inMemory: nonblocking.Is(c.inbox),
		wake:     make(chan struct{}, 1),
		byType:   make(map[event.Type][]handlerFunc),
	}
	l.verify = v.Verify
	return l, nil
}

// delivery is a verified, parsed request.
type delivery struct {
	id     string
	scheme signing.Scheme
	ev     *event.Event
	body   []byte
}

// read checks, reads, verifies and parses a request: everything the request
// path does before the Put. w is nil when there is no ResponseWriter to set
// a read deadline through.
func (l *Listener) read(w http.ResponseWriter, r *http.Request) (*delivery, error) {
	if r.Method != http.MethodPost {
		return nil, errMethodNotAllowed
	}
	if r.ContentLength > l.maxBody {
		return nil, errBodyTooLarge
	}
	if r.Body == nil { // a request built by hand
		r.Body = http.NoBody
	}
	body, err := l.readBody(w, r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errBodyTooLarge
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("%w: %w", errReadTimeout, err)
		}
		return nil, fmt.Errorf("%w: reading the body: %w", errBadDelivery, err)
	}
	scheme, err := l.verify(r.Context(), r.Header, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnverified, err)
	}
	id := r.Header.Get(signing.HeaderID)
	if id == "" {
		return nil, fmt.Errorf("%w: no %s header", errBadDelivery, signing.HeaderID)
	}
	if len(id) > inbox.MaxKeyBytes {
		return nil, fmt.Errorf("%w: %s of %d bytes, at most %d", errBadDelivery, signing.HeaderID, len(id), inbox.MaxKeyBytes)
	}
	ev, err := event.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadDelivery, err)
	}
	ev.ID = id
	return &delivery{id: id, scheme: scheme, ev: ev, body: body}, nil
}

// readBody reads r's body within the read timeout. It bounds the read by
// the connection's read deadline; when the ResponseWriter cannot set one (a
// wrapper that hides it, see http.ResponseController) it says so once in the
// log and bounds the read with a timer instead, so a trickled or endless
// body never holds the request open past the timeout.
func (l *Listener) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, l.maxBody)
	if w == nil || l.setReadDeadline(w, r) {
		return readBody(body, r.ContentLength)
	}
	// The body is not read to its end: have the server close the
	// connection rather than wait for the rest.
	w.Header().Set("Connection", "close")
	return readBodyTimed(body, r.ContentLength, l.readTimeout)
}

// setReadDeadline bounds the body read by the read timeout, unless the
// server's own ReadTimeout is already as strict: a deadline set here replaces
// the server's, and must never loosen it. It reports false when the read is
// not bounded: the deadline could not be set.
func (l *Listener) setReadDeadline(w http.ResponseWriter, r *http.Request) bool {
	if l.readTimeout <= 0 {
		return true
	}
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ReadTimeout > 0 && srv.ReadTimeout <= l.readTimeout {
		return true
	}
	err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(l.readTimeout))
	if err == nil {
		return true
	}
	l.noDeadline.Do(func() {
		l.log.LogAttrs(r.Context(), slog.LevelWarn,
			"listener: the ResponseWriter cannot set a read deadline (a wrapper without Unwrap?); bounding body reads with a timer instead",
			slog.String("writer", fmt.Sprintf("%T", w)), slog.String("error", err.Error()))
	})
	return false
}

// readBodyTimed reads the body on another goroutine and stops waiting
// after d. The abandoned read ends at the client's next byte, or when the
// connection closes (the http.Server's ReadTimeout or IdleTimeout bounds
// that), but the request no longer waits for it.
func readBodyTimed(r io.Reader, n int64, d time.Duration) ([]byte, error) {
	type result struct {
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		b, err := readBody(r, n)
		done <- result{b, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case res := <-done:
		return res.body, res.err
	case <-t.C:
		return nil, fmt.Errorf("listener: body not read within %v: %w", d, os.ErrDeadlineExceeded)
	}
}

// readBody reads a body whose length the server already framed, in one
// allocation when the length is known. A ContentLength of 0 is read to EOF
// as well: on a request built by hand, around a reader of unknown length,
// it means unknown rather than empty.
func readBody(r io.Reader, n int64) ([]byte, error) {
	if n <= 0 {
		return io.ReadAll(r)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// ServeHTTP implements http.Handler: 405 for a method other than POST, 413
// for a body over the limit, 408 for a body not read within the read
// timeout, 401 (with no detail) when verification fails,
// 503 when keys are unavailable, 400 for an unparseable event or a
// webhook-id longer than inbox.MaxKeyBytes (1 KiB), 200 for a
// duplicate, 503 when the store fails or times out, 503 with Retry-After
// when the inbox is full, and 202 once the event is stored. Handlers never
// run here.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.stats.received.Add(1)
	start := l.observeStart()
	d, err := l.read(w, r)
	if err != nil {
		code := l.reject(w, r, err)
		l.observeRequest(start, r, nil, code, outcomeOf(err), err)
		return
	}
	m := &inbox.Message{
		ID:         d.id,
		JobKey:     event.JobKey(d.ev),
		Body:       d.body,
		Scheme:     string(d.scheme),
		ReceivedAt: l.now(),
	}
	// Not cancelled when the client goes: a verified delivery is worth
	// storing, and its retry is then a cheap duplicate.
	ctx, cancel := l.bound(context.WithoutCancel(r.Context()))
	stored, err := l.inbox.Put(ctx, m)
	cancel()
	switch {
	case errors.Is(err, inbox.ErrFull):
		l.stats.full.Add(1)
		l.logDelivery(r.Context(), slog.LevelWarn, "listener: inbox full, delivery refused", d.ev, slog.Any("error", err))
		w.Header().Set("Retry-After", retryAfter)
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		l.observeRequest(start, r, d, http.StatusServiceUnavailable, outcomeFull, err)
	case err != nil:
		l.stats.storeFailed.Add(1)
		l.logDelivery(r.Context(), slog.LevelError, "listener: storing delivery failed", d.ev, slog.Any("error", err))
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		l.observeRequest(start, r, d, http.StatusServiceUnavailable, outcomeStoreFailed, err)
	case !stored:
		l.stats.duplicates.Add(1)
		l.logDelivery(r.Context(), slog.LevelDebug, "listener: duplicate delivery", d.ev)
		w.WriteHeader(http.StatusOK)
		l.observeRequest(start, r, d, http.StatusOK, OutcomeDuplicate, nil)
	default:
		l.stats.stored.Add(1)
		l.logDelivery(r.Context(), slog.LevelDebug, "listener: delivery stored", d.ev, slog.String("scheme", string(d.scheme)))
		w.WriteHeader(http.StatusAccepted)
		l.observeRequest(start, r, d, http.StatusAccepted, OutcomeStored, nil)
		if !l.inMemory { // the memory inbox's own Notify has already fired
			l.nudge()
		}
	}
}

// reject answers a request that read refused, and returns the status.
func (l *Listener) reject(w http.ResponseWriter, r *http.Request, err error) int {
	code, counter := http.StatusBadRequest, &l.stats.badRequest
	switch {
	case errors.Is(err, errMethodNotAllowed):
		code, counter = http.StatusMethodNotAllowed, &l.stats.methodNotAllowed
		w.Header().Set("Allow", http.MethodPost)
	case errors.Is(err, errBodyTooLarge):
		code, counter = http.StatusRequestEntityTooLarge, &l.stats.tooLarge
	case errors.Is(err, errReadTimeout):
		code, counter = http.StatusRequestTimeout, &l.stats.readTimeout
	case errors.Is(err, signing.ErrKeySetUnavailable):
		code, counter = http.StatusServiceUnavailable, &l.stats.keysUnavailable
	case errors.Is(err, errUnverified):
		code, counter = http.StatusUnauthorized, &l.stats.unauthorized
	}
	counter.Add(1)
	level := slog.LevelWarn
	if code == http.StatusServiceUnavailable {
		level = slog.LevelError
	}
	// The webhook-id is not logged: it is unverified here.
	l.log.LogAttrs(r.Context(), level, "listener: delivery rejected",
		slog.Int("status", code), slog.String("error", err.Error()))
	http.Error(w, http.StatusText(code), code)
	return code
}

func (l *Listener) logDelivery(ctx context.Context, level slog.Level, msg string, ev *event.Event, attrs ...slog.Attr) {
	if !l.log.Enabled(ctx, level) {
		return
	}
	attrs = append(attrs, slog.String("webhook_id", ev.ID), slog.String("type", string(ev.Type)), slog.String("job_id", ev.JobID))
	l.log.LogAttrs(ctx, level, msg, attrs...)
}

// settle tells the ledger, if there is one, that an event for the job e
// names is stored, so no reconciler looks for it. A worker does it
// when it claims the event, not the request path: it would cost every
// delivery a second store round trip before its 2xx, and it need not be
// prompt. Failing to settle costs at most a needless poll (whose
// synthesized event then dedupes against the stored one), so it is
// logged, never treated as the event's failure.
func (l *Listener) settle(e *event.Event) {
	if l.ledger == nil || e.JobID == "" {
		return
	}
	ctx, cancel := l.storeCtx()
	defer cancel()
	if err := l.ledger.Settle(ctx, e.JobID, l.now()); err != nil {
		l.stats.settleFailed.Add(1)
		l.logDelivery(ctx, slog.LevelWarn, "listener: settling tracked job failed", e, slog.Any("error", err))
	}
}

// nudge tells the dispatcher there may be work, unless it has been told
// already.
func (l *Listener) nudge() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Stats are the listener's counters since New, and the inbox's depth.
type Stats struct {
	// Received counts requests: Rejected, Duplicates and Stored add up to it
	// once every request has been answered.
	Received   uint64
	Duplicates uint64 // deliveries whose webhook-id or job key was already stored (200)
	Stored     uint64 // deliveries stored for the workers (202)
	// Rejected counts refused requests; the eight counters after it split
	// it by reason.
	Rejected         uint64
	MethodNotAllowed uint64 // 405
	TooLarge         uint64 // 413
	ReadTimeout      uint64 // 408: the body was not read within Config.ReadTimeout
	Unauthorized     uint64 // 401
	KeysUnavailable  uint64 // 503: signing.ErrKeySetUnavailable
	BadRequest       uint64 // 400
	StoreFailed      uint64 // 503: the inbox failed or timed out
	Full             uint64 // 503 with Retry-After: inbox.ErrFull

	Processed uint64 // events whose handlers all succeeded, acked
	Unhandled uint64 // events acked with no handler registered for them
	Retried   uint64 // failed handler runs scheduled to run again
	Dead      uint64 // events dead-lettered
	Panics    uint64 // handler panics, each also counted as retried or dead
	// SettleFailed counts claimed events whose job could not be marked
	// settled in Config.Ledger.
	SettleFailed uint64
	// QueueDepth is the inbox's pending and claimed messages, or -1 when the
	// inbox did not answer within the store timeout.
	QueueDepth int
}

type counters struct {
	received, duplicates, stored, processed, unhandled, retried, dead, panics atomic.Uint64
	methodNotAllowed, tooLarge, unauthorized, keysUnavailable, badRequest     atomic.Uint64
	storeFailed, full, settleFailed, readTimeout                              atomic.Uint64
}

// Stats returns the counters. It asks the inbox for its depth, which for a
// database-backed inbox is a query bounded by the store timeout.
func (l *Listener) Stats() Stats {
	s := &l.stats
	st := Stats{
		Received:         s.received.Load(),
		MethodNotAllowed: s.methodNotAllowed.Load(),
		TooLarge:         s.tooLarge.Load(),
		ReadTimeout:      s.readTimeout.Load(),
		Unauthorized:     s.unauthorized.Load(),
		KeysUnavailable:  s.keysUnavailable.Load(),
		BadRequest:       s.badRequest.Load(),
		StoreFailed:      s.storeFailed.Load(),
		Full:             s.full.Load(),
		Duplicates:       s.duplicates.Load(),
		Stored:           s.stored.Load(),
		Processed:        s.processed.Load(),
		Unhandled:        s.unhandled.Load(),
		Retried:          s.retried.Load(),
		Dead:             s.dead.Load(),
		Panics:           s.panics.Load(),
		SettleFailed:     s.settleFailed.Load(),
		QueueDepth:       -1,
	}
	st.Rejected = st.MethodNotAllowed + st.TooLarge + st.ReadTimeout + st.Unauthorized + st.KeysUnavailable +
		st.BadRequest + st.StoreFailed + st.Full
	ctx, cancel := l.bound(context.Background())
	defer cancel()
	if n, err := l.inbox.Depth(ctx); err == nil {
		st.QueueDepth = n
	}
	return st
}
