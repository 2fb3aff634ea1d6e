// Package listener receives Gemini API webhook deliveries. A Listener is
// the http.Handler mounted at the webhook URL: it verifies the signature,
// dedupes on the webhook-id, and stores the event in an inbox before it
// answers 2xx; its workers (Run) then hand each event to the registered
// handlers, retrying failures with backoff and dead-lettering the rest.
//
// Delivery order is not guaranteed, and an event may run more than once:
// compare event.Event.Timestamp rather than trusting arrival order, and make
// handlers idempotent. The default inbox lives in memory and loses queued
// events on a crash; set Config.Inbox to an inbox/boltinbox or
// inbox/pginbox DB when that matters. Serve runs the HTTP server and the
// workers and stops them in the order that loses nothing: HTTP first, then
// the workers. Set Config.Logger to see rejected deliveries and dead
// letters; the default discards everything.
//
//	l, err := listener.New(verifier, &listener.Config{Logger: logger})
//	if err != nil {
//		return err
//	}
//	listener.Handle(l, func(ctx context.Context, e *event.Event, d *event.BatchSucceeded) error {
//		return fetchResults(ctx, d.ID, d.OutputFileURI)
//	})
//	mux := http.NewServeMux()
//	mux.Handle("/gemini/webhook", l)
//	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
//	ln, err := net.Listen("tcp", ":8080")
//	if err != nil {
//		return err
//	}
//	return l.Serve(ctx, srv, ln) // until ctx ends
package listener
