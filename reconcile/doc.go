// Package reconcile makes sure a job launched through the client reaches its
// handler even when its webhook delivery never comes: the endpoint was down
// past the 24-hour retry window, the webhook was disabled, the callback URI
// was wrong, or the event was simply never sent.
//
// The client records each job it launches in a tracker (geminihooks
// Config.Tracker, the listener's inbox, which implements inbox.Tracker);
// the listener settles a job when its event is stored. A Reconciler looks at
// the jobs still unsettled once they are due, reads their real state
// (batches get, operations get, interactions get) with backoff while they
// run and, once one has been over for the grace period (15 minutes by
// default), puts the event a delivery would have carried into the inbox,
// marked Synthesized, with the listener's JobKey: whichever of it and a late
// delivery comes second is a duplicate, so the handler runs once. With
// WithWatchWebhooks it also reports, and on request revives, registered
// webhooks the API disabled after failed deliveries. Reconcilers sharing a
// store take turns through a lease, so every replica of a fleet may run one.
//
// A synthesized event carries what the job's resource says: for a batch
// that succeeded, output_file_uri is the download URI of its responses file,
// and empty when the responses were inlined (read them with Batches.Get);
// a video's file name and id come from its video URI; a failed video has
// no event, and is only settled.
//
//	ib := ... // boltinbox or pginbox: the inbox the listener stores into
//	client, _ := geminihooks.NewClient(gc, &geminihooks.Config{Tracker: ib.(inbox.Tracker)})
//	rec, _ := reconcile.New(client, ib, reconcile.WithWatchWebhooks(true))
//	g, ctx := errgroup.WithContext(ctx)
//	g.Go(func() error { return l.Run(ctx) })   // the listener's workers
//	g.Go(func() error { return rec.Run(ctx) }) // beside them
//	err := g.Wait()
package reconcile
