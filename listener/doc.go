// Package listener receives Gemini API webhook deliveries. A Listener is the
// http.Handler at the webhook URL: it verifies the signature, dedupes on the
// webhook-id and stores the event in an inbox before it answers 2xx; its
// workers then hand each event to the handlers, retrying failures with
// backoff and dead-lettering the rest. Handlers may run more than once and
// in any order, so make them idempotent. The default inbox lives in memory;
// set Config.Inbox to a boltinbox or pginbox DB to keep events across
// crashes. Serve runs the server and the workers, and stops them in the
// order that loses nothing.
//
//	l, err := listener.New(verifier, &listener.Config{Logger: logger})
//	...
//	listener.Handle(l, func(ctx context.Context, e *event.Event, d *event.Batch) error {
//		return fetchResults(ctx, d.ID, d.OutputFileURI)
//	})
//	srv := &http.Server{Handler: l, ReadHeaderTimeout: 5 * time.Second}
//	ln, err := net.Listen("tcp", ":8080")
//	...
//	return l.Serve(ctx, srv, ln) // until ctx ends
package listener
