package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Sentinel errors. Enqueue returns ErrClosed and ErrInvalidDelivery;
// Attempt.Err wraps ErrTimeout, ErrConnectionCut and ErrSign.
var (
	ErrClosed          = errors.New("delivery: engine closed")
	ErrInvalidDelivery = errors.New("delivery: invalid delivery")
	ErrTimeout         = errors.New("delivery: attempt timed out")
	ErrConnectionCut   = errors.New("delivery: connection cut mid-request (injected)")
	// ErrSign reports that Delivery.Sign failed; the delivery is dropped
	// without retries. The cause is not kept: it may quote key material.
	ErrSign = errors.New("delivery: signing failed")
)

// Delivery is one event for one endpoint.
type Delivery struct {
	// ID is the webhook-id header, the same on every attempt.
	ID string
	// URI is the endpoint, an absolute http or https URL.
	URI string
	// Body is sent byte for byte. Enqueue copies it.
	Body []byte
	// Sign returns the webhook-signature header value for one attempt. It is
	// called afresh for every attempt, with that attempt's timestamp, so a
	// secret rotated between attempts is honoured. An error ends the
	// delivery without retries: it is a bug, not a delivery failure. Nil
	// sends no signature.
	Sign func(uri, id string, ts time.Time, body []byte) (string, error)
	// WebhookID names the static webhook the delivery is for, for
	// OnOutcome and CancelWebhook; "" for a dynamic (webhook_config) one.
	WebhookID string
}

// job is the engine's state for one delivery, or for one injected duplicate.
type job struct {
	d         Delivery
	deadline  time.Time // no retry may start after this
	attempt   int       // attempts started so far
	duplicate bool      // an injected copy: one POST, no retries, no OnOutcome
	cancelled bool      // CancelWebhook dropped it while in flight
	delayed   bool      // the Delay fault has been served for the next attempt
	faults    []Fault   // timing faults served for the next attempt
	timer     Timer     // a pending retry or delay
}

// Engine sends deliveries with retries, backoff and injected faults. Its
// methods are safe for concurrent use.
type Engine struct {
	client    *http.Client
	transport *http.Transport // ours to close; nil when the caller gave a Client
	clock     Clock
	scale     float64
	window    time.Duration
	base, max time.Duration
	timeout   time.Duration
	onOutcome func(string, bool)
	log       *slog.Logger
	logLimit  int
	wg        sync.WaitGroup

	mu       sync.Mutex
	work     *sync.Cond // the queue gained a job, or the engine closed
	rng      *rand.Rand
	faults   Faults
	queue    []*job
	jobs     map[*job]struct{}           // every live job: queued, scheduled, held or in flight
	inflight map[*job]context.CancelFunc // attempts on the wire
	held     []*job                      // the reorder window
	heldGen  int                         // invalidates a hold timer that fired late
	heldTmr  Timer
	idle     chan struct{} // while open, closed exactly when jobs is empty
	attempts []Attempt     // the newest logLimit are the log
	closed   bool
}

