// Package event turns the body of a Gemini API webhook delivery into typed
// values, and builds such bodies for emulators and tests (Marshal).
//
// Parse reads the envelope without copying the body; Decode or As gives the
// data: a *Batch, *Interaction or *Video, or *Unknown for a type this
// package does not know, so new server types never break a receiver. Types
// and Lookup are the one table of known types (alias, kind of job, how it
// ended); JobKey is the key that dedupes a job's event across webhook-ids.
// Timestamp is when the event happened, not when it arrived: retries repeat
// events and order is not guaranteed.
//
//	ev, err := event.Parse(body)
//	if err != nil {
//		return err // not an event (ErrNotEvent, ErrDuplicateKey): permanent
//	}
//	if b, err := event.As[*event.Batch](ev); err == nil && b.Type == event.TypeBatchFailed {
//		log.Printf("%s failed: %s %s", b.ID, b.ErrorCode, b.ErrorMessage)
//	}
//
// Event.String and Event.LogValue leave user metadata out of logs.
package event
