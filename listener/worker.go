package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
)

var (
	// errAlreadyRunning is returned by Run on a Listener that is running.
	errAlreadyRunning = errors.New("listener: already running")
	// ErrGraceExpired is returned by Run when handlers were still running
	// at the end of the grace period and had their contexts cancelled.
	// Their events stay in the inbox and run again.
	ErrGraceExpired = errors.New("listener: grace period expired with handlers running")
)

const (
	// pruneInterval is how often done keys older than the window go.
	pruneInterval = 10 * time.Minute
	// pruneTimeout bounds one Prune, which may delete many rows.
	pruneTimeout = time.Minute
)

// Run runs the workers that hand stored events to handlers, and prunes done
// keys older than the dedupe window, until ctx ends. Then it drains: it
// claims nothing more, waits up to the grace period for in-flight
// handlers, then cancels their contexts and waits at most one store
// timeout more for their outcomes to be recorded; an interrupted event is
// handed back at once, never dead-lettered for the interruption (though
// the inbox still counts the claim in Attempts). Whatever is left stays
// in the inbox for the next Run (with the default in-memory inbox, for as
// long as the process lives). Run returns nil after a clean drain,
// ErrGraceExpired when it had to cancel handlers, and an error if it is
// already running. ServeHTTP stores deliveries whether or not Run is
// running, so stop the HTTP server (http.Server.Shutdown) before cancelling
// ctx, as Serve does: with the in-memory inbox, events accepted after the
// workers stop are lost with the process.
//
// Handler contexts carry ctx's values and the claimed inbox.Message
// (inbox.ClaimFrom), but are cancelled only by their timeout and the end
// of the grace period, not by ctx itself.
func (l *Listener) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errAlreadyRunning
	}
	defer l.running.Store(false)
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()

	var wg sync.WaitGroup
	d := newDispatcher()
	for range l.workers {
		wg.Go(func() { l.work(hctx, d) })
	}
	wg.Go(func() { l.dispatch(ctx, d) })
	wg.Go(func() { l.pruneLoop(ctx) })
	<-ctx.Done()

	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	grace := time.NewTimer(l.grace)
	defer grace.Stop()
	select {
	case <-done:
		return nil
	case <-grace.C:
	}
	cancelHandlers()
	// Handlers that heed their context return at once; give their workers
	// one store timeout to record the outcome.
	bookkeeping := time.NewTimer(l.storeTimeout)
	defer bookkeeping.Stop()
	select {
	case <-done:
	case <-bookkeeping.C:
		l.log.LogAttrs(context.Background(), slog.LevelWarn, "listener: handlers ignored cancellation at shutdown")
	}
	return ErrGraceExpired
}

// dispatcher hands claimed events to idle workers. One goroutine claims
// for all of them, as many events per call as there are workers waiting:
// with PostgreSQL that is one round trip (and one index scan) for a batch
// instead of one per event, and with bbolt one change in the next commit.
type dispatcher struct {
	jobs chan *inbox.Message // to the workers; closed when claiming stops
	idle atomic.Int32        // workers waiting on jobs
	free chan struct{}       // a worker started waiting, while wantFree was set
	// wantFree is set while every worker is busy and the last claim came
	// back full: only then is a worker going idle worth waking the
	// dispatcher for. Otherwise it would wake once per event for nothing.
	wantFree atomic.Bool
}

func newDispatcher() *dispatcher {
	return &dispatcher{jobs: make(chan *inbox.Message), free: make(chan struct{}, 1)}
}

// work is one worker: take an event from the dispatcher, run it, repeat,
// until the dispatcher stops. A successful run's ack goes on while the
// worker runs the next event (see acker).
func (l *Listener) work(hctx context.Context, d *dispatcher) {
	a := l.newAcker()
	defer a.wait()
	for {
		d.idle.Add(1)
		if d.wantFree.Load() {
			select {
			case d.free <- struct{}{}:
			default:
			}
		}
		m, ok := <-d.jobs
		if !ok {
			return
		}
		l.process(hctx, m, &a)
	}
}

