// Package reconcile makes sure a job launched through the client reaches its
// handler even when its webhook delivery never comes: the endpoint was down
// past the 24-hour retry window, the webhook was disabled, the callback URI
// was wrong, or the event was simply never sent.
//
// The client records each job it launches in a ledger (geminihooks
// WithTracker, with the ledger beside the listener's inbox); the listener
// settles a job when its event is stored. A Reconciler looks at the jobs
// still unsettled once they are due, reads their real state (batches get,
// operations get, interactions get) with backoff while they run and, once
// one has been over for the grace period (15 minutes by default), puts the
// event a delivery would have carried into the inbox, marked Synthesized,
// with the listener's JobKey: whichever of it and a late delivery comes
// second is a duplicate, so the handler runs once. With
// Config.WatchWebhooks it also reports, and with Config.ReviveWebhooks
// revives, registered webhooks the API disabled after failed deliveries.
// Reconcilers sharing a ledger take turns through a lease, so every replica
// of a fleet may run one.
//
// A synthesized event carries what the job's resource says: for a batch
// that succeeded, output_file_uri is the download URI of its responses file,
// and empty when the responses were inlined (read them with Batches.Get);
// a video's file name and id come from its video URI; a failed video has
// no event, and is only settled.
//
//	db, _ := boltinbox.Open("/var/lib/app/inbox.db", nil) // or a pginbox DB
//	client, _ := geminihooks.NewClient(gc, geminihooks.WithTracker(db.Ledger))
//	l, _ := listener.New(verifier, &listener.Config{Inbox: db, Ledger: db.Ledger})
//	rec, _ := reconcile.New(client, db, db.Ledger, &reconcile.Config{ReviveWebhooks: true})
//	g, ctx := errgroup.WithContext(ctx)
//	g.Go(func() error { return l.Serve(ctx, srv, ln) }) // the listener
//	g.Go(func() error { return rec.Run(ctx) })          // beside it
//	err := g.Wait()
package reconcile
