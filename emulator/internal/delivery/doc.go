// Package delivery is the emulator's webhook sender: it POSTs signed events
// the way Gemini does, at least once, and can misbehave on purpose.
//
// Every attempt carries Content-Type application/json, the delivery's
// webhook-id (the same on every retry), a fresh webhook-timestamp and a
// webhook-signature from Delivery.Sign, called per attempt. Any non-2xx, a
// timeout or a dropped connection is retried with exponential backoff and
// jitter (5s doubling to 1h) for 24 hours; Options.TimeScale compresses that
// schedule, and Options.Clock lets tests step through it. Faults (duplicates,
// delay, reordering, failed first attempts, cut connections) are switched on
// with SetFaults; every attempt lands in the log read by Attempts.
//
//	e := delivery.New(delivery.Options{TimeScale: 1e-4, OnOutcome: countFailures})
//	defer e.Close()
//	err := e.Enqueue(delivery.Delivery{ID: "msg_1", URI: url, Body: body, Sign: sign})
//	err = e.Idle(ctx) // every delivery has succeeded or given up
package delivery