// dispatch claims events for the idle workers until ctx ends, then closes
// the workers' channel. It claims again at once while claims come back
// full (there may be more), and otherwise waits for a wake-up (a stored
// delivery, a due retry, the inbox's Notify) or the poll interval.
func (l *Listener) dispatch(ctx context.Context, d *dispatcher) {
	defer close(d.jobs)
	poll := time.NewTimer(l.poll)
	defer poll.Stop()
	more := true // look at once: there may be work from before Run
	for ctx.Err() == nil {
		if n := int(d.idle.Load()); n > 0 && more {
			ms := l.claim(n)
			for _, m := range ms {
				// Each send is taken at once: n workers are waiting, and only
				// receiving makes a worker stop waiting.
				d.idle.Add(-1)
				d.jobs <- m
			}
			more = len(ms) == n
			if more {
				continue
			}
		}
		if more {
			// Every worker is busy and there may be more: have the next one
			// to go idle say so. Look again after asking, in case one went
			// idle just before (it did not see the request).
			d.wantFree.Store(true)
			if d.idle.Load() > 0 {
				d.wantFree.Store(false)
				continue
			}
		}
		poll.Reset(l.poll)
		select {
		case <-ctx.Done():
			return
		case <-d.free:
			// A worker is free: worth a claim only if the last one was full.
			d.wantFree.Store(false)
			continue
		case <-l.wake:
		case <-l.notify:
		case <-poll.C:
		}
		d.wantFree.Store(false)
		more = true
	}
}

// storeCtx bounds one inbox call made off the request path. It is not
// derived from Run's context, so that outcomes are recorded during a drain.
func (l *Listener) storeCtx() (context.Context, context.CancelFunc) {
	return l.bound(context.Background())
}

// bound limits an inbox call to the store timeout. The in-memory inbox
// never waits, so its calls skip the timer.
func (l *Listener) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if l.inMemory {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, l.storeTimeout)
}

// claim leases up to n events, or none when the inbox fails (logged).
func (l *Listener) claim(n int) []*inbox.Message {
	ctx, cancel := l.storeCtx()
	defer cancel()
	ms, err := l.inbox.Claim(ctx, n, l.handlerTimeout+l.leaseMargin)
	if err != nil {
		l.log.LogAttrs(ctx, slog.LevelError, "listener: claim failed", slog.String("error", err.Error()))
		return nil
	}
	return ms
}

// acker runs one worker's acks, one at a time, each while the worker goes
// on to its next claim and handler run. An ack needs no answer before the
// next run starts: if it is lost, the event runs again, which
// at-least-once delivery already allows. Overlapping them lets a store
// that commits in groups (boltinbox) put an ack and the next claim in one
// commit, and halves the round trips one worker waits for on the others.
// With inline set (a memory inbox, whose ack only takes its mutex) there is
// nothing to overlap, and each ack runs at once rather than cost a
// goroutine.
type acker struct {
	inline bool
	done   chan struct{}
}

// newAcker returns a worker's acker: inline for a memory inbox.
func (l *Listener) newAcker() acker { return acker{inline: l.inMemory} }

// start waits for the worker's previous ack, then runs fn in the
// background; or, inline, runs fn.
func (a *acker) start(fn func()) {
	if a.inline {
		fn()
		return
	}
	a.wait()
	a.done = make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		fn()
	}(a.done)
}

// wait waits for the ack in flight, if any.
func (a *acker) wait() {
	if a.done != nil {
		<-a.done
		a.done = nil
	}
}

// process runs the handlers for one claimed message and records the
// outcome; a successful run's ack goes to a.
func (l *Listener) process(hctx context.Context, m *inbox.Message, a *acker) {
	start := l.observeStart()
	ev, err := event.Parse(m.Body)
	if err != nil {
		// The request path parsed it, so only a store fault gets here.
		ev = &event.Event{ID: m.ID}
		err = fmt.Errorf("listener: stored body does not parse: %w", err)
		l.observeRun(start, m, ev, deadOrLost(l.deadLetter(m, ev, err)), err)
		return
	}
	ev.ID = m.ID
	if m.Attempts > l.maxAttempts {
		// Every claim counts an attempt, and a run that records no outcome
		// (the process died in a handler, or a lease ran out) leaves the
		// message to be claimed again. Past the attempts a failing run gets,
		// stop: a handler that kills the process would otherwise rerun at
		// every restart for ever.
		err := fmt.Errorf("listener: claimed %d times with no outcome recorded (did a handler end the process?); not run again", m.Attempts)
		l.observeRun(start, m, ev, deadOrLost(l.deadLetter(m, ev, err)), err)
		return
	}
	l.settle(ev)
	r, err := l.routeFor(ev)
	if err != nil {
		l.observeRun(start, m, ev, deadOrLost(l.deadLetter(m, ev, err)), err)
		return
	}
	if r.empty() {
		l.stats.unhandled.Add(1)
		l.logEvent(slog.LevelInfo, "listener: no handler for event; acked", m, ev)
		l.observeRun(start, m, ev, outcomeIf(l.ack(m, ev), RunUnhandled), nil)
		return
	}
	ctx, cancel := context.WithTimeout(inbox.WithClaim(hctx, m), l.handlerTimeout)
	err = l.call(ctx, &r, m, ev)
	cancel()
	switch {
	case err == nil:
		a.start(func() {
			ok := l.ack(m, ev)
			if ok {
				l.stats.processed.Add(1)
			}
			l.observeRun(start, m, ev, outcomeIf(ok, RunAcked), nil)
		})
	case hctx.Err() != nil:
		// Shut down mid-handler: hand the event back at once, never to the
		// dead letters.
		err = fmt.Errorf("listener: interrupted by shutdown: %w", err)
		l.observeRun(start, m, ev, outcomeIf(l.retry(m, ev, l.now(), err), RunInterrupted), err)
	case IsPermanent(err) || m.Attempts >= l.maxAttempts:
		l.observeRun(start, m, ev, deadOrLost(l.deadLetter(m, ev, err)), err)
	default:
		at := l.now().Add(l.delay(m.Attempts))
		ok := l.retry(m, ev, at, err)
		if ok {
			l.stats.retried.Add(1)
		}
		l.observeRun(start, m, ev, outcomeIf(ok, RunRetry), err)
	}
}

