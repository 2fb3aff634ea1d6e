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
// Every handler that matches an event runs, in the order registered: those
// registered with On, then those registered with Handle, then OnUnknown's.
// The first error stops the run and the event is retried as a whole.
// An event that no handler matches is acked and counted as Unhandled.
func (l *Listener) On(t event.Type, h HandlerFunc) {
	if h == nil {
		panic("listener: On with a nil handler")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := t.Canonical()
	l.byType[k] = append(l.byType[k], h)
}

// Handle registers h for every event whose decoded data is a T, such as
// *event.BatchFailed, so the batch.completed alias reaches a
// *event.BatchSucceeded handler. An event whose data does not decode is
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
func (l *Listener) OnUnknown(h HandlerFunc) {
	if h == nil {
		panic("listener: OnUnknown with a nil handler")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unknown = append(l.unknown, h)
}

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

// route is the handlers an event matches, bound to its data.
type route []func(context.Context) error

// routeFor decodes e and collects the handlers for it. An error means the
// event cannot be handled at all, now or on a retry.
func (l *Listener) routeFor(e *event.Event) (route, error) {
	d, decodeErr := e.Decode()
	if decodeErr != nil {
		// Find out which typed handlers the data was meant for: an
		// envelope without data decodes to a zero value of the right type.
		d, _ = (&event.Event{Type: e.Type}).Decode()
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	var r route
	for _, h := range l.byType[e.Type.Canonical()] {
		r = append(r, func(ctx context.Context) error { return h(ctx, e) })
	}
	for _, th := range l.typed {
		if !th.match(d) {
			continue
		}
		if decodeErr != nil {
			return nil, fmt.Errorf("listener: a typed handler cannot take this event: %w", decodeErr)
		}
		r = append(r, func(ctx context.Context) error { return th.call(ctx, e, d) })
	}
	if _, ok := d.(*event.Unknown); ok {
		for _, h := range l.unknown {
			r = append(r, func(ctx context.Context) error { return h(ctx, e) })
		}
	}
	return r, nil
}
