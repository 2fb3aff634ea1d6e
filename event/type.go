package event

import "iter"

// Type is an event's "type" field, such as "batch.succeeded". Any string is
// a valid Type: types this package does not know decode to *Unknown.
type Type string

// The event types Gemini documents. The first seven are the values of the
// SDKs' subscribed-event enum; the cancelled types are still listed by the
// docs and may be emitted.
const (
	TypeBatchSucceeded            Type = "batch.succeeded"
	TypeBatchExpired              Type = "batch.expired"
	TypeBatchFailed               Type = "batch.failed"
	TypeInteractionRequiresAction Type = "interaction.requires_action"
	TypeInteractionCompleted      Type = "interaction.completed"
	TypeInteractionFailed         Type = "interaction.failed"
	TypeVideoGenerated            Type = "video.generated"

	TypeBatchCancelled       Type = "batch.cancelled"
	TypeInteractionCancelled Type = "interaction.cancelled"

	// TypeBatchCompleted is a legacy alias of TypeBatchSucceeded: early
	// official samples subscribe to and handle it. It decodes to *Batch,
	// and its Canonical type is TypeBatchSucceeded.
	TypeBatchCompleted Type = "batch.completed"
)

// TypeInfo is what this package knows about one event type: a row of the
// table that Types lists and Lookup reads. Every list of event types in
// this module (what a webhook may subscribe to, what a launched job may end
// with, the labels of a metric) is drawn from that table.
type TypeInfo struct {
	// Type is the type as sent, such as "batch.completed".
	Type Type
	// Canonical is the type Type is an alias of (batch.succeeded for
	// batch.completed), or Type itself. Compare canonical types when
	// routing, so a handler for batch.succeeded also sees batch.completed.
	Canonical Type
	// Job is the kind of job the event is about, whose name data.id
	// holds: "batch", "video" or "interaction". An interaction that
	// generates a video also ends with video.generated, about that
	// interaction.
	Job string
	// Succeeded reports a job that finished with a result:
	// batch.succeeded (and batch.completed), interaction.completed and
	// video.generated.
	Succeeded bool
	// Failed reports a job that ended without a result for a reason other
	// than cancellation: batch.failed, interaction.failed and
	// batch.expired (a batch not processed in time produced no output).
	Failed bool
	// Cancelled reports a cancelled job.
	Cancelled bool
	// Terminal reports the end of a job: exactly one of Succeeded, Failed
	// and Cancelled holds. interaction.requires_action is not terminal:
	// the interaction waits for the caller.
	Terminal bool
}

// table is the one list of known types, in the order Types gives them.
var table = [...]TypeInfo{
	{Type: TypeBatchSucceeded, Canonical: TypeBatchSucceeded, Job: "batch", Succeeded: true, Terminal: true},
	{Type: TypeBatchExpired, Canonical: TypeBatchExpired, Job: "batch", Failed: true, Terminal: true},
	{Type: TypeBatchFailed, Canonical: TypeBatchFailed, Job: "batch", Failed: true, Terminal: true},
	{Type: TypeInteractionRequiresAction, Canonical: TypeInteractionRequiresAction, Job: "interaction"},
	{Type: TypeInteractionCompleted, Canonical: TypeInteractionCompleted, Job: "interaction", Succeeded: true, Terminal: true},
	{Type: TypeInteractionFailed, Canonical: TypeInteractionFailed, Job: "interaction", Failed: true, Terminal: true},
	{Type: TypeVideoGenerated, Canonical: TypeVideoGenerated, Job: "video", Succeeded: true, Terminal: true},
	{Type: TypeBatchCancelled, Canonical: TypeBatchCancelled, Job: "batch", Cancelled: true, Terminal: true},
	{Type: TypeInteractionCancelled, Canonical: TypeInteractionCancelled, Job: "interaction", Cancelled: true, Terminal: true},
	{Type: TypeBatchCompleted, Canonical: TypeBatchSucceeded, Job: "batch", Succeeded: true, Terminal: true},
}

// Types yields every type this package decodes to a typed struct, the
// alias TypeBatchCompleted included, in a stable order: the SDKs' enum,
// the cancelled types, then the alias. Skip the rows whose Canonical is
// not their Type to list each event once.
func Types() iter.Seq[TypeInfo] {
	return func(yield func(TypeInfo) bool) {
		for _, ti := range table {
			if !yield(ti) {
				return
			}
		}
	}
}

// Lookup returns what is known about t, and false when t is not a known
// type (nothing is known about it: it is not terminal, and it is its own
// canonical type).
func Lookup(t Type) (TypeInfo, bool) {
	if i := index(string(t)); i >= 0 {
		return table[i], true
	}
	return TypeInfo{Type: t, Canonical: t}, false
}

// index returns t's row in table, or -1. It takes a string so that Parse
// can look up a sub-slice of the body without allocating.
func index(t string) int {
	for i := range table {
		if string(table[i].Type) == t {
			return i
		}
	}
	return -1
}

// Canonical maps the alias TypeBatchCompleted to TypeBatchSucceeded and
// returns every other type unchanged; see TypeInfo.Canonical.
func (t Type) Canonical() Type {
	if i := index(string(t)); i >= 0 {
		return table[i].Canonical
	}
	return t
}
