// Package reconcile makes sure a launched job reaches its handler even when
// its webhook delivery never comes (an endpoint down past Gemini's 24-hour
// retries, a disabled webhook, a wrong callback URI). The client records
// each job in a ledger, the listener settles it when a worker claims its event,
// and a Reconciler reads the real state of the jobs left unsettled and,
// once one has been over for the grace period, puts the event a delivery
// would have carried into the inbox, under the key a late delivery dedupes
// against, so the handler runs once. It can also revive webhooks the API
// disabled. Reconcilers sharing a ledger take turns through its lease.
//
//	db, _ := boltinbox.Open("/var/lib/app/inbox.db", nil) // or a pginbox DB
//	client, _ := geminihooks.NewClient(gc, &geminihooks.Config{Ledger: db.Ledger})
//	l, _ := listener.New(verifier, &listener.Config{Inbox: db, Ledger: db.Ledger})
//	rec, _ := reconcile.New(client, db, db.Ledger, &reconcile.Config{ReviveWebhooks: true})
//	g, ctx := errgroup.WithContext(ctx)
//	g.Go(func() error { return l.Serve(ctx, srv, ln) })
//	g.Go(func() error { return rec.Run(ctx) })
//	err := g.Wait()
package reconcile
