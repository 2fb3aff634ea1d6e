package ledger

import (
	"context"
	"errors"
	"time"
)

// Kind is the sort of job a [Job] is, which decides how a reconciler asks
// for its state.
type Kind string

// The kinds of jobs.
const (
	KindBatch       Kind = "batch"       // batches/ID, read with batches get
	KindVideo       Kind = "video"       // models/M/operations/ID, read with operations get
	KindInteraction Kind = "interaction" // an interaction id, read with interactions get
	// KindPing is a ping a reconciler asked the API to send to a registered
	// webhook: Name is the webhook's id, and the listener settles it when
	// the ping arrives, which proves the endpoint answers.
	KindPing Kind = "ping"
)

var (
	// ErrNotFound reports that no job has the given name.
	ErrNotFound = errors.New("ledger: job not found")
	// ErrLeaseHeld reports that another owner holds the lease.
	ErrLeaseHeld = errors.New("ledger: lease held by another owner")
)

// Job is a launched job whose completion event is expected. A client
// records it when it launches the job; the listener settles it when an
// event for the job is stored; a reconciler looks after the ones that stay
// unsettled.
type Job struct {
	// Name is the job's id as its events carry it in data.id: "batches/ID",
	// "models/M/operations/ID" or the interaction id. Required.
	Name string
	// Kind says how to read the job's state. Required.
	Kind Kind
	// Events are the event types expected for the job, for logs and stats.
	Events []string
	// UserMetadata is the JSON object of the job's callback user_metadata,
	// or nil; a synthesized event carries it as a delivery would.
	UserMetadata []byte
	// LaunchedAt is when the job was launched (or the ping requested).
	LaunchedAt time.Time
	// NextCheck is the earliest time a reconciler should look at the job.
	NextCheck time.Time
	// EndedAt is when the job was first seen finished, zero before.
	EndedAt time.Time
	// Checks counts how many times a reconciler has looked at the job.
	Checks int
	// Settled is set once an event for the job is in the inbox.
	Settled bool
	// SettledAt is when the job was settled.
	SettledAt time.Time
}

// Ledger keeps launched jobs and the reconciler's lease. Implementations
// are safe for concurrent use. Times are passed in by the caller: a ledger
// reads no clock of its own.
//
// The contract, which ledgertest.Run checks for every implementation:
//   - Track stores j, replacing any job of the same name (with its Settled
//     flag and Checks), so a name tracked again starts over. A job without
//     a name is refused.
//   - Settle marks the named job settled at the given time. Settling an
//     unknown or already settled job is not an error and changes nothing:
//     the listener settles every job id it sees, tracked or not.
//   - Due lists up to limit unsettled jobs whose NextCheck is at or before
//     now, earliest NextCheck first.
//   - Reschedule sets an unsettled job's NextCheck and EndedAt and adds one
//     to Checks; for a settled job it changes nothing.
//   - Job returns the named job, or an error wrapping ErrNotFound.
//   - Prune deletes jobs settled before the cutoff and reports how many;
//     unsettled jobs stay.
//   - AcquireLease gives the named lease to owner until now + ttl when it
//     is free, expired, or already owner's (a renewal); otherwise it returns
//     an error wrapping ErrLeaseHeld. ReleaseLease frees it if owner holds
//     it.
//   - Jobs passed in and returned are copies: the ledger keeps no reference
//     to them. A canceled context fails a call and changes nothing.
type Ledger interface {
	Track(ctx context.Context, j *Job) error
	Settle(ctx context.Context, name string, at time.Time) error
	Due(ctx context.Context, now time.Time, limit int) ([]*Job, error)
	Reschedule(ctx context.Context, name string, next, endedAt time.Time) error
	Job(ctx context.Context, name string) (*Job, error)
	Prune(ctx context.Context, before time.Time) (int, error)
	AcquireLease(ctx context.Context, lease, owner string, now time.Time, ttl time.Duration) error
	ReleaseLease(ctx context.Context, lease, owner string) error
}

// clone returns a deep copy of j.
func clone(j *Job) *Job {
	c := *j
	c.Events = append([]string(nil), j.Events...)
	c.UserMetadata = append([]byte(nil), j.UserMetadata...)
	return &c
}
