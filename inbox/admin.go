package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/geminihooks/geminihooks/inbox/internal/backend"
)

// Errors from Admin methods.
var (
	// ErrNotFinished reports a Requeue of a message that is pending or
	// claimed: it will run anyway.
	ErrNotFinished = errors.New("inbox: message is not finished")
	// ErrNoBody reports a Requeue of a done message, whose body the inbox
	// no longer keeps, without a body to run it with.
	ErrNoBody = errors.New("inbox: message keeps no body")
	// ErrBadCursor reports a List cursor this inbox did not make.
	ErrBadCursor = backend.ErrBadCursor
)

// Admin is an inbox as a person browses and operates it: a console, a CLI.
// Nothing on the delivery path needs it.
//
// The contract, which inboxtest checks for every implementation:
//   - Get returns the message with the given ID in its current state (a
//     claim whose lease ran out reads as pending), or an error wrapping
//     ErrNotFound.
//   - List returns messages newest (by arrival) first, a page at a time:
//     Page.Next, when not empty, is the cursor of the following page. Pages
//     do not repeat or skip messages stored before the first call.
//   - Count reports how many messages are in each state.
//   - Requeue returns a done or dead message to pending with its attempts
//     reset, keeping its ID and JobKey: the replay of a dead letter once its
//     cause is fixed. A done message keeps no body, so the caller passes
//     the body as received (such as one a console kept); without one it
//     fails with ErrNoBody. A pending or claimed message fails with
//     ErrNotFinished, an unknown one with ErrNotFound, and one the inbox
//     has no room for with ErrFull.
type Admin interface {
	// Get returns the message with the given ID.
	Get(ctx context.Context, id string) (*Message, error)
	// List returns up to limit messages matching f, newest first, from the
	// cursor on ("" for the newest).
	List(ctx context.Context, f Filter, cursor string, limit int) (*Page, error)
	// Count reports the number of messages in each state.
	Count(ctx context.Context) (Counts, error)
	// Requeue returns a done or dead message to pending (see Admin).
	Requeue(ctx context.Context, id string, body []byte) error
}

// Store is an Inbox together with its Admin view over the same storage, as
// every bundled inbox provides: NewMemory returns one, and the DB that
// inbox/boltinbox and inbox/pginbox open embeds one.
type Store interface {
	Inbox
	Admin
}

// MaxPage is the largest page List returns; larger limits are cut to it.
const MaxPage = backend.MaxPage

// Filter selects messages in Admin.List. Empty fields match everything.
type Filter struct {
	State State
	// Type matches the event type in the body, or, for a done message
	// whose body is gone, the type its JobKey names.
	Type string
	// JobID matches the event's data.id, found the same way as Type.
	JobID string
	// ID matches webhook-ids that contain it.
	ID string
}

// Match reports whether m passes f.
func (f Filter) Match(m *Message) bool {
	if f.State != "" && m.State != f.State {
		return false
	}
	if f.ID != "" && !strings.Contains(m.ID, f.ID) {
		return false
	}
	if f.Type == "" && f.JobID == "" {
		return true
	}
	typ, job := Summarize(m)
	return (f.Type == "" || typ == f.Type) && (f.JobID == "" || job == f.JobID)
}

// Page is one page of Admin.List.
type Page struct {
	Messages []*Message
	// Next is the cursor of the next page, "" after the last.
	Next string
}

// Counts is the number of messages in each state.
type Counts struct {
	Pending, Claimed, Done, Dead int
}

// Summarize returns the event type and job ID (data.id) of a stored
// message: from its body when it has one, else from its JobKey (canonical
// type, NUL, job ID). The body is untrusted; what does not decode gives "".
func Summarize(m *Message) (typ, jobID string) {
	if len(m.Body) > 0 {
		var env struct {
			Type json.RawMessage `json:"type"`
			Data struct {
				ID json.RawMessage `json:"id"`
			} `json:"data"`
		}
		if json.Unmarshal(m.Body, &env) == nil {
			return jsonString(env.Type), jsonString(env.Data.ID)
		}
	}
	if t, j, ok := strings.Cut(m.JobKey, "\x00"); ok {
		return t, j
	}
	return "", ""
}

// jsonString is raw as a string when it is a JSON string, "" otherwise, so
// a body with data as an array or an id as a number still summarizes.
func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}
