// Package delivery is the emulator's webhook sender: it POSTs signed events
// the way Gemini does, at least once, and can misbehave on purpose.
//
// New(Options) starts an Engine; Enqueue(Delivery) queues one event for one
// endpoint and returns at once. Every attempt carries Content-Type
// application/json, the delivery's webhook-id (the same on every retry), a
// fresh webhook-timestamp, and the webhook-signature that Delivery.Sign
// returns for that attempt, so a secret rotated between attempts is
// honoured. The body is sent byte for byte.
//
// A non-2xx answer (redirects are not followed), a timeout or a dropped
// connection is retried after a delay that starts at 5s, doubles up to 1h
// and strays ±20% (seeded by Options.Rand), until no retry fits the 24h
// window; the last attempt is then logged with GaveUp. Options.TimeScale
// compresses that schedule (1e-4 makes the window 8.6s), and Options.Clock
// lets tests step through it. OnOutcome reports each attempt of a static
// webhook's delivery, for consecutive-failure counting, and CancelWebhook
// drops a disabled webhook's pending deliveries. Options.Workers bounds the
// attempts in flight.
//
// SetFaults injects duplicates, delay, reordering, synthetic 503s (the first
// N attempts of every delivery, or a one-shot budget of the next N attempts
// overall) and cut connections at any time. Attempts returns the attempt log, which marshals to
// the JSON served at GET /emulator/v1/deliveries. Idle waits until nothing is
// queued, scheduled or in flight; Close stops everything.
//
//	e := delivery.New(delivery.Options{TimeScale: 1e-4, OnOutcome: countFailures})
//	defer e.Close()
//	err := e.Enqueue(delivery.Delivery{ID: "msg_1", URI: url, Body: body, Sign: sign})
//	err = e.Idle(ctx) // every delivery has succeeded or given up
package delivery