// New starts an engine and its workers. Close it when done.
func New(opts Options) *Engine {
	e := &Engine{
		client:    opts.Client,
		clock:     opts.Clock,
		scale:     opts.TimeScale,
		window:    opts.RetryWindow,
		base:      opts.BackoffBase,
		max:       opts.BackoffMax,
		timeout:   opts.AttemptTimeout,
		onOutcome: opts.OnOutcome,
		log:       opts.Logger,
		logLimit:  opts.LogLimit,
		rng:       opts.Rand,
		jobs:      make(map[*job]struct{}),
		inflight:  make(map[*job]context.CancelFunc),
		idle:      make(chan struct{}),
	}
	close(e.idle)
	e.work = sync.NewCond(&e.mu)
	workers := opts.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	if e.client == nil {
		// Like http.DefaultTransport, minus the proxy, with an idle
		// connection kept per worker so steady load reuses sockets.
		e.transport = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        max(100, workers),
			MaxIdleConnsPerHost: workers,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		}
		e.client = &http.Client{
			Transport: e.transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if e.clock == nil {
		e.clock = realClock{}
	}
	if e.scale <= 0 {
		e.scale = 1
	}
	if e.window <= 0 {
		e.window = DefaultRetryWindow
	}
	if e.base <= 0 {
		e.base = DefaultBackoffBase
	}
	if e.max <= 0 {
		e.max = DefaultBackoffMax
	}
	if e.max < e.base {
		e.max = e.base
	}
	if e.timeout <= 0 {
		e.timeout = DefaultAttemptTimeout
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.logLimit <= 0 {
		e.logLimit = DefaultLogLimit
	}
	if e.rng == nil {
		e.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	e.wg.Add(workers)
	for range workers {
		go e.worker()
	}
	return e
}

// Enqueue schedules d's first attempt and returns at once. It fails only for
// a closed engine or a delivery without an ID or an absolute http(s) URI.
func (e *Engine) Enqueue(d Delivery) error {
	if d.ID == "" {
		return fmt.Errorf("%w: empty id", ErrInvalidDelivery)
	}
	u, err := url.Parse(d.URI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: uri must be an absolute http or https url", ErrInvalidDelivery)
	}
	d.Body = slices.Clone(d.Body)

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	deadline := e.clock.Now().Add(e.scaled(e.window))
	j := &job{d: d, deadline: deadline}
	e.add(j)
	e.admit(j)
	if f := e.faults.DuplicateRate; f > 0 && e.rng.Float64() < f {
		dup := &job{d: d, deadline: deadline, duplicate: true}
		e.add(dup)
		e.admit(dup)
	}
	return nil
}

// SetFaults replaces the injected faults. It takes effect for every attempt
// that starts afterwards; turning reordering off, or shrinking the window to
// what it holds, releases the held deliveries.
func (e *Engine) SetFaults(f Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = f
	if len(e.held) > 0 && (f.Reorder < 2 || len(e.held) >= f.Reorder) {
		e.releaseHeld()
	}
}

// Attempts returns a copy of the attempt log: the newest Options.LogLimit
// attempts, oldest first, in the order they finished.
func (e *Engine) Attempts() []Attempt {
	e.mu.Lock()
	defer e.mu.Unlock()
	log := e.attempts[max(0, len(e.attempts)-e.logLimit):]
	out := make([]Attempt, len(log))
	for i, a := range log {
		out[i] = a.clone()
	}
	return out
}

// CancelWebhook drops every pending delivery for the static webhook, such as
// one just disabled or deleted: queued, scheduled and held deliveries go at
// once, and one in flight is not retried. It returns how many it dropped.
func (e *Engine) CancelWebhook(webhookID string) int {
	if webhookID == "" {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for j := range e.jobs {
		if j.d.WebhookID != webhookID || j.cancelled {
			continue
		}
		n++
		j.cancelled = true
		if _, ok := e.inflight[j]; ok {
			continue // its worker forgets it when the attempt ends
		}
		if j.timer != nil {
			j.timer.Stop()
		}
		e.remove(j)
	}
	cancelled := func(j *job) bool { return j.cancelled }
	e.queue = slices.DeleteFunc(e.queue, cancelled)
	e.held = slices.DeleteFunc(e.held, cancelled)
	return n
}

// Idle blocks until nothing is queued, scheduled, held or in flight. It
// returns ctx's error if ctx ends first, and ErrClosed if Close abandoned
// pending work. With a fake clock, scheduled retries count as pending until
// the clock reaches them.
func (e *Engine) Idle(ctx context.Context) error {
	e.mu.Lock()
	idle := e.idle
	e.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// Without Close, the channel closed because the engine was idle, even
	// if new work has arrived since.
	if e.closed && len(e.jobs) > 0 {
		return ErrClosed
	}
	return nil
}

// Close stops the engine: it cancels attempts in flight, drops queued and
// scheduled deliveries, and waits for its goroutines to exit. Later calls to
// Enqueue fail with ErrClosed. Do not call Close from OnOutcome, nor while
// holding a lock that OnOutcome takes: Close waits for running callbacks.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	if len(e.jobs) > 0 {
		close(e.idle) // wakes Idle, which reports the abandoned work
	}
	for j := range e.jobs {
		if j.timer != nil {
			j.timer.Stop()
		}
	}
	if e.heldTmr != nil {
		e.heldTmr.Stop()
	}
	for _, cancel := range e.inflight {
		cancel()
	}
	e.queue, e.held = nil, nil
	e.work.Broadcast()
	e.mu.Unlock()
	e.wg.Wait()
	if e.transport != nil {
		e.transport.CloseIdleConnections()
	}
}

// add registers a new live job. e.mu is held.
func (e *Engine) add(j *job) {
	if len(e.jobs) == 0 {
		e.idle = make(chan struct{})
	}
	e.jobs[j] = struct{}{}
}

// remove forgets a finished job. e.mu is held.
func (e *Engine) remove(j *job) {
	if _, ok := e.jobs[j]; !ok {
		return
	}
	delete(e.jobs, j)
	if len(e.jobs) == 0 && !e.closed {
		close(e.idle)
	}
}

// admit routes a new delivery through the reorder window. e.mu is held.
func (e *Engine) admit(j *job) {
	if e.faults.Reorder < 2 {
		e.ready(j)
		return
	}
	j.faults = append(j.faults, FaultReorder)
	e.held = append(e.held, j)
	if len(e.held) >= e.faults.Reorder {
		e.releaseHeld()
		return
	}
	if e.heldTmr == nil {
		hold := e.faults.ReorderHold
		if hold <= 0 {
			hold = DefaultReorderHold
		}
		gen := e.heldGen
		e.heldTmr = e.clock.AfterFunc(hold, func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if !e.closed && gen == e.heldGen {
				e.releaseHeld()
			}
		})
	}
}

// releaseHeld empties the reorder window in shuffled order. e.mu is held.
func (e *Engine) releaseHeld() {
	if e.heldTmr != nil {
		e.heldTmr.Stop()
		e.heldTmr = nil
	}
	e.heldGen++
	held := e.held
	e.held = nil
	e.rng.Shuffle(len(held), func(a, b int) { held[a], held[b] = held[b], held[a] })
	for _, j := range held {
		e.ready(j)
	}
}

// ready queues j's next attempt, after the Delay fault if one is set.
// e.mu is held.
func (e *Engine) ready(j *job) {
	if d := e.faults.Delay; d > 0 && !j.delayed {
		j.delayed = true
		j.faults = append(j.faults, FaultDelay)
		e.after(j, d)
		return
	}
	e.queue = append(e.queue, j)
	e.work.Signal()
}

// after calls ready(j) once d has passed on the clock. e.mu is held.
func (e *Engine) after(j *job, d time.Duration) {
	j.timer = e.clock.AfterFunc(d, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.closed {
			return
		}
		if _, ok := e.jobs[j]; !ok {
			return // cancelled
		}
		j.timer = nil
		e.ready(j)
	})
}

