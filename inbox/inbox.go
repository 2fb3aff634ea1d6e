package inbox

import (
	"context"
	"errors"
	"time"

	"github.com/geminihooks/geminihooks/inbox/internal/backend"
)

// Sentinel errors shared by every Inbox implementation. Implementations wrap
// them with %w so callers can branch with errors.Is.
var (
	// ErrFull reports that the inbox holds as many pending messages as it may.
	// A listener answers 503 with Retry-After, so the sender retries later.
	ErrFull = errors.New("inbox: full")
	// ErrNotFound reports that no message has the given ID.
	ErrNotFound = errors.New("inbox: message not found")
	// ErrLeaseLost reports that the caller's lease on a message expired, or the
	// message was claimed by someone else, acked or dead-lettered since. The
	// caller must not assume its outcome was recorded.
	ErrLeaseLost = errors.New("inbox: lease lost")
	// ErrClosed reports a call on a closed inbox.
	ErrClosed = errors.New("inbox: closed")
	// ErrKeyTooLong reports a Put whose ID or JobKey is longer than
	// MaxKeyBytes. Nothing is stored; a listener answers 400.
	ErrKeyTooLong = backend.ErrKeyTooLong
)

// MaxKeyBytes bounds a Message's ID and JobKey. Every inbox refuses longer
// keys with ErrKeyTooLong, the same way, well within what each store can
// index (PostgreSQL's btree entries end near 2.7 KB, bbolt's keys at
// 32 KiB). A webhook-id is a few dozen bytes.
const MaxKeyBytes = backend.MaxKeyBytes

// State is where a message stands in its life cycle.
type State string

// The states of a message.
const (
	StatePending State = "pending" // waiting to be claimed, possibly after a retry time
	StateClaimed State = "claimed" // leased to a worker
	StateDone    State = "done"    // handled; kept only as a dedupe record until pruned
	StateDead    State = "dead"    // dead-lettered; kept until replayed or pruned
)

// Message is one stored delivery. The caller fills the fields up to
// ReceivedAt for Put; the inbox owns the rest.
type Message struct {
	// ID is the delivery's webhook-id: the primary dedupe key. Required.
	ID string
	// JobKey, when not empty, is a second unique key, such as the event type
	// and job ID. A Put whose JobKey matches any stored message is a
	// duplicate, whatever its ID. It lets a synthesized event and a late real
	// delivery of the same job dedupe against each other.
	JobKey string
	// Body is the raw event body, byte for byte as received.
	Body []byte
	// Scheme names the signature scheme that verified the delivery
	// ("v1", "v1a", "jwt"), or "" when not known.
	Scheme string
	// Synthesized marks an event made by a reconciler rather than delivered.
	Synthesized bool
	// ReceivedAt is when the delivery was accepted.
	ReceivedAt time.Time

	// State is the message's state when it was read.
	State State
	// Attempts counts how many times the message has been claimed.
	Attempts int
	// NotBefore is the earliest time the message may be claimed again.
	NotBefore time.Time
	// LastError is the reason given with the last Retry or DeadLetter.
	LastError string
	// Lease identifies the current claim. Ack, Retry and DeadLetter must pass
	// it back; it is empty outside a claim.
	Lease string
	// LeaseUntil is when the current claim expires.
	LeaseUntil time.Time
	// FinishedAt is when the message was acked or dead-lettered.
	FinishedAt time.Time
}

// Inbox is the queue: durable-enough storage between an HTTP
// acknowledgement and a handler run, as a listener's workers use it.
// Implementations are safe for concurrent use.
//
// The contract, which inboxtest checks for every implementation:
//   - Put stores a message atomically unless its ID (or non-empty JobKey) is
//     already present, and reports which happened. An ID or JobKey over
//     MaxKeyBytes fails with ErrKeyTooLong and never affects another Put.
//     The stored row is the dedupe record: there is never a "seen" mark
//     without the message.
//   - Claim leases up to n pending messages whose NotBefore has passed, oldest
//     first. A lease that expires returns its message to pending, so the
//     messages of a crashed worker come back.
//   - Ack, Retry and DeadLetter end a claim. With a lease that is no longer
//     current they return ErrLeaseLost and change nothing. Ack is idempotent:
//     acking a done message with the lease that completed it returns nil, so
//     a store-specific helper may ack inside the handler's own transaction.
//   - Done and dead messages keep their keys, so they still dedupe, until
//     Prune removes them.
//   - Notify's channel receives a value, without blocking the sender, after
//     a message becomes claimable, including one stored by another process
//     when the store can tell. Workers still poll, so a missed signal only
//     delays work; an inbox that never signals returns nil.
type Inbox interface {
	// Put stores m unless a message with the same ID or JobKey exists.
	// It returns true when m was stored and false for a duplicate. When the
	// inbox is at capacity it returns an error wrapping ErrFull.
	Put(ctx context.Context, m *Message) (stored bool, err error)
	// Claim leases up to n claimable messages for the lease duration.
	// It returns an empty slice, not an error, when there are none.
	Claim(ctx context.Context, n int, lease time.Duration) ([]*Message, error)
	// Ack marks a claimed message done.
	Ack(ctx context.Context, id, lease string) error
	// Retry returns a claimed message to pending, claimable from at on.
	Retry(ctx context.Context, id, lease string, at time.Time, reason string) error
	// DeadLetter moves a claimed message to the dead letters with a reason.
	DeadLetter(ctx context.Context, id, lease, reason string) error
	// Prune deletes done and dead messages that finished before the cutoff
	// and reports how many it deleted. Pending and claimed messages stay.
	Prune(ctx context.Context, before time.Time) (int, error)
	// Depth reports how many messages are pending or claimed.
	Depth(ctx context.Context) (int, error)
	// Notify returns the channel that wakes idle workers (see Inbox).
	Notify() <-chan struct{}
	// Close releases the inbox's resources.
	Close() error
}

type claimKey struct{}

// WithClaim returns a context that carries the claimed message being handled.
// A listener sets it before it runs a handler, so that store-specific helpers
// (such as a transactional ack) can find the message and its lease.
func WithClaim(ctx context.Context, m *Message) context.Context {
	return context.WithValue(ctx, claimKey{}, m)
}

// ClaimFrom returns the claimed message carried by ctx, if any.
func ClaimFrom(ctx context.Context) (*Message, bool) {
	m, ok := ctx.Value(claimKey{}).(*Message)
	return m, ok && m != nil
}
