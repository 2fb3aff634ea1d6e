// Package pginbox is an [inbox.Inbox] in a PostgreSQL table, shared by any
// number of listener replicas behind a load balancer.
//
// Put is an INSERT ... ON CONFLICT DO NOTHING on the webhook-id and job key,
// so a duplicate delivered to any replica is recognised. Concurrent Puts,
// Claims, Acks and Settles each share one statement and commit, and every
// caller still gets its own answer. Claims take rows with FOR UPDATE SKIP
// LOCKED and a lease column. LISTEN/NOTIFY wakes idle workers in every
// replica (see [Inbox.Notify]); workers still poll. What survives a crash of
// a replica or of the server: every message whose Put returned, with its
// state. A dead replica's claims are taken over by the other replicas when
// their leases end: the listener's lease is its handler timeout plus its
// lease margin, 1m30s by default (listener.WithHandlerTimeout,
// listener.WithLeaseMargin); shorten them to take over sooner.
// [Inbox.Transactional] runs a handler in the transaction that also acks its
// event, for effectively-once processing. The Inbox also implements
// [inbox.Tracker], in two more tables. Give the pool room for the
// listener's workers (transactional handlers hold one each) plus nine
// connections (the shared statements and notifications).
//
//	ib, err := pginbox.New(pool, pginbox.WithTable("app.webhook_inbox"))
//	if err != nil {
//		return err
//	}
//	defer ib.Close()
//	if err := ib.Migrate(ctx); err != nil {
//		return err
//	}
//	l := listener.New(verifier, listener.WithInbox(ib))
//	l.On(event.TypeBatchSucceeded, ib.Transactional(func(ctx context.Context, tx pgx.Tx, e *event.Event) error {
//		_, err := tx.Exec(ctx, `UPDATE jobs SET done = true WHERE name = $1`, e.JobID)
//		return err
//	}))
package pginbox