func (e *Engine) worker() {
	defer e.wg.Done()
	for {
		e.mu.Lock()
		for len(e.queue) == 0 && !e.closed {
			e.work.Wait()
		}
		if e.closed {
			e.mu.Unlock()
			return
		}
		j := e.queue[0]
		e.queue[0] = nil
		e.queue = e.queue[1:]
		j.attempt++
		faults := e.faults
		// The one-shot budget is spent here, under the lock, so concurrent
		// workers never fail more attempts than it holds, and only on an
		// attempt that FailFirst or CutConnection would not fail anyway.
		failNext := !j.duplicate && e.faults.FailNext > 0 && j.attempt > faults.FailFirst+faults.CutConnection
		if failNext {
			e.faults.FailNext--
		}
		ctx, cancel := context.WithCancel(context.Background()) // for Close
		e.inflight[j] = cancel
		e.mu.Unlock()

		a := e.try(ctx, j, faults, failNext)
		cancel()
		e.finish(j, a)
	}
}

// finish logs an attempt, reports it and schedules a retry or ends the job.
func (e *Engine) finish(j *job, a Attempt) {
	e.mu.Lock()
	delete(e.inflight, j)
	closed := e.closed
	retry := !a.OK && !j.duplicate && !unsendable(a.Err) && !j.cancelled && !closed
	var delay time.Duration
	if retry {
		delay = e.backoff(a.Number)
		if e.clock.Now().Add(delay).After(j.deadline) {
			retry = false
			a.GaveUp = true
		}
	}
	// The log may grow to twice its limit before the oldest half goes, so
	// trimming costs O(1) per attempt; Attempts shows only the newest.
	if len(e.attempts) >= 2*e.logLimit {
		n := copy(e.attempts, e.attempts[len(e.attempts)-e.logLimit:])
		clear(e.attempts[n:])
		e.attempts = e.attempts[:n]
	}
	e.attempts = append(e.attempts, a)
	e.mu.Unlock()

	e.logAttempt(a)
	if e.onOutcome != nil && j.d.WebhookID != "" && !j.duplicate && !closed && !unsendable(a.Err) {
		e.onOutcome(j.d.WebhookID, a.OK)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	// OnOutcome may have called CancelWebhook, which forgets j at once.
	_, live := e.jobs[j]
	if !retry || !live || e.closed || j.cancelled {
		e.remove(j)
		return
	}
	j.delayed, j.faults = false, nil
	e.after(j, delay)
}

// backoff is the scaled, jittered delay after the n-th failed attempt.
// e.mu is held (for the rng).
func (e *Engine) backoff(n int) time.Duration {
	d := e.base
	for i := 1; i < n && d < e.max; i++ {
		d *= 2
	}
	d = min(d, e.max)
	jitter := 1 + JitterFraction*(2*e.rng.Float64()-1)
	return e.scaled(time.Duration(float64(d) * jitter))
}

func (e *Engine) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * e.scale)
}

func (e *Engine) logAttempt(a Attempt) {
	attrs := []any{
		slog.String("id", a.ID),
		slog.String("uri", a.URI),
		slog.Int("attempt", a.Number),
		slog.Int("status", a.StatusCode),
		slog.Duration("latency", a.Latency),
	}
	if a.WebhookID != "" {
		attrs = append(attrs, slog.String("webhook", a.WebhookID))
	}
	if a.Err != nil {
		attrs = append(attrs, slog.String("err", a.Err.Error()))
	}
	if a.Injected() {
		attrs = append(attrs, slog.Any("faults", a.Faults))
	}
	switch {
	case a.GaveUp:
		e.log.Warn("delivery: giving up, retry window spent", attrs...)
	case unsendable(a.Err):
		e.log.Error("delivery: dropped, request could not be built", attrs...)
	default:
		e.log.Debug("delivery: attempt", attrs...)
	}
}

// unsendable reports an attempt that failed before reaching the network for
// a reason a retry cannot fix.
func unsendable(err error) bool {
	return errors.Is(err, ErrSign) || errors.Is(err, ErrInvalidDelivery)
}
