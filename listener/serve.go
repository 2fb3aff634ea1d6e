package listener

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Serve serves srv on ln and runs the workers (Run) until ctx ends or srv
// fails, then stops in the order that loses nothing: first the HTTP server,
// with srv.Shutdown, so no delivery is answered 2xx after the workers stop
// (requests in flight get the grace period to be answered, then their
// connections are closed; one cut short was never answered, so its sender
// retries it); then the workers, which drain as Run does. With the
// listener's own in-memory inbox (Config.Inbox nil), which nothing could
// reach once Serve returns, the workers then take what is still claimable
// in it, within the grace period. srv.Handler must route the webhook path
// to l. Serve closes ln.
//
// It returns nil after a clean stop, and otherwise what went wrong: srv's
// error (never http.ErrServerClosed) and Run's (such as ErrGraceExpired),
// joined.
func (l *Listener) Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	ran := make(chan error, 1)
	go func() { ran <- l.Run(runCtx) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		// srv stopped by itself (a failed Accept, or Close or Shutdown
		// from elsewhere); requests it took may still be in flight.
	}
	deadline := time.Now().Add(l.grace)
	sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	if err := srv.Shutdown(sctx); err != nil {
		// The grace ran out with requests in flight: cut them off.
		srv.Close()
	}
	cancel()
	if serveErr == nil {
		serveErr = <-served
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	stopRun()
	runErr := <-ran
	if l.ownInbox {
		l.sweep(ctx, time.Now().Add(l.grace))
	}
	return errors.Join(serveErr, runErr)
}

// sweep hands what is claimable in the inbox to the handlers, on as many
// goroutines as there are workers, until nothing is left or the deadline
// passes. Serve calls it for the listener's own in-memory inbox once Run has
// stopped: a delivery stored just before HTTP stopped, whose nudged worker
// saw Run's end before it claimed, is otherwise lost with the process.
func (l *Listener) sweep(ctx context.Context, deadline time.Time) {
	hctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	var wg sync.WaitGroup
	for range l.workers {
		wg.Go(func() {
			a := l.newAcker()
			defer a.wait()
			for hctx.Err() == nil {
				ms := l.claim(1)
				if len(ms) == 0 {
					return
				}
				l.process(hctx, ms[0], &a)
			}
		})
	}
	wg.Wait()
}