// outcomeIf is o when the inbox recorded it, RunLost otherwise.
func outcomeIf(recorded bool, o RunOutcome) RunOutcome {
	if !recorded {
		return RunLost
	}
	return o
}

func deadOrLost(recorded bool) RunOutcome { return outcomeIf(recorded, RunDead) }

// call runs the route, turning a panic into an error.
func (l *Listener) call(ctx context.Context, r *route, m *inbox.Message, ev *event.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			l.stats.panics.Add(1)
			err = fmt.Errorf("listener: handler panicked: %v", p)
			l.logEvent(slog.LevelError, "listener: handler panicked", m, ev,
				slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
		}
	}()
	return r.run(ctx, ev)
}

// delay is the backoff before the attempt after the given one
// (Config.Backoff), never negative.
func (l *Listener) delay(attempt int) time.Duration {
	return max(l.backoff(attempt), 0)
}

func (l *Listener) ack(m *inbox.Message, ev *event.Event) bool {
	ctx, cancel := l.storeCtx()
	defer cancel()
	if err := l.inbox.Ack(ctx, m.ID, m.Lease); err != nil {
		l.logEvent(slog.LevelError, "listener: ack failed; the event may run again", m, ev, slog.String("error", err.Error()))
		return false
	}
	l.logEvent(slog.LevelDebug, "listener: event handled", m, ev)
	return true
}

func (l *Listener) retry(m *inbox.Message, ev *event.Event, at time.Time, cause error) bool {
	ctx, cancel := l.storeCtx()
	defer cancel()
	if err := l.inbox.Retry(ctx, m.ID, m.Lease, at, cause.Error()); err != nil {
		l.logEvent(slog.LevelError, "listener: scheduling a retry failed", m, ev,
			slog.String("error", err.Error()), slog.String("cause", cause.Error()))
		return false
	}
	l.logEvent(slog.LevelWarn, "listener: handler failed; will retry", m, ev,
		slog.String("error", cause.Error()), slog.Time("retry_at", at))
	if d := at.Sub(l.now()); d > 0 {
		time.AfterFunc(d, l.nudge)
	} else {
		l.nudge()
	}
	return true
}

func (l *Listener) deadLetter(m *inbox.Message, ev *event.Event, cause error) bool {
	ctx, cancel := l.storeCtx()
	defer cancel()
	if err := l.inbox.DeadLetter(ctx, m.ID, m.Lease, cause.Error()); err != nil {
		l.logEvent(slog.LevelError, "listener: dead-lettering failed", m, ev,
			slog.String("error", err.Error()), slog.String("cause", cause.Error()))
		return false
	}
	l.stats.dead.Add(1)
	l.logEvent(slog.LevelError, "listener: event dead-lettered", m, ev, slog.String("error", cause.Error()))
	return true
}

func (l *Listener) logEvent(level slog.Level, msg string, m *inbox.Message, ev *event.Event, attrs ...slog.Attr) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	attrs = append(attrs, slog.String("webhook_id", m.ID), slog.String("type", string(ev.Type)),
		slog.String("job_id", ev.JobID), slog.Int("attempt", m.Attempts))
	l.log.LogAttrs(ctx, level, msg, attrs...)
}

func (l *Listener) pruneLoop(ctx context.Context) {
	t := time.NewTicker(pruneInterval)
	defer t.Stop()
	for {
		l.prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prune deletes done and dead messages that finished more than the dedupe
// window ago.
func (l *Listener) prune(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, pruneTimeout)
	defer cancel()
	n, err := l.inbox.Prune(ctx, l.now().Add(-l.window))
	switch {
	case err != nil && ctx.Err() == nil:
		l.log.LogAttrs(ctx, slog.LevelError, "listener: prune failed", slog.String("error", err.Error()))
	case n > 0:
		l.log.LogAttrs(ctx, slog.LevelDebug, "listener: pruned finished events", slog.Int("count", n))
	}
}
