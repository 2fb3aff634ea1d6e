// Package pginbox keeps a listener's inbox, and the job ledger beside it, in
// PostgreSQL tables shared by any number of replicas. A duplicate delivered
// to any replica is recognised (INSERT ... ON CONFLICT DO NOTHING), claims
// take rows with FOR UPDATE SKIP LOCKED and a lease, LISTEN/NOTIFY wakes
// idle workers everywhere, and a dead replica's claims return when their
// leases end. Every message whose Put returned survives a crash.
// [DB.Transactional] commits a handler's writes with its event's ack, for
// effectively-once processing. Give the pool room for the workers plus nine
// connections.
//
//	db, err := pginbox.New(pool, &pginbox.Config{Table: "app.webhook_inbox"})
//	...
//	defer db.Close()
//	err = db.Migrate(ctx)
//	l, err := listener.New(verifier, &listener.Config{Inbox: db, Ledger: db.Ledger})
//	l.On(event.TypeBatchSucceeded, db.Transactional(func(ctx context.Context, tx pgx.Tx, e *event.Event) error {
//		_, err := tx.Exec(ctx, `UPDATE jobs SET done = true WHERE name = $1`, e.JobID)
//		return err
//	}))
package pginbox
