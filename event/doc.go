// Package event turns the body of a Gemini API webhook delivery into typed
// values, and builds such bodies for emulators and tests (Marshal).
//
// Parse reads the envelope (type, version, timestamp, data.id, user
// metadata) without copying the body; Decode or As gives the typed data.
// Unknown event types decode to *Unknown, so new server types never break a
// receiver. Delivery order is not guaranteed and retries repeat events:
// Timestamp is when the event happened, not when it arrived, so compare it
// (and dedupe on the webhook-id) rather than trusting arrival order.
//
//	ev, err := event.Parse(body)
//	if err != nil {
//		return err // not a JSON object with a string "type": permanent
//	}
//	if f, err := event.As[*event.BatchFailed](ev); err == nil {
//		log.Printf("%s failed: %s %s", f.ID, f.ErrorCode, f.ErrorMessage)
//	}
//
// Event.String and Event.LogValue leave user metadata out of logs.
package event
