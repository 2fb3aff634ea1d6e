// Package pginbox keeps a listener's inbox, and the job ledger beside it, in
// PostgreSQL tables shared by any number of listener replicas behind a load
// balancer.
//
// Put is an INSERT ... ON CONFLICT DO NOTHING on the webhook-id and job key,
// so a duplicate delivered to any replica is recognised; concurrent Puts,
// Claims, Acks and Settles each share one statement and commit. Claims take
// rows with FOR UPDATE SKIP LOCKED and a lease column, and LISTEN/NOTIFY
// wakes idle workers in every replica. What survives a crash of a replica or
// of the server: every message whose Put returned, with its state. A dead
// replica's claims are taken over by the others when their leases end (the
// listener's HandlerTimeout plus LeaseMargin, 1m30s by default).
// [DB.Transactional] runs a handler in the transaction that also acks its
// event, for effectively-once processing. Give the pool room for the
// listener's workers (transactional handlers hold one each) plus nine
// connections (the shared statements and notifications).
//
//	db, err := pginbox.New(pool, &pginbox.Config{Table: "app.webhook_inbox"})
//	...
//	defer db.Close()
//	if err := db.Migrate(ctx); err != nil {
//		return err
//	}
//	l, err := listener.New(verifier, &listener.Config{Inbox: db, Ledger: db.Ledger})
//	l.On(event.TypeBatchSucceeded, db.Transactional(func(ctx context.Context, tx pgx.Tx, e *event.Event) error {
//		_, err := tx.Exec(ctx, `UPDATE jobs SET done = true WHERE name = $1`, e.JobID)
//		return err
//	}))
package pginbox
