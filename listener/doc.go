// Package listener receives Gemini API webhook deliveries. A Listener is
// the http.Handler mounted at the webhook URL: it verifies the signature,
// dedupes on the webhook-id, and stores the event in an inbox before it
// answers 2xx; Run's workers then hand each event to the registered
// handlers, retrying failures with backoff and dead-lettering the rest.
//
// Delivery order is not guaranteed, and an event may run more than once:
// compare event.Event.Timestamp rather than trusting arrival order, and make
// handlers idempotent. The default inbox lives in memory and loses queued
// events on a crash; pass inbox/boltinbox or inbox/pginbox to WithInbox
// when that matters.
//
// To stop, shut the HTTP server down first (http.Server.Shutdown), then
// cancel Run's context and wait for Run to return. ServeHTTP answers 2xx
// whether or not Run is running, so a delivery accepted after the workers
// stop waits in the inbox for the next Run; with the in-memory inbox it is
// lost when the process exits, though Gemini was told it arrived.
//
// Pass WithLogger to see rejected deliveries (401 for a bad signature, at
// warn level) and dead-lettered events (at error level); the default
// logger discards everything. Serve with an http.Server that sets
// ReadHeaderTimeout, so slow clients cannot hold connections open:
//
//	l := listener.New(verifier, listener.WithLogger(logger))
//	listener.Handle(l, func(ctx context.Context, e *event.Event, d *event.Batch) error {
//		return fetchResults(ctx, d.ID, d.OutputFileURI)
//	})
//	go func() {
//		if err := l.Run(ctx); err != nil {
//			logger.Error("listener stopped", "error", err)
//		}
//	}()
//	mux := http.NewServeMux()
//	mux.Handle("/gemini/webhook", l)
//	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
//	return srv.ListenAndServe()
package listener
