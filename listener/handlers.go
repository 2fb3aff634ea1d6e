package listener

import (
	"context"
	"errors"
	"fmt"

	"github.com/geminihooks/geminihooks/event"
)

// On registers h for events of type t. Types are compared in canonical
// form, so a handler for batch.succeeded also runs for its alias
// batch.completed and the other way round. Any string works as t,
// including types this version does not know, such as "webhook.ping".
//
// A nil error from h acks the event; an error retries it later, up to
// Config.MaxAttempts; Permanent(err) dead-letters it at once. An event may
// be handled more than once (after a crash, a timeout or a failed ack), so
// handlers must be idempotent.
//
// Every handler that matches an event runs, in the order registered: those
// registered with On, then those registered with Handle, then OnUnknown's.
// The first error stops the run and the event is retried as a whole.
// An event that no handler matches is acked and counted as Unhandled.
func (l *Listener) On(t event.Type, h func(ctx context.Context, e *event.Event) error) {
	if h == nil {
		panic("listener: On with a nil handler")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := t.Canonical()
	l.byType[k] = append(l.byType[k], h)
}

// Handle registers h for every event whose decoded data is a T, such as
// *event.Batch, so the batch.completed alias reaches a
// *event.Batch handler. An event whose data does not decode is
// dead-lettered when a typed handler would have received it.
func Handle[T event.Data](l *Listener, h func(ctx context.Context, e *event.Event, d T) error) {
	if h == nil {
		panic("listener: Handle with a nil handler")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.typed = append(l.typed, typedHandler{
		match: func(d event.Data) bool { _, ok := d.(T); return ok },
		call:  func(ctx context.Context, e *event.Event, d event.Data) error { return h(ctx, e, d.(T)) },
	})
}

// OnUnknown registers h for events whose type this version does not know
// (their data decodes to *event.Unknown), so new server types are seen
// rather than dropped.
func (l *Listener) OnUnknown(h func(ctx context.Context, e *event.Event) error) {
	if h == nil {
		panic("listener: OnUnknown with a nil handler")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unknown = append(l.unknown, h)
}

// handlerFunc handles one event. A nil error acks it; an error retries it
// later, up to Config.MaxAttempts; Permanent(err) dead-letters it at once.
type handlerFunc = func(ctx context.Context, e *event.Event) error

type typedHandler struct {
	match func(event.Data) bool
	call  func(context.Context, *event.Event, event.Data) error
}

// Permanent marks err as not worth retrying: the event goes to the dead
// letters at once. Replay it from the inbox once the cause is fixed.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, came from
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (p *permanentError) Error() string { return "permanent: " + p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// route is the handlers an event matches, and its decoded data when a
// typed handler needs it.
type route struct {
	on      []handlerFunc
	typed   []typedHandler
	data    event.Data
	unknown []handlerFunc
}

func (r *route) empty() bool { return len(r.on)+len(r.typed)+len(r.unknown) == 0 }

// routeFor collects the handlers for e, decoding its data only when a
// typed handler is registered. An error means the event cannot be handled
// at all, now or on a retry.
func (l *Listener) routeFor(e *event.Event) (route, error) {
	l.mu.RLock()
	on, typed, unknown := l.byType[e.Type.Canonical()], l.typed, l.unknown
	l.mu.RUnlock()
	r := route{on: on}
	if _, known := event.Lookup(e.Type); !known {
		r.unknown = unknown
	}
	if len(typed) == 0 {
		return r, nil
	}
	d, decodeErr := e.Decode()
	if decodeErr != nil {
		// Find out which typed handlers the data was meant for: an
		// envelope without data decodes to a zero value of the right type.
		d, _ = (&event.Event{Type: e.Type}).Decode()
	}
	for _, th := range typed {
		if !th.match(d) {
			continue
		}
		if decodeErr != nil {
			return route{}, fmt.Errorf("listener: a typed handler cannot take this event: %w", decodeErr)
		}
		r.typed = append(r.typed, th)
	}
	r.data = d
	return r, nil
}

// run calls the route's handlers in order and stops at the first error.
func (r *route) run(ctx context.Context, e *event.Event) error {
	for _, h := range r.on {
		if err := h(ctx, e); err != nil {
			return err
		}
	}
	for _, th := range r.typed {
		if err := th.call(ctx, e, r.data); err != nil {
			return err
		}
	}
	for _, h := range r.unknown {
		if err := h(ctx, e); err != nil {
			return err
		}
	}
	return nil
}
