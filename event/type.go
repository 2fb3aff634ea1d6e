package event

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
	// official samples subscribe to and handle it. It decodes to
	// *BatchSucceeded, and its Canonical type is TypeBatchSucceeded.
	TypeBatchCompleted Type = "batch.completed"
)

// KnownTypes returns every Type this package decodes to a typed struct, the
// alias TypeBatchCompleted included, in a stable order.
func KnownTypes() []Type {
	return []Type{
		TypeBatchSucceeded, TypeBatchExpired, TypeBatchFailed,
		TypeInteractionRequiresAction, TypeInteractionCompleted, TypeInteractionFailed,
		TypeVideoGenerated, TypeBatchCancelled, TypeInteractionCancelled, TypeBatchCompleted,
	}
}

// Known reports whether t is one of the constants above.
func (t Type) Known() bool {
	switch t {
	case TypeBatchSucceeded, TypeBatchExpired, TypeBatchFailed,
		TypeInteractionRequiresAction, TypeInteractionCompleted, TypeInteractionFailed,
		TypeVideoGenerated, TypeBatchCancelled, TypeInteractionCancelled, TypeBatchCompleted:
		return true
	}
	return false
}

// Canonical maps the alias TypeBatchCompleted to TypeBatchSucceeded and
// returns every other type unchanged. Compare canonical types when routing,
// so a handler for batch.succeeded also sees batch.completed.
func (t Type) Canonical() Type {
	if t == TypeBatchCompleted {
		return TypeBatchSucceeded
	}
	return t
}

// Succeeded reports whether t announces a job that finished with a result:
// batch.succeeded (and batch.completed), interaction.completed and
// video.generated.
func (t Type) Succeeded() bool {
	switch t.Canonical() {
	case TypeBatchSucceeded, TypeInteractionCompleted, TypeVideoGenerated:
		return true
	}
	return false
}

// Failed reports whether t announces a job that ended without a result for
// a reason other than cancellation: batch.failed, interaction.failed and
// batch.expired (a batch not processed in time produced no output).
func (t Type) Failed() bool {
	switch t {
	case TypeBatchFailed, TypeInteractionFailed, TypeBatchExpired:
		return true
	}
	return false
}

// Cancelled reports whether t announces a cancelled job.
func (t Type) Cancelled() bool {
	return t == TypeBatchCancelled || t == TypeInteractionCancelled
}

// IsTerminal reports whether t announces the end of a job: exactly one of
// Succeeded, Failed and Cancelled holds. interaction.requires_action is not
// terminal (the interaction waits for the caller), and neither is any
// unknown type, since nothing is known about it.
func (t Type) IsTerminal() bool {
	return t.Succeeded() || t.Failed() || t.Cancelled()
}
