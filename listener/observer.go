package listener

import (
	"errors"
	"net/http"
	"time"

	"github.com/geminihooks/geminihooks/event"
	"github.com/geminihooks/geminihooks/inbox"
	"github.com/geminihooks/geminihooks/signing"
)

// Observer is told about every request the Listener answers and every
// handler run its workers finish, for metrics and consoles (set it as
// Config.Observer). Calls come from the request path and the workers,
// concurrently; they must be quick and must not block, since the sender
// waits for its answer meanwhile. A Listener without an Observer (the
// default) pays nothing for the hook.
type Observer interface {
	// Delivered reports one answered request. Its Header and Body are
	// valid only during the call: copy what is kept. (Values, not
	// pointers, so that reporting allocates nothing.)
	Delivered(d Delivery)
	// Ran reports one handler run, or an event acked with no handler.
	Ran(r Run)
}

// Observers fans each call out to every Observer in order.
type Observers []Observer

// Delivered implements Observer.
func (os Observers) Delivered(d Delivery) {
	for _, o := range os {
		o.Delivered(d)
	}
}

// Ran implements Observer.
func (os Observers) Ran(r Run) {
	for _, o := range os {
		o.Ran(r)
	}
}

// Outcome is how a request was answered, and why: OutcomeStored (202),
// OutcomeDuplicate (200: webhook-id or job key already stored), or, for a
// refused request, one of these reasons, distinct so that a console or a
// metric can say why a delivery failed, not only that it did:
//
//	"bad_signature"       401: no signature matched, or a malformed header
//	"stale_timestamp"     401: webhook-timestamp outside the tolerance
//	"unknown_kid"         401: a JWT names a key the key set does not hold
//	"keys_unavailable"    503: no JWKS could be had
//	"too_large"           413
//	"read_timeout"        408
//	"method_not_allowed"  405
//	"bad_request"         400: verified, but not an event or no webhook-id
//	"inbox_full"          503 with Retry-After
//	"store_failed"        503: the inbox failed or timed out
type Outcome string

// The outcomes of a request that was not refused.
const (
	OutcomeStored    Outcome = "stored"
	OutcomeDuplicate Outcome = "duplicate"
)

// The reasons a request was refused (see Outcome).
const (
	outcomeBadSignature     Outcome = "bad_signature"
	outcomeStaleTimestamp   Outcome = "stale_timestamp"
	outcomeUnknownKey       Outcome = "unknown_kid"
	outcomeKeysUnavailable  Outcome = "keys_unavailable"
	outcomeTooLarge         Outcome = "too_large"
	outcomeReadTimeout      Outcome = "read_timeout"
	outcomeMethodNotAllowed Outcome = "method_not_allowed"
	outcomeBadRequest       Outcome = "bad_request"
	outcomeFull             Outcome = "inbox_full"
	outcomeStoreFailed      Outcome = "store_failed"
)

// Delivery is one answered request.
type Delivery struct {
	// Start is when the listener began reading the request.
	Start time.Time
	// Latency is from Start to the answer being written (the ack latency).
	Latency time.Duration
	// Status is the HTTP status answered.
	Status int
	// Outcome is how it was answered; any but OutcomeStored and
	// OutcomeDuplicate is a refusal.
	Outcome Outcome
	// Err is why a request was refused, nil otherwise. It never holds a
	// secret or a signature.
	Err error
	// WebhookID is the webhook-id header as sent; for a rejected request it
	// is unverified.
	WebhookID string
	// Scheme, Type and JobID are set once the delivery verified and parsed.
	Scheme signing.Scheme
	Type   event.Type
	JobID  string
	// Header is the request's header; Body is the raw body, nil when it was
	// not read or not verified.
	Header http.Header
	Body   []byte
}

// RunOutcome is what became of an event after a handler run.
type RunOutcome string

// The outcomes of a run.
const (
	RunAcked       RunOutcome = "acked"       // every handler returned nil
	RunUnhandled   RunOutcome = "unhandled"   // acked with no handler registered
	RunRetry       RunOutcome = "retry"       // failed; scheduled again
	RunDead        RunOutcome = "dead"        // dead-lettered
	RunInterrupted RunOutcome = "interrupted" // shutdown cut it short; handed back
	RunLost        RunOutcome = "lost"        // the outcome could not be recorded in the inbox
)

// Run is one handler run of a stored event.
type Run struct {
	WebhookID   string
	Type        event.Type
	JobID       string
	Attempt     int
	Synthesized bool
	Start       time.Time
	Duration    time.Duration
	Outcome     RunOutcome
	// Err is what the handlers returned (or why the event could not be
	// handled), nil for an ack.
	Err error
}

// outcomeOf classifies a rejection error as reject answers it.
func outcomeOf(err error) Outcome {
	switch {
	case errors.Is(err, errMethodNotAllowed):
		return outcomeMethodNotAllowed
	case errors.Is(err, errBodyTooLarge):
		return outcomeTooLarge
	case errors.Is(err, errReadTimeout):
		return outcomeReadTimeout
	case errors.Is(err, signing.ErrKeySetUnavailable):
		return outcomeKeysUnavailable
	case errors.Is(err, signing.ErrStaleTimestamp):
		return outcomeStaleTimestamp
	case errors.Is(err, signing.ErrUnknownKey):
		return outcomeUnknownKey
	case errors.Is(err, errUnverified):
		return outcomeBadSignature
	}
	return outcomeBadRequest
}

// canonicalHeaderID is the webhook-id header's key in an http.Header:
// Header.Get would canonicalise the lower-case name, allocating, on every
// request.
var canonicalHeaderID = http.CanonicalHeaderKey(signing.HeaderID)

func firstValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// observeStart returns the time a request began, when someone observes.
func (l *Listener) observeStart() time.Time {
	if l.observer == nil {
		return time.Time{}
	}
	return time.Now()
}

// observeRequest reports an answered request, if someone observes. d is
// nil for a request that did not verify and parse.
func (l *Listener) observeRequest(start time.Time, r *http.Request, d *delivery, status int, o Outcome, err error) {
	if l.observer == nil {
		return
	}
	rec := Delivery{
		Start:     start,
		Latency:   time.Since(start),
		Status:    status,
		Outcome:   o,
		Err:       err,
		WebhookID: firstValue(r.Header[canonicalHeaderID]),
		Header:    r.Header,
	}
	if d != nil {
		rec.Scheme, rec.Type, rec.JobID, rec.Body = d.scheme, d.ev.Type, d.ev.JobID, d.body
	}
	l.observer.Delivered(rec)
}

// observeRun reports a finished run, if someone observes.
func (l *Listener) observeRun(start time.Time, m *inbox.Message, ev *event.Event, o RunOutcome, err error) {
	if l.observer == nil {
		return
	}
	r := Run{
		WebhookID:   m.ID,
		Attempt:     m.Attempts,
		Synthesized: m.Synthesized,
		Start:       start,
		Duration:    time.Since(start),
		Outcome:     o,
		Err:         err,
	}
	if ev != nil {
		r.Type, r.JobID = ev.Type, ev.JobID
	}
	l.observer.Ran(r)
}
